package content_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/pgtest"
)

var storeKind = flag.String("store", "bolt", "the store the suite runs against: bolt or postgres")

// dbs keeps the database of each data directory openStore was given.
var dbs struct {
	mu sync.Mutex
	m  map[string]string
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

func postgresServer(t testing.TB) *pgtest.Server { return pgtest.Shared(t) }

// postgresFor returns the database kept for a data directory, new the
// first time.
func postgresFor(t testing.TB, dir string) string {
	t.Helper()
	dbs.mu.Lock()
	defer dbs.mu.Unlock()
	if url, ok := dbs.m[dir]; ok {
		return url
	}
	url := pgtest.Database(t)
	if dbs.m == nil {
		dbs.m = map[string]string{}
	}
	dbs.m[dir] = url
	return url
}

func openPostgres(t testing.TB, url string) *content.Store {
	t.Helper()
	s, err := content.OpenURL(context.Background(), url, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Writers in three processes' stores at once, and a reader tailing the
// feed by sequence number all along: the reader sees every change, in
// order, and never one below a number it has read past. Then a writer is
// held inside its transaction after taking its number: nothing after it
// is handed out, or shown, until it commits.
func TestPostgres_FeedNeverSkips(t *testing.T) {
	ctx := context.Background()
	url, err := postgresServer(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stores := []*content.Store{openPostgres(t, url), openPostgres(t, url), openPostgres(t, url)}
	reader := openPostgres(t, url)

	const writers, writes = 6, 40
	done := make(chan struct{})
	var seen []uint64
	var readErr error
	go func() {
		defer close(done)
		var last uint64
		for {
			ch, err := reader.ChangesSince(ctx, last, 0)
			if err != nil {
				readErr = err
				return
			}
			for _, c := range ch {
				if c.Seq <= last {
					readErr = fmt.Errorf("change %d after %d", c.Seq, last)
					return
				}
				last = c.Seq
				seen = append(seen, c.Seq)
			}
			if len(seen) == writers*writes {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for i := range writes {
				if _, err := s.PutItem(ctx, content.Item{ID: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 { // events take numbers too
					s.AppendEvents(ctx, []content.Event{{UserID: "u", ItemID: fmt.Sprintf("w%d-%d", w, i), Kind: "view", Value: 1}})
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the reader saw %d of %d changes", len(seen), writers*writes)
	}
	if readErr != nil {
		t.Fatal(readErr)
	}
	all, _ := reader.ChangesSince(ctx, 0, 0)
	if len(all) != len(seen) {
		t.Fatalf("the feed holds %d changes, the reader saw %d", len(all), len(seen))
	}

	// A transaction holding the writers' lock, as a slow writer does
	// between taking its number and committing.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var held int64
	if err := tx.QueryRow(ctx, `UPDATE duet_counters SET seq = seq + 1 WHERE id = 1 RETURNING seq`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO duet_changes VALUES ($1, false, 'slow')`, held); err != nil {
		t.Fatal(err)
	}
	fast := make(chan uint64)
	go func() {
		seq, err := stores[1].PutItem(ctx, content.Item{ID: "fast"})
		if err != nil {
			t.Error(err)
		}
		fast <- seq
	}()
	select {
	case seq := <-fast:
		t.Fatalf("a write took number %d while %d was not committed", seq, held)
	case <-time.After(300 * time.Millisecond):
	}
	last := all[len(all)-1].Seq
	if ch, _ := reader.ChangesSince(ctx, last, 0); len(ch) != 0 {
		t.Fatalf("uncommitted changes shown: %v", ch)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if seq := <-fast; seq != uint64(held)+1 {
		t.Fatalf("the write after %d took %d", held, seq)
	}
	ch, _ := reader.ChangesSince(ctx, last, 0)
	if len(ch) != 2 || ch[0].Seq != uint64(held) || ch[1].ItemID != "fast" {
		t.Fatalf("after the commit: %v", ch)
	}
}

func TestPostgres_OpenErrors(t *testing.T) {
	ctx := context.Background()
	srv := postgresServer(t)
	for name, url := range map[string]string{
		"malformed":   "postgres://duet@127.0.0.1:notaport/x",
		"unreachable": "postgres://duet@127.0.0.1:1/x?connect_timeout=2",
		"no database": srv.URL("missing_database"),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := content.OpenURL(ctx, url, "")
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			t.Log(err)
		})
	}
	// A schema newer than this binary is refused and left alone.
	url, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := openPostgres(t, url)
	s.PutItem(ctx, content.Item{ID: "a"})
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	conn.Exec(ctx, `UPDATE duet_schema SET version = version + 1`)
	if _, err := content.OpenURL(ctx, url, ""); !errors.Is(err, content.ErrSchemaNewer) {
		t.Fatalf("a newer schema: %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM duet_items`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the refused database holds %d items: %v", n, err)
	}
	// Backups are PostgreSQL's to take.
	conn.Exec(ctx, `UPDATE duet_schema SET version = version - 1`)
	s = openPostgres(t, url)
	if _, err := s.Backup(ctx, nil); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("backup: %v", err)
	}
}

// A dump of a bbolt store restores into PostgreSQL and back, nothing lost.
func TestPostgres_DumpAcrossStores(t *testing.T) {
	ctx := context.Background()
	url, err := postgresServer(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	src, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 120, Users: 30, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := content.ImportGeneric(ctx, src, filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile), content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	src.PutSynonyms(ctx, content.Synonyms{ID: "tv", Terms: []string{"tv", "television"}}, 0)
	src.PutStopWords(ctx, []string{"movie"})
	src.AppendEvents(ctx, []content.Event{{UserID: "zz", ItemID: "i001", Kind: "view", Value: 1}}) // unknown time
	one := filepath.Join(t.TempDir(), "one")
	if _, err := content.Dump(ctx, src, one); err != nil {
		t.Fatal(err)
	}
	dst := openPostgres(t, url)
	if _, err := content.Restore(ctx, dst, one, nil); err != nil {
		t.Fatal(err)
	}
	back, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	two := filepath.Join(t.TempDir(), "two")
	if _, err := content.Dump(ctx, dst, two); err != nil {
		t.Fatal(err)
	}
	if _, err := content.Restore(ctx, back, two, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*content.Store{dst, back} {
		if got, want := everything(t, s), everything(t, src); !reflect.DeepEqual(got, want) {
			t.Fatalf("after the round trip:\n%.600v\nwant\n%.600v", got, want)
		}
	}
}

// everything reads what a store holds, in an order both stores agree on.
func everything(t *testing.T, s *content.Store) []string {
	ctx := context.Background()
	var out []string
	s.ForEachItem(ctx, func(it content.Item) error {
		out = append(out, fmt.Sprintf("%+v", it))
		return nil
	})
	var events []string
	s.ForEachEvent(ctx, func(ev content.Event) error {
		events = append(events, fmt.Sprintf("%+v", ev))
		return nil
	})
	sort.Strings(events) // users in another order; each user's in time order
	v, _ := s.Vocabulary(ctx)
	st, _ := s.Stats(ctx)
	out = append(out, events...)
	out = append(out, fmt.Sprintf("%v %v items %d events %d", v.Synonyms, v.StopWords, st.Items, st.Events))
	hist, _ := s.UserEvents(ctx, "zz", 0)
	out = append(out, fmt.Sprint(hist))
	return slices.Clip(out)
}

// Another process's item or vocabulary write is told to a listener when it
// commits; events are not (histories are read from the store anyway).
func TestPostgres_Changed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, err := postgresServer(t).NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, b := openPostgres(t, url), openPostgres(t, url)
	ch := a.Changed(ctx)
	wait := func(what string, want bool) {
		t.Helper()
		select {
		case <-ch:
			if !want {
				t.Fatalf("%s: told", what)
			}
		case <-time.After(time.Second):
			if want {
				t.Fatalf("%s: not told within a second", what)
			}
		}
	}
	wait("listening", true) // the first connection, for what came before
	b.PutItem(ctx, content.Item{ID: "x"})
	wait("an item", true)
	b.AppendEvents(ctx, []content.Event{{UserID: "u", ItemID: "x", Kind: "view", Value: 1}})
	wait("an event", false)
	b.PutStopWords(ctx, []string{"the"})
	wait("the vocabulary", true)
	if seq, err := a.VocabularySeq(ctx); err != nil || seq == 0 {
		t.Fatalf("vocabulary seq %d, %v", seq, err)
	}
	bs, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if bs.Changed(ctx) != nil {
		t.Fatal("a bbolt store has another writer to tell of")
	}
}

// Rebuilds publish snapshots; the latest is what servers fetch. A database
// of an older schema is migrated on open.
func TestPostgres_PublishedSnapshots(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	s := openPostgres(t, url)
	if _, err := s.LatestSnapshot(ctx); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("none published: %v", err)
	}
	if err := s.PublishSnapshot(ctx, content.PublishedSnapshot{Name: "snap-1"}); !errors.Is(err, content.ErrInvalid) {
		t.Fatalf("no checksum: %v", err)
	}
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for i, name := range []string{"snap-1", "snap-2"} {
		p := content.PublishedSnapshot{Name: name, Seq: uint64(10 * (i + 1)), ManifestSHA256: "ab", Source: "/shared", PublishedAt: t0.Add(time.Duration(i) * time.Minute)}
		if err := s.PublishSnapshot(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := s.LatestSnapshot(ctx); err != nil || p.Name != "snap-2" || p.Seq != 20 || !p.PublishedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("latest %+v, %v", p, err)
	}
	s.Close()

	// Back to schema 1, as a database an older Duet made.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP TABLE duet_snapshots, duet_impressions, duet_feedback, duet_experiments;
		ALTER TABLE duet_counters DROP COLUMN feedback_seq; UPDATE duet_schema SET version = 1`); err != nil {
		t.Fatal(err)
	}
	s = openPostgres(t, url)
	if _, err := s.LatestSnapshot(ctx); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("after the migration: %v", err)
	}
	var version int
	conn.QueryRow(ctx, `SELECT version FROM duet_schema`).Scan(&version)
	if version != 3 {
		t.Fatalf("schema version %d", version)
	}
	if _, err := s.Experiments(ctx); err != nil {
		t.Fatalf("the experiments after the migration: %v", err)
	}

	bs, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	if err := bs.PublishSnapshot(ctx, content.PublishedSnapshot{Name: "snap-1", ManifestSHA256: "ab", Source: "/x"}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("bbolt: %v", err)
	}
	if bs.Shared() || !s.Shared() {
		t.Fatalf("shared: bbolt %v, PostgreSQL %v", bs.Shared(), s.Shared())
	}
}
