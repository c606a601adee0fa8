package index

import (
	"context"
	"math/rand"
	"slices"
	"testing"

	"github.com/coder/hnsw"

	"github.com/duetrec/duet/internal/race"
)

// These tests pin down what the CoderHNSW documentation says about
// github.com/coder/hnsw v0.6.1, so that a fixed release shows up as a
// failing test here and the workarounds can go.

func coderGraph(d dataset) *hnsw.Graph[int32] {
	g := hnsw.NewGraph[int32]()
	g.Rng = rand.New(rand.NewSource(1))
	for i := range d.len() {
		g.Add(hnsw.MakeNode(int32(i), slices.Clone(d.row(i))))
	}
	return g
}

func coderSize() int {
	if race.Enabled {
		return 500
	}
	return 5000
}

// TestCoderUpstream_Recall measures the raw library's recall@10 with its
// default settings against ours on the same clustered data.
func TestCoderUpstream_Recall(t *testing.T) {
	d, q := clusteredData(coderSize(), 64, 50, 31), clusteredQueries(100, 64, 50, 31)
	g := coderGraph(d)
	e, _ := NewExact(64)
	build(t, e, d)
	ctx := context.Background()
	var raw float64
	for i := range q.len() {
		want, _ := e.Search(ctx, q.row(i), 10, nil)
		got := g.Search(q.row(i), 10)
		in := map[string]bool{}
		for _, w := range want {
			in[w.ID] = true
		}
		for _, n := range got {
			if in[d.ids[n.Key]] {
				raw++
			}
		}
	}
	raw /= float64(10 * q.len())
	h, _ := NewHNSW(64, HNSWOptions{Seed: 1})
	build(t, h, d)
	ours := recallAt(t, h, e, q, 10, nil)
	c, _ := NewCoderHNSW(64, CoderOptions{Seed: 1})
	build(t, c, d)
	adapted := recallAt(t, c, e, q, 10, nil)
	t.Logf("recall@10 on %d clustered: coder/hnsw raw %.3f, CoderHNSW adapter %.3f, HNSW %.3f", d.len(), raw, adapted, ours)
	if raw > ours-0.3 {
		t.Errorf("coder/hnsw raw recall %.3f is no longer far below ours (%.3f): has it been fixed?", raw, ours)
	}
}

// TestCoderUpstream_Unsorted shows that raw results are not in order of
// distance: the library's heap is not kept as one.
func TestCoderUpstream_Unsorted(t *testing.T) {
	d, q := clusteredData(sized(2000, 500), 32, 20, 32), clusteredQueries(50, 32, 20, 32)
	g := coderGraph(d)
	unsorted := 0
	for i := range q.len() {
		got := g.Search(q.row(i), 10)
		dist := make([]float32, len(got))
		for j, n := range got {
			dist[j] = hnsw.CosineDistance(q.row(i), n.Value)
		}
		if !slices.IsSorted(dist) {
			unsorted++
		}
	}
	t.Logf("%d of %d raw result lists out of order", unsorted, q.len())
	if unsorted == 0 {
		t.Error("coder/hnsw results came sorted: has it been fixed?")
	}
}

// TestCoderUpstream_DeletePanics shows Search panicking after Delete, which
// is why the adapter never calls Delete.
func TestCoderUpstream_DeletePanics(t *testing.T) {
	d := clusteredData(500, 16, 5, 33)
	g := coderGraph(d)
	for i := range d.len() {
		g.Delete(int32(i))
	}
	err := guard(func() { g.Search(d.row(0), 5) })
	t.Logf("Search after deleting every node: %v", err)
	if err == nil {
		t.Error("Search after Delete did not panic: has it been fixed?")
	}
	g = coderGraph(d)
	panics := 0
	for i := 0; i < d.len(); i += 2 {
		g.Delete(int32(i))
		if guard(func() { g.Search(d.row(i+1), 5) }) != nil {
			panics++
		}
	}
	t.Logf("Search panicked after %d of %d single deletes", panics, d.len()/2)
}

// TestCoderHNSW_Guards checks the adapter against the same abuse: deletes,
// re-adds of deleted ids, upserts, all without a panic, and results sorted.
func TestCoderHNSW_Guards(t *testing.T) {
	ctx := context.Background()
	d := clusteredData(500, 16, 5, 34)
	c, _ := NewCoderHNSW(16, CoderOptions{Seed: 2})
	build(t, c, d)
	for i := range d.len() {
		if err := c.Delete(d.ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := c.Search(ctx, d.row(0), 5, nil); err != nil || len(res) != 0 {
		t.Fatalf("search of an all-deleted index: %v %v", res, err)
	}
	for i := range 50 {
		if err := c.Add(d.ids[i], d.row(i)); err != nil {
			t.Fatal(err)
		}
		if err := c.Upsert(d.ids[i], d.row(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := c.Search(ctx, d.row(3), 10, nil)
	if err != nil || len(res) == 0 {
		t.Fatalf("after re-adds: %v %v", res, err)
	}
	checkSorted(t, res)
	if c.Len() != 50 {
		t.Fatalf("Len %d", c.Len())
	}
}
