package content_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

// openStore opens the store of dir for a test: the bbolt store in dir, or
// with -store=postgres one in a database of the test server kept for dir,
// so that the whole suite runs against both.
func openStore(t testing.TB, dir string) *content.Store {
	t.Helper()
	var s *content.Store
	var err error
	if *storeKind == "postgres" {
		s, err = content.OpenURL(context.Background(), postgresFor(t, dir), dir)
	} else {
		s, err = content.Open(context.Background(), dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// boltOnly skips a test of what only the bbolt store has: its file.
func boltOnly(t *testing.T) {
	if *storeKind == "postgres" {
		t.Skip("the bbolt store's file")
	}
}

func TestStore_ItemLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	it := content.Item{
		ID: "a", Title: "Alpha", Description: "first\nline", Tags: []string{"x"}, Categories: []string{"c"},
		Attributes: map[string]content.Value{"year": content.Number(1999), "lang": content.String("en")},
	}
	seq1, err := s.PutItem(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Item(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Alpha" || got.Description != "first\nline" || got.Attributes["year"] != content.Number(1999) ||
		got.Attributes["lang"] != content.String("en") || got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("got %+v", got)
	}
	time.Sleep(2 * time.Millisecond)
	it.Title = "Alpha 2"
	seq2, err := s.PutItem(ctx, it)
	if err != nil {
		t.Fatal(err)
	}
	if seq2 <= seq1 {
		t.Fatalf("sequence went from %d to %d", seq1, seq2)
	}
	got2, _ := s.Item(ctx, "a")
	if got2.Title != "Alpha 2" || !got2.CreatedAt.Equal(got.CreatedAt) || !got2.UpdatedAt.After(got.UpdatedAt) {
		t.Fatalf("update: got %+v, first %+v", got2, got)
	}
	if st, _ := s.Stats(ctx); st.Items != 1 || st.Seq != seq2 {
		t.Fatalf("stats %+v", st)
	}
	seq3, err := s.DeleteItem(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Item(ctx, "a"); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := s.DeleteItem(ctx, "a"); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	ch, err := s.ChangesSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []content.Change{{Seq: seq1, ItemID: "a"}, {Seq: seq2, ItemID: "a"}, {Seq: seq3, ItemID: "a", Deleted: true}}
	if fmt.Sprint(ch) != fmt.Sprint(want) {
		t.Fatalf("changes %v, want %v", ch, want)
	}
	if ch, _ := s.ChangesSince(ctx, seq2, 0); len(ch) != 1 || ch[0].Seq != seq3 {
		t.Fatalf("changes since %d: %v", seq2, ch)
	}
	if ch, _ := s.ChangesSince(ctx, 0, 2); len(ch) != 2 {
		t.Fatalf("limit 2: %v", ch)
	}
	if st, _ := s.Stats(ctx); st.Items != 0 {
		t.Fatalf("stats after delete %+v", st)
	}
}

func TestStore_InvalidWritesChangeNothing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	if _, err := s.PutItem(ctx, content.Item{ID: "ok"}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Stats(ctx)
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"empty id", func() error { _, err := s.PutItem(ctx, content.Item{}); return err }, content.ErrInvalid},
		{"batch with one bad item", func() error {
			_, err := s.PutItems(ctx, []content.Item{{ID: "new"}, {ID: "bad\x00id"}})
			return err
		}, content.ErrInvalid},
		{"event for unknown item", func() error {
			_, err := s.AppendEvents(ctx, []content.Event{{UserID: "u", ItemID: "ok", Kind: "view"}, {UserID: "u", ItemID: "nope", Kind: "view"}})
			return err
		}, content.ErrUnknownItem},
		{"event without kind", func() error {
			_, err := s.AppendEvents(ctx, []content.Event{{UserID: "u", ItemID: "ok"}})
			return err
		}, content.ErrInvalid},
		{"create existing", func() error { _, err := s.CreateItem(ctx, content.Item{ID: "ok", Title: "changed"}); return err }, content.ErrExists},
		{"delete unknown", func() error { _, err := s.DeleteItem(ctx, "nope"); return err }, content.ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if after, _ := s.Stats(ctx); after != before {
				t.Fatalf("stats changed from %+v to %+v", before, after)
			}
			if it, _ := s.Item(ctx, "ok"); it.Title != "" {
				t.Fatalf("existing item changed: %+v", it)
			}
			if _, err := s.Item(ctx, "new"); !errors.Is(err, content.ErrNotFound) {
				t.Fatalf("item of a failed batch was written: %v", err)
			}
		})
	}
}

func TestStore_UserEventsInTimeOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	if _, err := s.PutItems(ctx, []content.Item{{ID: "i1"}, {ID: "i2"}, {ID: "i3"}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := []content.Event{
		{UserID: "u", ItemID: "i1", Kind: "view", Value: 1, Time: t0.Add(3 * time.Hour)},
		{UserID: "u", ItemID: "i2", Kind: "rating", Value: 4.5, Time: t0.Add(time.Hour)},
		{UserID: "u2", ItemID: "i3", Kind: "view", Value: 1, Time: t0},
		{UserID: "u", ItemID: "i3", Kind: "click", Value: 1}, // unknown time sorts first
		{UserID: "u", ItemID: "i1", Kind: "view", Value: 2, Time: t0.Add(2*time.Hour + 5*time.Nanosecond)},
		{UserID: "uu", ItemID: "i1", Kind: "view", Value: 1, Time: t0}, // shares the prefix "u"
	}
	if _, err := s.AppendEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserEvents(ctx, "u", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []content.Event{evs[3], evs[1], evs[4], evs[0]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	last2, _ := s.UserEvents(ctx, "u", 2)
	if fmt.Sprint(last2) != fmt.Sprint(want[2:]) {
		t.Fatalf("last 2: %v", last2)
	}
	if none, _ := s.UserEvents(ctx, "nobody", 0); len(none) != 0 {
		t.Fatalf("unknown user: %v", none)
	}
	if uu, _ := s.UserEvents(ctx, "uu", 0); len(uu) != 1 {
		t.Fatalf("uu: %v", uu)
	}
	var all []content.Event
	s.ForEachEvent(ctx, func(ev content.Event) error { all = append(all, ev); return nil })
	if len(all) != len(evs) {
		t.Fatalf("ForEachEvent saw %d events", len(all))
	}
	if st, _ := s.Stats(ctx); st.Events != len(evs) {
		t.Fatalf("stats %+v", st)
	}
}

func TestStore_ItemsPaging(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	var items []content.Item
	for i := range 25 {
		items = append(items, content.Item{ID: fmt.Sprintf("i%02d", i)})
	}
	if _, err := s.PutItems(ctx, items); err != nil {
		t.Fatal(err)
	}
	var ids []string
	after := ""
	for {
		page, err := s.Items(ctx, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, it := range page {
			ids = append(ids, it.ID)
		}
		after = page[len(page)-1].ID
	}
	if len(ids) != 25 || ids[0] != "i00" || ids[24] != "i24" {
		t.Fatalf("paged ids %v", ids)
	}
}

// Concurrent writers share transactions; every write gets its own sequence
// number and a failing write does not fail the others in its group.
func TestStore_GroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	if _, err := s.PutItem(ctx, content.Item{ID: "i"}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 16, 40
	var mu sync.Mutex
	seqs := map[uint64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for j := range each {
				item := "i"
				if j%10 == 9 {
					item = "missing" // fails alone
				}
				seq, err := s.AppendEvents(ctx, []content.Event{{UserID: fmt.Sprint("u", w), ItemID: item, Kind: "view", Value: float64(j)}})
				if item == "missing" {
					if !errors.Is(err, content.ErrUnknownItem) {
						errs <- fmt.Errorf("bad event: %v", err)
					}
					continue
				}
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				if seqs[seq] {
					errs <- fmt.Errorf("sequence %d given twice", seq)
				}
				seqs[seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st, _ := s.Stats(ctx)
	if want := writers * each * 9 / 10; st.Events != want || len(seqs) != want {
		t.Fatalf("events %d, distinct seqs %d, want %d", st.Events, len(seqs), want)
	}
}

func TestOpen_Errors(t *testing.T) {
	boltOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := content.Open(ctx, dir); !errors.Is(err, content.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	if _, err := s.PutItem(ctx, content.Item{ID: "x"}); !errors.Is(err, content.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}

	garbage := t.TempDir()
	if err := os.WriteFile(filepath.Join(garbage, content.StoreFile), []byte("not a database, not at all, no pages here......"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := content.Open(ctx, garbage); err == nil {
		t.Fatal("opened a garbage file")
	}
}

// Commands that only read share a bbolt store; a writer keeps them out
// and they keep it out; writes through them fail; a directory without a
// store is refused and left as it was.
func TestOpenReading(t *testing.T) {
	boltOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	w := openStore(t, dir)
	if _, err := w.PutItem(ctx, content.Item{ID: "a", Title: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := content.OpenReading(ctx, dir, ""); !errors.Is(err, content.ErrLocked) {
		t.Fatalf("read beside a writer: %v, want ErrLocked", err)
	}
	w.Close()

	r1, err := content.OpenReading(ctx, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := content.OpenReading(ctx, dir, "")
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	defer r2.Close()
	for _, r := range []*content.Store{r1, r2} {
		if it, err := r.Item(ctx, "a"); err != nil || it.Title != "A" {
			t.Fatalf("read item a: %+v, %v", it, err)
		}
	}
	if _, err := r1.PutItem(ctx, content.Item{ID: "b"}); err == nil {
		t.Fatal("wrote through a reading store")
	}
	if _, err := content.Open(ctx, dir); !errors.Is(err, content.ErrLocked) {
		t.Fatalf("write beside readers: %v, want ErrLocked", err)
	}

	missing := filepath.Join(t.TempDir(), "none")
	if _, err := content.OpenReading(ctx, missing, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no store: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading a missing store made %s: %v", missing, err)
	}
}

func TestStore_Reopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	if _, err := s.PutItem(ctx, content.Item{ID: "kept", Title: "Kept"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	if it, err := s.Item(ctx, "kept"); err != nil || it.Title != "Kept" {
		t.Fatalf("after reopen: %+v, %v", it, err)
	}
}

// A backup taken while writes go on opens read-only with what was there.
func TestStore_Backup(t *testing.T) {
	boltOnly(t)
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	if _, err := s.PutItems(ctx, []content.Item{{ID: "a", Title: "A"}, {ID: "b"}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := s.Backup(ctx, f)
	f.Close()
	if err != nil || seq != 2 {
		t.Fatalf("backup: seq %d, %v", seq, err)
	}
	s.PutItem(ctx, content.Item{ID: "c"}) // after the backup
	b, err := content.OpenFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if it, err := b.Item(ctx, "a"); err != nil || it.Title != "A" {
		t.Fatalf("backup item a: %+v %v", it, err)
	}
	if st, _ := b.Stats(ctx); st.Items != 2 || st.Seq != 2 {
		t.Fatalf("backup stats %+v", st)
	}
	if _, err := b.PutItem(ctx, content.Item{ID: "x"}); err == nil {
		t.Fatal("wrote to a read-only store")
	}
	if _, err := content.OpenFile(ctx, filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Fatal("opened a missing file read-only")
	}
}
