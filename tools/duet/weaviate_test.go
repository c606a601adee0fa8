package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/weaviatetest"
)

// The commands with --index: rebuild publishes a collection and names it;
// serve answers from it and takes an editor's write into it; a second
// rebuild switches the server to a new collection, and a third drops the
// first once no snapshot names it and no server holds it.
func TestCommands_WeaviateIndex(t *testing.T) {
	endToEnd(t, "rebuilds and serves on a three-node cluster")
	url := weaviatetest.Shared(t).URL()
	data := smallData(t, "200", "80", "4")
	rebuild := func(extra ...string) string {
		t.Helper()
		out := mustRun(t, rebuildArgs(data, append([]string{"--index", url, "--replicas", "3", "--keep", "1"}, extra...)...)...)
		m := regexp.MustCompile(`index in Weaviate collection (Duet_\w+) \(1 shards, 3 replicas\)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("rebuild said:\n%s", out)
		}
		return m[1]
	}
	first := rebuild()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--index", url, "--addr", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	base := ""
	for sc.Scan() {
		if m := regexp.MustCompile(`playground: (http://\S+)/`).FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if base == "" {
		t.Fatalf("serve did not start (exit %d)", <-done)
	}
	s := &stack{t: t, data: data, base: base}
	var stats struct {
		Snapshot struct{ Collection string } `json:"snapshot"`
	}
	if code := s.call("GET", "/admin/stats", testAdminToken, "", &stats); code != 200 || stats.Snapshot.Collection != first {
		t.Fatalf("stats: %d %+v, want collection %s", code, stats, first)
	}
	if code := s.call("PUT", "/v1/items/zz-w", testEditorToken, `{"title":"Quokka Lighthouse"}`, nil); code != 200 && code != 201 {
		t.Fatalf("put: %d", code)
	}
	if !s.search("quokka").has("zz-w") {
		t.Fatal("the editor's item is not found")
	}

	// While the server holds the store, the rebuild reads it through the
	// server, which then reloads.
	second := rebuild("--notify", base)
	deadline := time.Now().Add(30 * time.Second)
	for stats.Snapshot.Collection != second {
		if time.Now().After(deadline) {
			t.Fatalf("the server is on %s, want %s", stats.Snapshot.Collection, second)
		}
		time.Sleep(200 * time.Millisecond)
		s.call("GET", "/admin/stats", testAdminToken, "", &stats)
	}
	if !s.search("quokka").has("zz-w") {
		t.Fatal("the editor's item is not in the new collection")
	}
	// The server's leases keep both collections it loaded, though no
	// kept snapshot names them.
	out := mustRun(t, rebuildArgs(data, "--index", url, "--replicas", "3", "--keep", "1", "--notify", base)...)
	if strings.Contains(out, "dropped") {
		t.Fatalf("a rebuild dropped a collection a server holds:\n%s", out)
	}
	// Once it stops, it gives them up, and the next rebuild drops every
	// collection but its own.
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	last := rebuild()
	c, _ := weaviate.Open(url)
	defer c.Close()
	names, err := c.Collections(context.Background())
	if err != nil || !slices.Equal(names, []string{last}) || slices.Contains(names, first) || slices.Contains(names, second) {
		t.Fatalf("collections %v, %v: want %s alone", names, err, last)
	}
}
