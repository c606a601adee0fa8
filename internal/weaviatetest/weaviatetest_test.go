package weaviatetest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

func nodes(t *testing.T, addr string) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1/nodes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Nodes []struct{ Name, Status string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range body.Nodes {
		out[n.Name] = n.Status
	}
	return out
}

// Three nodes on loopback form one cluster; a killed node comes back on
// its ports and data.
func TestCluster(t *testing.T) {
	c := Shared(t)
	if !strings.HasPrefix(c.URL(), "weaviate://"+c.host+":") || strings.Count(c.URL(), ",") != 2 {
		t.Fatalf("URL %s", c.URL())
	}
	if c.netns != nil {
		// The nodes are in their own network namespace: nothing of theirs
		// listens on this one's loopback.
		for _, n := range c.Nodes {
			if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.HTTPPort)), time.Second); err == nil {
				conn.Close()
				t.Fatalf("%s answers on this namespace's loopback", n.Name)
			}
		}
		t.Logf("nodes in network namespace %s at %s", c.netns.name, c.host)
	}
	got := nodes(t, c.Nodes[0].Addr())
	if len(got) != 3 || got["node0"] != "HEALTHY" || got["node1"] != "HEALTHY" || got["node2"] != "HEALTHY" {
		t.Fatalf("nodes %v", got)
	}
	if err := c.Kill(1); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + c.Nodes[1].Addr() + "/v1/nodes"); err == nil {
		t.Fatal("a killed node answers")
	}
	if err := c.Restart(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if got := nodes(t, c.Nodes[1].Addr()); len(got) != 3 {
		t.Fatalf("after the restart: %v", got)
	}
}

func TestFreePorts(t *testing.T) {
	ps, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ps {
		for _, port := range []int{p.http, p.grpc, p.gossip, p.gossip + 1, p.raft, p.raft + 1} {
			if seen[port] {
				t.Fatalf("port %d given twice: %+v", port, ps)
			}
			seen[port] = true
		}
	}
}
