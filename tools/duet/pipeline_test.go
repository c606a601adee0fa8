package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/search/snapshot"
)

const (
	testEditorToken = "e2e-editor"
	testAdminToken  = "e2e-admin"
)

// stack is a running server over a small generated data set.
type stack struct {
	t    *testing.T
	data string
	base string
	stop func()
}

// startStack generates, imports and rebuilds a small data set, then serves
// it on a free loopback port.
func startStack(t *testing.T) *stack {
	t.Helper()
	data := smallData(t, "300", "200", "3")

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
		done <- code
	}()
	sc := bufio.NewScanner(pr)
	base := ""
	re := regexp.MustCompile(`playground: (http://\S+)/`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if base == "" {
		cancel()
		t.Fatalf("serve did not start (exit %d)", <-done)
	}
	s := &stack{t: t, data: data, base: base}
	s.stop = func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited with %d", code)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(s.stop)
	return s
}

// smallData generates, imports and indexes a small data set.
func smallData(t *testing.T, items, users, seed string) string {
	t.Helper()
	dir := t.TempDir()
	src, data := filepath.Join(dir, "src"), filepath.Join(dir, "data")
	mustRun(t, "gen", "--out", src, "--items", items, "--users", users, "--seed", seed)
	mustRun(t, "import", "--data", data, "--items", filepath.Join(src, "items.jsonl"), "--events", filepath.Join(src, "events.csv"))
	mustRun(t, rebuildArgs(data)...)
	return data
}

func rebuildArgs(data string, extra ...string) []string {
	return append([]string{"rebuild", "--data", data, "--epochs", "4", "--workers", "1", "--ann", "exact"}, extra...)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("duet %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// call sends a request and decodes a JSON answer into v (when not nil).
func (s *stack) call(method, path, token, body string, v any) int {
	s.t.Helper()
	code, b, err := apiRequest(s.base, method, path, token, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, code, b, err)
		}
	}
	return code
}

// apiRequest sends a JSON request with a bearer token ("" sends none) and
// returns the status and body.
func apiRequest(base, method, path, token, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

type hitsResponse struct {
	Hits []struct {
		ID string `json:"id"`
	} `json:"hits"`
	Source string `json:"source"`
}

func (s *stack) search(query string) hitsResponse {
	var r hitsResponse
	if code := s.call("GET", "/v1/search?k=10&q="+url.QueryEscape(query), "", "", &r); code != 200 {
		s.t.Fatalf("search %q: status %d", query, code)
	}
	return r
}

func (r hitsResponse) has(id string) bool {
	for _, h := range r.Hits {
		if h.ID == id {
			return true
		}
	}
	return false
}

// TestPipeline runs gen → import → rebuild → serve → query → edit →
// rebuild → swap on a small data set.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and starts a server")
	}
	s := startStack(t)

	if r := s.search("telescope orbit"); len(r.Hits) == 0 {
		t.Fatal("no hits for a query from the catalog's own words")
	}
	var rec hitsResponse
	if code := s.call("GET", "/v1/users/u012/recommendations?k=5", "", "", &rec); code != 200 || len(rec.Hits) != 5 || rec.Source != "sources" {
		t.Fatalf("recommendations: %d %+v", code, rec)
	}

	// An editor's new item is searchable as soon as the write returns.
	item := `{"id":"fresh-1","title":"Zeppelin harmonica festival","description":"A zeppelin carries a harmonica band.","categories":["jazz"]}`
	start := time.Now()
	if code := s.call("POST", "/v1/items", testEditorToken, item, nil); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if r := s.search("zeppelin harmonica"); !r.has("fresh-1") {
		t.Fatalf("new item not found right after its write: %+v", r)
	}
	t.Logf("created and found by search in %v", time.Since(start))

	// A rebuild while the server holds the store reads it through the
	// server, publishes a snapshot holding the new item, and swaps.
	var before struct{ Snapshot struct{ Seq uint64 } }
	s.call("GET", "/admin/stats", testAdminToken, "", &before)
	t.Setenv("DUET_ADMIN_TOKEN", testAdminToken)
	out := mustRun(t, rebuildArgs(s.data, "--notify", s.base)...)
	if !strings.Contains(out, "reloaded") {
		t.Fatalf("rebuild output: %s", out)
	}
	var after struct {
		Snapshot struct {
			Seq   uint64
			Items int
		}
		Lag int
	}
	s.call("GET", "/admin/stats", testAdminToken, "", &after)
	if after.Snapshot.Seq <= before.Snapshot.Seq || after.Snapshot.Items != 301 || after.Lag != 0 {
		t.Fatalf("after the swap: %+v (before: seq %d)", after, before.Snapshot.Seq)
	}
	if r := s.search("zeppelin harmonica"); !r.has("fresh-1") {
		t.Fatalf("new item lost in the new snapshot: %+v", r)
	}
	// A model below --min-ndcg is not published.
	before2, _ := snapshot.NewRoot(s.data).List()
	if code, out, _ := runCLI(t, rebuildArgs(s.data, "--min-ndcg", "0.999", "--notify", s.base)...); code != 1 || !strings.Contains(out, "previous model") {
		t.Fatalf("rebuild with --min-ndcg 0.999: exit %d, %s", code, out)
	}
	if after2, _ := snapshot.NewRoot(s.data).List(); len(after2) != len(before2) {
		t.Fatalf("a refused model was published: %d snapshots, then %d", len(before2), len(after2))
	}

	// An incremental rebuild embeds only what changed since the snapshot.
	if code := s.call("PUT", "/v1/items/fresh-2", testEditorToken, `{"title":"Walrus accordion parade","categories":["jazz"]}`, nil); code != 200 {
		t.Fatalf("put: %d", code)
	}
	out = mustRun(t, rebuildArgs(s.data, "--incremental", "--notify", s.base)...)
	if !strings.Contains(out, "1 items changed") || !strings.Contains(out, "reloaded") {
		t.Fatalf("incremental rebuild output: %s", out)
	}
	var inc struct{ Snapshot struct{ Items int } }
	s.call("GET", "/admin/stats", testAdminToken, "", &inc)
	if inc.Snapshot.Items != 302 {
		t.Fatalf("incremental snapshot holds %d items, want 302", inc.Snapshot.Items)
	}
	if r := s.search("walrus accordion"); !r.has("fresh-2") {
		t.Fatalf("item of the incremental rebuild not found: %+v", r)
	}

	if code := s.call("DELETE", "/v1/items/fresh-1", testEditorToken, "", nil); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if r := s.search("zeppelin harmonica"); r.has("fresh-1") {
		t.Fatal("deleted item still found")
	}
}
