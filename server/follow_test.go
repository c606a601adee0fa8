package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/pgtest"
	"github.com/duetrec/duet/internal/weaviatetest"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/server"
	"github.com/duetrec/duet/tower"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	weaviatetest.StopShared()
	os.Exit(code)
}

// shared is a PostgreSQL store with a generated catalogue, a model trained
// on it, and servers over it, each with its own data directory.
type shared struct {
	t     testing.TB
	ctx   context.Context
	pg    *pgtest.Server
	url   string
	dir   string
	model *tower.Model
	ds    *tower.Dataset
	seq   uint64
}

func newShared(t testing.TB, ctx context.Context) *shared {
	sh := &shared{t: t, ctx: ctx, pg: pgtest.Shared(t), url: pgtest.Database(t), dir: t.TempDir()}
	if _, err := content.GenerateFiles(ctx, sh.dir, content.GenOptions{Items: 200, Users: 60, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	st := sh.open()
	if _, err := content.ImportGeneric(ctx, st, filepath.Join(sh.dir, content.GenItemsFile), filepath.Join(sh.dir, content.GenEventsFile), content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var err error
	if sh.ds, err = tower.LoadDataset(ctx, st); err != nil {
		t.Fatal(err)
	}
	if sh.model, err = tower.Train(ctx, sh.ds, nil, nil, tower.Config{Epochs: 1, Workers: 1, Buckets: 1 << 12, Dim: 8}); err != nil {
		t.Fatal(err)
	}
	stats, _ := st.Stats(ctx)
	sh.seq = stats.Seq
	return sh
}

func (sh *shared) open() *content.Store {
	st, err := content.OpenURL(sh.ctx, sh.url, "")
	if err != nil {
		sh.t.Fatal(err)
	}
	sh.t.Cleanup(func() { st.Close() })
	return st
}

// server starts a server over its own store handle and data directory,
// with the model's snapshot built there.
func (sh *shared) server(data string) *fixture {
	t := sh.t
	st := sh.open()
	root := snapshot.NewRoot(filepath.Join(sh.dir, data))
	if _, err := root.Build(sh.ctx, sh.seq, sh.model, sh.ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := server.New(st, server.Config{EditorToken: editorTok, EventsToken: eventsTok, AdminToken: adminTok, Logger: log, SearchRate: -1,
		Loader: server.SnapshotLoader(root, st, log), Snapshots: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Reload(sh.ctx); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, store: st, srv: s}
}

// Two servers on one PostgreSQL store, each with its own data directory:
// what one takes is served by the other within a second (items, deletes,
// the vocabulary; events at once, since histories are read from the
// store); while the database is down for five seconds the follower
// answers searches from memory, refuses writes with 503 and says it is
// behind, and it recovers by itself.
func TestFollow_TwoServers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sh := newShared(t, ctx)
	srv, ds := sh.pg, sh.ds
	a, b := sh.server("a"), sh.server("b")
	go b.srv.Follow(ctx, 200*time.Millisecond, 2*time.Second)

	within := func(what string, limit time.Duration, ok func() bool) { within(t, what, limit, ok) }
	write := func(f *fixture, method, target, token, body string, want int) {
		write(t, f, method, target, token, body, want)
	}

	write(a, "PUT", "/v1/items/zz-f", editorTok, `{"title":"Blorptastic Wibbler"}`, 200)
	within("an item written on A, found on B", time.Second, func() bool { return found(b, "blorptastic", "zz-f") })
	write(a, "PUT", "/v1/synonyms/w", editorTok, `{"terms":["wibbler","snorkelwhatsit"]}`, 200)
	within("a synonym set written on A, used on B", time.Second, func() bool { return found(b, "snorkelwhatsit", "zz-f") })
	write(a, "DELETE", "/v1/items/zz-f", editorTok, "", 200)
	within("an item deleted on A, gone from B", time.Second, func() bool { return !found(b, "blorptastic", "zz-f") })
	// And the other way: B's own write at once on B, then on A at its
	// next snapshot swap (A does not follow).
	write(b, "PUT", "/v1/items/zz-g", editorTok, `{"title":"Quibblesnatch"}`, 200)
	if !found(b, "quibblesnatch", "zz-g") {
		t.Fatal("B's own write is not on B")
	}

	// An event posted to A changes the user's recommendations on B at once.
	recs := func(f *fixture, user string) []string {
		rec := f.do("GET", "/v1/users/"+user+"/recommendations?k=10&exclude_seen=true", "", "")
		if rec.Code != 200 {
			t.Fatalf("recommendations: %d %s", rec.Code, rec.Body)
		}
		return idsOf(t, rec.Body.Bytes())
	}
	before := recs(b, "newcomer")
	write(a, "POST", "/v1/events", eventsTok, `{"user_id":"newcomer","item_id":"`+ds.Items[3].ID+`","kind":"view"}`, 200)
	if after := recs(b, "newcomer"); slices.Equal(after, before) || slices.Contains(after, ds.Items[3].ID) {
		t.Fatalf("B's recommendations for a user who just viewed %s on A: %v, before %v", ds.Items[3].ID, after, before)
	}

	// The database goes down for a while.
	if rec := b.do("GET", "/readyz", "", ""); rec.Code != 200 {
		t.Fatalf("readyz before: %d %s", rec.Code, rec.Body)
	}
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume(context.Background())
		}
	}()
	if rec := a.do("PUT", "/v1/items/zz-h", editorTok, `{"title":"Never"}`); rec.Code != 503 || errorCode(t, rec) != "store_unavailable" {
		t.Fatalf("a write while the database is down: %d %s", rec.Code, rec.Body)
	}
	if !found(b, "quibblesnatch", "zz-g") {
		t.Fatal("B stopped answering searches from memory")
	}
	// With a user too, whose history is in the database: answered, not
	// personalised, and saying so.
	for _, target := range []string{"/v1/search?q=quibblesnatch&user=newcomer", "/v1/users/newcomer/recommendations"} {
		rec := b.do("GET", target, "", "")
		var resp struct{ Degraded string }
		json.Unmarshal(rec.Body.Bytes(), &resp)
		if rec.Code != 200 || !strings.Contains(resp.Degraded, "history could not be read") {
			t.Fatalf("%s while the database is down: %d %s", target, rec.Code, rec.Body)
		}
	}
	within("B says it is behind", 5*time.Second, func() bool { return b.do("GET", "/readyz", "", "").Code == 503 })
	metrics := b.do("GET", "/metrics", "", "").Body.String()
	if !strings.Contains(metrics, "duet_replica_lag_seconds") {
		t.Fatal("no lag metric")
	}
	time.Sleep(5*time.Second - time.Since(paused)) // down for five seconds in all
	if !found(b, "quibblesnatch", "zz-g") {
		t.Fatal("B stopped answering searches from memory")
	}
	if err := srv.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	resumed = true
	within("B ready again after the database is back", 5*time.Second, func() bool { return b.do("GET", "/readyz", "", "").Code == 200 })
	write(a, "PUT", "/v1/items/zz-i", editorTok, `{"title":"Frumious Bandersnatch"}`, 200)
	within("writes flow again", time.Second, func() bool { return found(b, "frumious", "zz-i") })
	if found(a, "never", "zz-h") || found(b, "never", "zz-h") {
		t.Fatal("a write refused with 503 is served")
	}
}

// idsOf returns the hits' ids of a search answer.
func idsOf(t *testing.T, body []byte) []string {
	t.Helper()
	var resp struct {
		Hits []struct{ ID string } `json:"hits"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range resp.Hits {
		out = append(out, h.ID)
	}
	return out
}

// found reports whether a keyword search on f finds the item id.
func found(f *fixture, q, id string) bool {
	rec := f.do("GET", "/v1/search?mode=keyword&k=20&q="+q, "", "")
	return rec.Code == 200 && strings.Contains(rec.Body.String(), `"id":"`+id+`"`)
}

// within waits for ok, failing after limit, and logs how long it took.
func within(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	began := time.Now()
	for !ok() {
		if time.Since(began) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s: %v", what, time.Since(began).Round(time.Millisecond))
}

func write(t *testing.T, f *fixture, method, target, token, body string, want int) {
	t.Helper()
	if rec := f.do(method, target, token, body); rec.Code != want {
		t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
	}
}

// A rebuild publishes a snapshot in the store; a following server fetches
// it from the publisher over HTTP, checks it and swaps to it while
// searches go on, none failing. A publication whose files fail their
// checks is refused, and the server keeps serving what it had.
func TestFollow_PublishedSnapshot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sh := newShared(t, ctx)
	a, b := sh.server("a"), sh.server("b")
	pub := httptest.NewServer(a.srv.Handler())
	defer pub.Close()

	// A damaged publication first: the manifest is not the one named.
	write(t, a, "PUT", "/v1/items/zz-new", editorTok, `{"title":"Zanzibarian Quokka"}`, 200)
	st, _ := a.store.Stats(ctx)
	rootA := snapshot.NewRoot(filepath.Join(sh.dir, "a"))
	dir, err := rootA.Build(ctx, st.Seq, sh.model, append(slices.Clone(sh.ds.Items), content.Item{ID: "zz-new", Title: "Zanzibarian Quokka"}), nil, snapshot.BuildOptions{ANN: index.KindExact})
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := snapshot.ManifestSHA256(dir)
	name := filepath.Base(dir)
	bad := content.PublishedSnapshot{Name: name, Seq: st.Seq, ManifestSHA256: strings.Repeat("0", len(sum)), Source: pub.URL}
	if err := a.store.PublishSnapshot(ctx, bad); err != nil {
		t.Fatal(err)
	}
	var failures, searches atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			searches.Add(1)
			if rec := b.do("GET", "/v1/search?q=quokka&k=5", "", ""); rec.Code != 200 {
				failures.Add(1)
			}
		}
	}()
	go b.srv.Follow(ctx, 200*time.Millisecond, 5*time.Second)
	time.Sleep(3 * time.Second) // the follower looks every 2 s
	info := func() server.BackendInfo {
		var s struct {
			Snapshot server.BackendInfo `json:"snapshot"`
		}
		json.Unmarshal(b.do("GET", "/admin/stats", adminTok, "").Body.Bytes(), &s)
		return s.Snapshot
	}
	if got := filepath.Base(info().Snapshot); got == name {
		t.Fatal("swapped to a snapshot whose manifest is not the one published")
	}
	if left, _ := filepath.Glob(filepath.Join(sh.dir, "b", "snapshots", ".tmp-*")); len(left) != 0 {
		t.Fatalf("a refused fetch left %v", left)
	}
	good := bad
	good.ManifestSHA256 = sum
	if err := a.store.PublishSnapshot(ctx, good); err != nil {
		t.Fatal(err)
	}
	within(t, "B swaps to the published snapshot", 10*time.Second, func() bool { return filepath.Base(info().Snapshot) == name })
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d searches failed during the swap", failures.Load(), searches.Load())
	}
	t.Logf("%d searches during the fetch and swap, none failed", searches.Load())
	if _, err := snapshot.Verify(ctx, filepath.Join(sh.dir, "b", "snapshots", name)); err != nil {
		t.Fatal(err)
	}
	if !found(b, "zanzibarian", "zz-new") {
		t.Fatal("the new snapshot's item is not served")
	}
	// Only the admin may fetch snapshot files, and only a snapshot's own.
	for target, want := range map[string]int{
		"/admin/snapshots/" + name + "/files/manifest.json":      200,
		"/admin/snapshots/" + name + "/files/../catalog.db":      404,
		"/admin/snapshots/" + name + "/files/nope":               404,
		"/admin/snapshots/snap-nope/files/manifest.json":         404,
		"/admin/snapshots/" + name + "/files/%2e%2e/server.lock": 404,
	} {
		if rec := a.do("GET", target, adminTok, ""); rec.Code != want {
			t.Errorf("%s: %d, want %d", target, rec.Code, want)
		}
	}
	if rec := a.do("GET", "/admin/snapshots/"+name+"/files/manifest.json", editorTok, ""); rec.Code != 401 {
		t.Errorf("with the editor's token: %d", rec.Code)
	}
	if rec := a.do("GET", "/admin/backup", adminTok, ""); rec.Code != 501 || errorCode(t, rec) != "not_implemented" {
		t.Errorf("a backup of a store in PostgreSQL: %d %s", rec.Code, rec.Body)
	}
}

// BenchmarkFollow_Lag measures how long after a server acknowledges an
// item another server following the same PostgreSQL store finds it by
// search, while a writer keeps the first server busy with about 100 other
// item writes a second.
func BenchmarkFollow_Lag(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sh := newShared(b, ctx)
	pub, sub := sh.server("a"), sh.server("b")
	go sub.srv.Follow(ctx, 250*time.Millisecond, 5*time.Second)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			pub.do("PUT", fmt.Sprintf("/v1/items/load-%d", i), editorTok, `{"title":"Background load"}`)
		}
	})
	lags := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		word := fmt.Sprintf("zqlag%dx", i)
		id := fmt.Sprint("lag-", i)
		if rec := pub.do("PUT", "/v1/items/"+id, editorTok, `{"title":"`+word+`"}`); rec.Code != 200 {
			b.Fatalf("put: %d %s", rec.Code, rec.Body)
		}
		acked := time.Now()
		for !found(sub, word, id) {
			if time.Since(acked) > 10*time.Second {
				b.Fatalf("%s not found on the follower", id)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lags = append(lags, time.Since(acked))
	}
	close(stop)
	wg.Wait()
	slices.Sort(lags)
	at := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
