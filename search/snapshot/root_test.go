package snapshot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
)

func TestRoot_Lock(t *testing.T) {
	r := snapshot.NewRoot(filepath.Join(t.TempDir(), "data"))
	for _, c := range []struct {
		name string
		lock func() (func(), error)
	}{{"rebuild", r.Lock}, {"server", r.LockServer}} {
		t.Run(c.name, func(t *testing.T) {
			unlock, err := c.lock()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.lock(); !errors.Is(err, snapshot.ErrLocked) {
				t.Fatalf("second lock: %v, want ErrLocked", err)
			}
			unlock()
			unlock2, err := c.lock()
			if err != nil {
				t.Fatalf("lock after unlock: %v", err)
			}
			unlock2()
		})
	}
	// The two locks are apart: a rebuild runs beside a server.
	unlock, err := r.LockServer()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	unlockRebuild, err := r.Lock()
	if err != nil {
		t.Fatalf("rebuild lock while a server runs: %v", err)
	}
	unlockRebuild()
}

func TestRoot_Leftovers(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	data := t.TempDir()
	r := snapshot.NewRoot(data)
	if r.Newest() != "" {
		t.Fatalf("Newest of an empty root: %q", r.Newest())
	}
	dir, err := r.Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact})
	if err != nil {
		t.Fatal(err)
	}
	if r.Newest() != dir {
		t.Fatalf("Newest %q, want %q", r.Newest(), dir)
	}
	snap, err := r.Load(ctx, dir, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A working copy beside the store, and what a killed rebuild leaves.
	work, _ := filepath.Glob(filepath.Join(data, ".live-*"))
	if len(work) != 1 {
		t.Fatalf("working copies %v, want one", work)
	}
	partial := filepath.Join(r.Dir(), ".tmp-killed")
	if err := os.MkdirAll(filepath.Join(partial, "text"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.RemovePartial(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("partial snapshot left: %v", err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".live-*")); len(left) != 0 {
		t.Fatalf("Close left working copies: %v", left)
	}
	// A server killed while serving leaves its working copy.
	if err := os.MkdirAll(filepath.Join(data, ".live-123", "text"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.RemoveWorkingCopies(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".live-*")); len(left) != 0 {
		t.Fatalf("working copies left: %v", left)
	}
	if _, _, _, err := r.Latest(ctx); err != nil {
		t.Fatalf("the snapshot itself was touched: %v", err)
	}
}

func TestSnapshot_SaveAs(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	r := snapshot.NewRoot(t.TempDir())
	dir, err := r.Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{Meta: map[string]string{"model": "trained"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Load(ctx, dir, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if err := snap.ItemPut(ctx, content.Item{ID: "zz-new", Title: "Quasar cartography"}); err != nil {
		t.Fatal(err)
	}
	if err := snap.ItemDeleted(ctx, ds.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	pop := map[string]float64{ds.Items[1].ID: 3}
	saved, err := snap.SaveAs(ctx, r, 9, pop, map[string]string{"incremental_from": filepath.Base(dir)})
	if err != nil {
		t.Fatal(err)
	}
	latest, m, _, err := r.Latest(ctx)
	if err != nil || latest != saved {
		t.Fatalf("latest %s (%v), want %s", latest, err, saved)
	}
	if m.Seq != 9 {
		t.Fatalf("manifest seq %d, want 9", m.Seq)
	}
	if m.Meta["model"] != "trained" || m.Meta["incremental_from"] != filepath.Base(dir) || m.Items != len(ds.Items) {
		t.Fatalf("manifest %+v", m)
	}
	again, err := r.Load(ctx, saved, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	res, err := again.Search(ctx, search.Request{Query: "quasar", K: 3, Mode: search.ModeKeyword})
	if err != nil || len(res.Hits) == 0 || res.Hits[0].ID != "zz-new" {
		t.Fatalf("the new item after SaveAs: %+v %v", res, err)
	}
	if _, ok := again.Catalog().Item(ds.Items[0].ID); ok {
		t.Fatal("the deleted item came back")
	}
	top, err := again.Search(ctx, search.Request{K: 1})
	if err != nil || top.Hits[0].ID != ds.Items[1].ID {
		t.Fatalf("popular after SaveAs: %+v %v", top, err)
	}
}

func TestSnapshot_Neighbours(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	ids := make([]string, len(ds.Items))
	for i, it := range ds.Items {
		ids[i] = it.ID
	}
	// Every item points at the next one.
	offsets := make([]int64, len(ids)+1)
	items := make([]int32, len(ids))
	weights := make([]float32, len(ids))
	for i := range ids {
		offsets[i+1] = int64(i + 1)
		items[i] = int32((i + 1) % len(ids))
		weights[i] = 1
	}
	nbrs, err := index.NewNeighbours(ids, offsets, items, weights)
	if err != nil {
		t.Fatal(err)
	}
	// And in the sequence lists at the one before it.
	before := make([]int32, len(ids))
	for i := range ids {
		before[i] = int32((i + len(ids) - 1) % len(ids))
	}
	seq, err := index.NewNeighbours(ids, offsets, before, weights)
	if err != nil {
		t.Fatal(err)
	}
	// And in the nearby lists at the one two after it.
	after := make([]int32, len(ids))
	for i := range ids {
		after[i] = int32((i + 2) % len(ids))
	}
	near, err := index.NewNeighbours(ids, offsets, after, weights)
	if err != nil {
		t.Fatal(err)
	}
	r := snapshot.NewRoot(t.TempDir())
	sources := map[string]float64{search.SourceCF: 1, search.SourceTower: 0.5}
	dir, err := r.Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact, Lists: &snapshot.Lists{Neighbours: nbrs, Sequence: seq, Nearby: near}, Sources: sources, SourceFusion: search.FusionRRF})
	if err != nil {
		t.Fatal(err)
	}
	saved := loadedAndSaved(t, r, dir, func(snap *snapshot.Snapshot) {
		if snap.Manifest.Sources[search.SourceCF] != 1 || snap.Manifest.SourceFusion != "rrf" {
			t.Fatalf("manifest %+v", snap.Manifest)
		}
		res, err := snap.Recommend(ctx, search.Request{History: []string{ids[3]}, Sources: []string{search.SourceCF}, K: 1, Explain: true})
		if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != ids[4] || res.Fusion != search.FusionRRF {
			t.Fatalf("the lists' neighbour of %s: %+v %v", ids[3], res, err)
		}
		res, err = snap.Recommend(ctx, search.Request{History: []string{ids[3]}, Sources: []string{search.SourceSequence}, K: 1, Explain: true})
		if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != ids[2] || res.Hits[0].Explain.Sources[0].Source != search.SourceSequence {
			t.Fatalf("the sequence lists' follower of %s: %+v %v", ids[3], res, err)
		}
		res, err = snap.Recommend(ctx, search.Request{History: []string{ids[3]}, Sources: []string{search.SourceNearby}, K: 1, Explain: true})
		if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != ids[5] || res.Hits[0].Explain.Sources[0].Source != search.SourceNearby {
			t.Fatalf("the nearby lists' neighbour of %s: %+v %v", ids[3], res, err)
		}
	})

	// A manifest naming a source the engine does not know is refused.
	p := filepath.Join(saved, "manifest.json")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"cf": 1`, `"oracle": 1`, 1)), 0o644)
	if _, err := r.Load(ctx, saved, search.StaticHistory{}, search.Options{}); !errors.Is(err, snapshot.ErrBadSnapshot) {
		t.Fatalf("unknown source: %v", err)
	}
}

func TestFitLists(t *testing.T) {
	ctx := context.Background()
	ids := []string{"a", "b", "c", "d"}
	// Oldest first: a → b → c twice, d alone.
	train := [][]int32{{0, 1, 2}, {0, 1, 2}, {3}}
	l, err := snapshot.FitLists(ctx, ids, train, cf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Method != cf.MethodEASE || l.Bytes <= 0 || l.Factored == nil || l.Factored.Users() != 3 {
		t.Fatalf("method %q, %d bytes, factor %v", l.Method, l.Bytes, l.Factored)
	}
	got, err := l.Sequence.Recommend(ctx, []string{"b"}, 3, nil)
	if err != nil || len(got) != 1 || got[0].ID != "c" {
		t.Fatalf("what followed b: %+v %v", got, err)
	}
	got, err = l.Neighbours.Recommend(ctx, []string{"b"}, 3, nil)
	if err != nil || len(got) == 0 || got[0].ID == "d" {
		t.Fatalf("what goes with b: %+v %v", got, err)
	}
	// a met b and c within three places, twice each; d met nothing.
	got, err = l.Nearby.Recommend(ctx, []string{"a"}, 3, nil)
	if err != nil || len(got) != 2 || got[0].ID == "d" || got[1].ID == "d" || got[0].Score != got[1].Score {
		t.Fatalf("what was met close to a: %+v %v", got, err)
	}
	if got, err = l.Nearby.Recommend(ctx, []string{"d"}, 3, nil); err != nil || len(got) != 0 {
		t.Fatalf("what was met close to d: %+v %v", got, err)
	}
	if _, err := snapshot.FitLists(ctx, ids, [][]int32{{0, 9}}, cf.Config{}); err == nil {
		t.Fatal("an item out of range was accepted")
	}
	// More users than the bound, or co-occurrence lists: no factor.
	for _, cfg := range []cf.Config{{MaxExactUsers: 2}, {MaxExactUsers: -1}, {Method: cf.MethodCooccurrence}} {
		l, err := snapshot.FitLists(ctx, ids, train, cfg)
		if err != nil || l.Factored != nil {
			t.Fatalf("%+v: factor %v, %v", cfg, l.Factored, err)
		}
	}
}

// The collaborative source of a snapshot built with a factor answers with
// the factor's exact scores, after a load and after SaveAs.
func TestSnapshot_Factored(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	ids := make([]string, len(ds.Items))
	for i, it := range ds.Items {
		ids[i] = it.ID
	}
	train := make([][]int32, len(ds.History))
	for u, h := range ds.History {
		train[u] = tower.LatestOrder(h)
	}
	lists, err := snapshot.FitLists(ctx, ids, train, cf.Config{})
	if err != nil || lists.Factored == nil {
		t.Fatalf("factor %v, %v", lists.Factored, err)
	}
	history := []string{ids[train[0][0]], ids[train[0][1]], ids[train[1][0]]}
	unseen := index.FilterFunc(func(id string) bool { return !slices.Contains(history, id) })
	want, err := lists.Factored.Recommend(ctx, history, 10, unseen)
	if err != nil || len(want) != 10 {
		t.Fatalf("the factor's own answer: %+v %v", want, err)
	}
	fromLists, err := lists.Neighbours.Recommend(ctx, history, 10, unseen)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(fromLists, want) {
		t.Fatal("the data cannot tell the lists from the factor")
	}
	r := snapshot.NewRoot(t.TempDir())
	dir, err := r.Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact, Lists: lists})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cf.idx")); err != nil {
		t.Fatal(err)
	}
	loadedAndSaved(t, r, dir, func(snap *snapshot.Snapshot) {
		res, err := snap.Recommend(ctx, search.Request{History: history, Sources: []string{search.SourceCF}, K: 10, ExcludeSeen: true, Explain: true})
		if err != nil || len(res.Hits) != len(want) {
			t.Fatalf("%+v %v", res, err)
		}
		for i, h := range res.Hits {
			if h.ID != want[i].ID || h.Explain.Sources[0].Score != float64(want[i].Score) {
				t.Fatalf("hit %d: %s, want the factor's %s (the lists' %v)", i, h.ID, want[i].ID, fromLists)
			}
		}
	})
}

// loadedAndSaved runs check on the snapshot in dir loaded, and on a copy
// SaveAs wrote of it, whose directory it returns.
func loadedAndSaved(t *testing.T, r *snapshot.Root, dir string, check func(*snapshot.Snapshot)) string {
	t.Helper()
	ctx := context.Background()
	snap, err := r.Load(ctx, dir, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(snap)
	saved, err := snap.SaveAs(ctx, r, 2, nil, nil)
	snap.Close()
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Load(ctx, saved, search.StaticHistory{}, search.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	check(again)
	return saved
}
