package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/pgtest"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/server"
	"github.com/duetrec/duet/tower"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// Two servers on one PostgreSQL store, each with its own data directory:
// what one takes is served by the other within a second (items, deletes,
// the vocabulary; events at once, since histories are read from the
// store); while the database is down the follower answers searches from
// memory, refuses writes with 503 and says it is behind, and it recovers
// by itself.
func TestFollow_TwoServers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := pgtest.Shared(t)
	url, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 200, Users: 60, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	open := func() *content.Store {
		st, err := content.OpenURL(ctx, url, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stA, stB := open(), open()
	if _, err := content.ImportGeneric(ctx, stA, filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile), content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := tower.LoadDataset(ctx, stA)
	if err != nil {
		t.Fatal(err)
	}
	model, err := tower.Train(ctx, ds, nil, nil, tower.Config{Epochs: 1, Workers: 1, Buckets: 1 << 12, Dim: 8})
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := stA.Stats(ctx)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(st *content.Store, data string) *fixture {
		root := snapshot.NewRoot(data)
		if _, err := root.Build(ctx, stats.Seq, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact}); err != nil {
			t.Fatal(err)
		}
		s, err := server.New(st, server.Config{EditorToken: editorTok, EventsToken: eventsTok, AdminToken: adminTok, Logger: log,
			Loader: server.SnapshotLoader(root, st, log)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if _, err := s.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		return &fixture{t: t, store: st, srv: s}
	}
	a, b := start(stA, filepath.Join(dir, "a")), start(stB, filepath.Join(dir, "b"))
	go b.srv.Follow(ctx, 200*time.Millisecond, 2*time.Second)

	found := func(f *fixture, q, id string) bool {
		rec := f.do("GET", "/v1/search?mode=keyword&k=20&q="+q, "", "")
		return rec.Code == 200 && strings.Contains(rec.Body.String(), `"id":"`+id+`"`)
	}
	within := func(what string, limit time.Duration, ok func() bool) {
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
	write := func(f *fixture, method, target, token, body string, want int) {
		t.Helper()
		if rec := f.do(method, target, token, body); rec.Code != want {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
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
	within("B says it is behind", 5*time.Second, func() bool { return b.do("GET", "/readyz", "", "").Code == 503 })
	metrics := b.do("GET", "/metrics", "", "").Body.String()
	if !strings.Contains(metrics, "duet_replica_lag_seconds") {
		t.Fatal("no lag metric")
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
