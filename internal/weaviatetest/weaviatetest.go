// Package weaviatetest runs a private Weaviate cluster for tests: three
// weaviate-server processes (as root in a network namespace of their own,
// reachable from this host alone; else on loopback), each with its own
// ports and data path, joined into one cluster (memberlist gossip and
// Raft, bootstrap expecting three: a two-node cluster goes unready when
// one node stops). `make weaviate` builds the server once, with `go
// install` at Version, into CacheDir, outside the repository. Nodes die
// with the process that started them.
package weaviatetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the Weaviate release the tests run.
const Version = "v1.35.2"

// ErrNoBinary means the server binary is not built; `make weaviate`
// builds it.
var ErrNoBinary = errors.New("weaviate-server " + Version + " is not built (run `make weaviate`)")

// CacheDir is where the binary is kept: $DUET_WEAVIATE_DIR, else
// weaviate-VERSION under the user's cache directory's duet folder.
func CacheDir() string {
	if d := os.Getenv("DUET_WEAVIATE_DIR"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "duet", "weaviate-"+Version)
}

// Binary returns the path of the server `make weaviate` built, or
// ErrNoBinary.
func Binary() (string, error) {
	bin := filepath.Join(CacheDir(), "weaviate-server")
	if _, err := os.Stat(bin); err != nil {
		return "", ErrNoBinary
	}
	return bin, nil
}

// Node is one server of a Cluster.
type Node struct {
	Name     string
	host     string
	HTTPPort int
	env      []string
	dir      string
	log      *os.File
	cmd      *exec.Cmd
	done     chan error
}

// Addr is the node's REST address.
func (n *Node) Addr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.HTTPPort)) }

// Cluster is a running three-node Weaviate cluster.
type Cluster struct {
	bin   string
	dir   string
	host  string   // the address every node listens on
	netns *privNet // the nodes' network namespace, when they have one
	Nodes []*Node
}

// Start starts a three-node cluster in a new temporary directory and
// waits until every node is ready and sees the others.
func Start(ctx context.Context, bin string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "duet-weaviate-*")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, host: "127.0.0.1"}
	// Weaviate binds its gRPC and cluster-data ports on every interface
	// (no setting changes that): run the nodes, where this process may, in
	// a network namespace of their own, joined to this host alone by a
	// veth pair, so that nothing they open is reachable from elsewhere.
	if nn, err := newPrivNet(); err == nil {
		c.netns, c.host = nn, nn.addr
	}
	const n = 3
	ports, err := freePorts(n)
	if err != nil {
		c.Stop()
		return nil, err
	}
	var raftJoin []string
	for i := range n {
		raftJoin = append(raftJoin, fmt.Sprintf("node%d:%d", i, ports[i].raft))
	}
	for i := range n {
		p := ports[i]
		node := &Node{Name: fmt.Sprintf("node%d", i), host: c.host, HTTPPort: p.http, dir: filepath.Join(dir, fmt.Sprintf("node%d", i))}
		node.env = []string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + dir,
			"PERSISTENCE_DATA_PATH=" + node.dir, // the default is shared by every node of a host
			"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true",
			"DEFAULT_VECTORIZER_MODULE=none",
			"DISABLE_TELEMETRY=true",
			"GO_PROFILING_DISABLE=true", // its port, 6060 on every node, would collide
			"LOG_LEVEL=warning",
			"CLUSTER_HOSTNAME=" + node.Name,
			"CLUSTER_IN_LOCALHOST=true",
			"CLUSTER_BIND_ADDR=" + c.host,
			"CLUSTER_ADVERTISE_ADDR=" + c.host,
			"CLUSTER_GOSSIP_BIND_PORT=" + strconv.Itoa(p.gossip),
			"CLUSTER_DATA_BIND_PORT=" + strconv.Itoa(p.gossip+1),
			"CLUSTER_JOIN=" + c.host + ":" + strconv.Itoa(ports[0].gossip),
			"RAFT_PORT=" + strconv.Itoa(p.raft),
			"RAFT_INTERNAL_RPC_PORT=" + strconv.Itoa(p.raft+1),
			"RAFT_JOIN=" + strings.Join(raftJoin, ","),
			"RAFT_BOOTSTRAP_EXPECT=" + strconv.Itoa(n),
			"GRPC_PORT=" + strconv.Itoa(p.grpc),
			"QUERY_MAXIMUM_RESULTS=100000",
			// BM25 by block-max WAND (the default) misses better-scored
			// objects when many tie (docs/DEPLOY.md): the exact path.
			"USE_INVERTED_SEARCHABLE=false",
		}
		c.Nodes = append(c.Nodes, node)
	}
	// The first node must listen for gossip before the others join it:
	// a node that cannot join at start exits.
	if err := c.start(c.Nodes[0]); err != nil {
		c.Stop()
		return nil, err
	}
	if err := waitListening(ctx, c.host, ports[0].gossip, c.Nodes[0]); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w\n%s", err, c.Logs())
	}
	for _, node := range c.Nodes[1:] {
		if err := c.start(node); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx); err != nil {
		c.Stop()
		return nil, fmt.Errorf("%w\n%s", err, c.Logs())
	}
	return c, nil
}

type nodePorts struct{ http, grpc, gossip, raft int }

// freePorts finds ports for n nodes: gossip and raft take two in a row
// (data and Raft RPC are the next port up).
func freePorts(n int) ([]nodePorts, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	one := func() (int, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	pair := func() (int, error) {
		for range 100 {
			p, err := one()
			if err != nil {
				return 0, err
			}
			if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1)); err == nil {
				held = append(held, l)
				return p, nil
			}
		}
		return 0, errors.New("no two free ports in a row")
	}
	out := make([]nodePorts, n)
	for i := range out {
		var err error
		if out[i].http, err = one(); err != nil {
			return nil, err
		}
		if out[i].grpc, err = one(); err != nil {
			return nil, err
		}
		if out[i].gossip, err = pair(); err != nil {
			return nil, err
		}
		if out[i].raft, err = pair(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *Cluster) start(n *Node) error {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(c.dir, n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.log = log
	args := []string{c.bin, "--scheme", "http", "--host", c.host, "--port", strconv.Itoa(n.HTTPPort)}
	if c.netns != nil {
		args = append([]string{"ip", "netns", "exec", c.netns.name}, args...)
	}
	// ip netns exec execs the server in its own process: the parent-death
	// signal set here stays with it.
	n.cmd = exec.Command(args[0], args[1:]...)
	n.cmd.Env = n.env
	n.cmd.Dir = n.dir
	n.cmd.Stdout, n.cmd.Stderr = log, log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("weaviate-server: %w", err)
	}
	n.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(n.cmd, n.done)
	return nil
}

func waitListening(ctx context.Context, host string, port int, n *Node) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			return conn.Close()
		}
		select {
		case err := <-n.done:
			n.done <- err
			return fmt.Errorf("%s exited: %v", n.Name, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not listen on %d: %w", n.Name, port, err)
		}
	}
}

// WaitReady waits until every running node answers ready.
func (c *Cluster) WaitReady(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		for {
			resp, err := http.Get("http://" + n.Addr() + "/v1/.well-known/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("ready: %s", resp.Status)
			}
			select {
			case e := <-n.done:
				n.done <- e
				return fmt.Errorf("%s exited: %v", n.Name, e)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ready: %w", n.Name, err)
			}
		}
	}
	return nil
}

// URL is the cluster as Duet's --index flag names it.
func (c *Cluster) URL() string {
	var hosts []string
	for _, n := range c.Nodes {
		hosts = append(hosts, n.Addr())
	}
	return "weaviate://" + strings.Join(hosts, ",")
}

// Kill stops node i at once (SIGKILL), as a crash would.
func (c *Cluster) Kill(i int) error {
	n := c.Nodes[i]
	if n.cmd == nil {
		return nil
	}
	n.cmd.Process.Kill()
	<-n.done
	n.log.Close()
	n.cmd = nil
	return nil
}

// Pause stops every node where it is (SIGSTOP): connections hang
// rather than fail, as with a cluster cut off. Resume lets them go on.
func (c *Cluster) Pause() error { return c.signal(syscall.SIGSTOP) }

// Resume continues paused nodes.
func (c *Cluster) Resume() error { return c.signal(syscall.SIGCONT) }

// PauseNode stops node i where it is (SIGSTOP), as a node stalled by a
// long pause would be: its connections hang. ResumeNode lets it go on.
func (c *Cluster) PauseNode(i int) error { return c.signal(syscall.SIGSTOP, c.Nodes[i]) }

// ResumeNode continues a paused node.
func (c *Cluster) ResumeNode(i int) error { return c.signal(syscall.SIGCONT, c.Nodes[i]) }

func (c *Cluster) signal(sig syscall.Signal, nodes ...*Node) error {
	if len(nodes) == 0 {
		nodes = c.Nodes
	}
	for _, n := range nodes {
		if n.cmd != nil {
			if err := n.cmd.Process.Signal(sig); err != nil {
				return err
			}
		}
	}
	return nil
}

// Restart starts a killed node again on its ports and data, and waits
// until it is ready.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	if err := c.start(c.Nodes[i]); err != nil {
		return err
	}
	return c.WaitReady(ctx)
}

// Logs returns the end of every node's log, for a failing test to show.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		data, _ := os.ReadFile(filepath.Join(c.dir, n.Name+".log"))
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", n.Name, data)
	}
	return b.String()
}

// Stop stops every node and removes the cluster's directory.
func (c *Cluster) Stop() error {
	for _, n := range c.Nodes {
		if n.cmd == nil {
			continue
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(20 * time.Second):
			n.cmd.Process.Kill()
			<-n.done
		}
		n.log.Close()
		n.cmd = nil
	}
	if c.netns != nil {
		c.netns.remove()
	}
	return os.RemoveAll(c.dir)
}

var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Shared returns the cluster the tests of one test binary share, started
// by the first caller. Where the binary is not built the test is skipped,
// unless $CI is set (CI builds it first). TestMain stops it with StopShared.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		var bin string
		if bin, shared.err = Binary(); shared.err != nil {
			return
		}
		shared.c, shared.err = Start(context.Background(), bin)
	})
	if errors.Is(shared.err, ErrNoBinary) && os.Getenv("CI") == "" {
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

// StopShared stops the shared cluster, if a test started it.
func StopShared() {
	if shared.c != nil {
		shared.c.Stop()
	}
}
