package index

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"unsafe"
)

// TestHNSW_UpsertAll: a graph filled by batches linked side by side finds
// what one filled an add at a time finds, holds every vector under its
// id, replaces an id given again, and refuses a vector of the wrong size.
func TestHNSW_UpsertAll(t *testing.T) {
	ctx := context.Background()
	for _, c := range recallCases(11) {
		t.Run(c.name, func(t *testing.T) {
			one, exact := buildHNSW(t, c.data, HNSWOptions{Seed: 1})
			bulk, err := NewHNSW(c.data.dim, HNSWOptions{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			// In blocks, as a snapshot's build hands them over.
			const block = 3000
			for lo := 0; lo < c.data.len(); lo += block {
				hi := min(lo+block, c.data.len())
				if err := bulk.UpsertAll(ctx, c.data.ids[lo:hi], c.data.vecs[lo*c.data.dim:hi*c.data.dim], 2); err != nil {
					t.Fatal(err)
				}
			}
			if bulk.Len() != c.data.len() {
				t.Fatalf("%d items, want %d", bulk.Len(), c.data.len())
			}
			for i, id := range c.data.ids {
				v, ok := bulk.Vector(id)
				if !ok {
					t.Fatalf("%s missing", id)
				}
				for k, x := range c.data.row(i) {
					if d := v[k] - x; d > 1e-6 || d < -1e-6 {
						t.Fatalf("%s: component %d is %v, want %v", id, k, v[k], x)
					}
				}
			}
			one.SetEfSearch(c.ef)
			bulk.SetEfSearch(c.ef)
			r1, rb := recallAt(t, one, exact, c.q, 10, nil), recallAt(t, bulk, exact, c.q, 10, nil)
			t.Logf("recall@10 at ef %d: one at a time %.4f, in batches %.4f", c.ef, r1, rb)
			if rb < 0.95 || rb < r1-0.01 {
				t.Fatalf("recall@10 in batches %.4f, one at a time %.4f", rb, r1)
			}
		})
	}
	t.Run("replaces", func(t *testing.T) {
		d := randomData(300, 8, 14)
		h, _ := NewHNSW(d.dim, HNSWOptions{Seed: 1})
		if err := h.UpsertAll(ctx, d.ids, d.vecs, 2); err != nil {
			t.Fatal(err)
		}
		again := randomData(300, 8, 15)
		if err := h.UpsertAll(ctx, d.ids[:100], again.vecs[:100*d.dim], 2); err != nil {
			t.Fatal(err)
		}
		if h.Len() != 300 {
			t.Fatalf("%d items after replacing 100 of 300", h.Len())
		}
		res, err := h.Search(ctx, again.row(7), 1, nil)
		if err != nil || len(res) != 1 || res[0].ID != d.ids[7] || res[0].Score < 0.999 {
			t.Fatalf("the replaced vector is not found under its id: %+v %v", res, err)
		}
	})
	t.Run("bad vector", func(t *testing.T) {
		// One bad vector among good ones: nothing is added.
		d := randomData(200, 8, 16)
		for _, bad := range []float32{0, float32(math.NaN())} {
			vecs := slices.Clone(d.vecs)
			for k := range d.dim {
				vecs[150*d.dim+k] = bad
			}
			h, _ := NewHNSW(d.dim, HNSWOptions{})
			if err := h.UpsertAll(ctx, d.ids, vecs, 2); err == nil || h.Len() != 0 {
				t.Fatalf("component %v: err %v, %d items", bad, err, h.Len())
			}
		}
	})
	t.Run("wrong size", func(t *testing.T) {
		h, _ := NewHNSW(8, HNSWOptions{})
		if err := h.UpsertAll(ctx, []string{"a", "b"}, make([]float32, 15), 2); !errors.Is(err, ErrDimension) || h.Len() != 0 {
			t.Fatalf("err %v, %d items", err, h.Len())
		}
	})
}

// TestHNSW_Grow: a graph grown for its size first fills without moving
// its arrays, and answers exactly as one that grew as it went.
func TestHNSW_Grow(t *testing.T) {
	ctx := context.Background()
	d := randomData(2000, 16, 17)
	build := func(grow bool) *HNSW {
		h, err := NewHNSW(d.dim, HNSWOptions{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if grow {
			h.Grow(d.len())
		}
		vecs, links := unsafe.SliceData(h.vecs), unsafe.SliceData(h.links0)
		for lo := 0; lo < d.len(); lo += 300 {
			hi := min(lo+300, d.len())
			// One worker: the same schedule, so the same graph.
			if err := h.UpsertAll(ctx, d.ids[lo:hi], d.vecs[lo*d.dim:hi*d.dim], 1); err != nil {
				t.Fatal(err)
			}
		}
		if moved := unsafe.SliceData(h.vecs) != vecs || unsafe.SliceData(h.links0) != links; grow && moved {
			t.Fatal("the arrays moved after Grow")
		}
		return h
	}
	grown, grew := build(true), build(false)
	for i := range 50 {
		a, err := grown.Search(ctx, d.row(i), 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := grew.Search(ctx, d.row(i), 10, nil)
		if !slices.Equal(a, b) {
			t.Fatalf("query %d: %v after Grow, %v without", i, a, b)
		}
	}
}

// BenchmarkHNSWFill fills a graph of 20,000 clustered vectors: one Add at
// a time, Adds from two goroutines, and UpsertAll with two workers.
func BenchmarkHNSWFill(b *testing.B) {
	d, _ := benchData(b)
	ctx := context.Background()
	fills := []struct {
		name string
		fill func(h *HNSW) error
	}{
		{"add", func(h *HNSW) error { return addParallel(ctx, h, d.ids, d.vecs, d.dim, 1) }},
		{"add-2-goroutines", func(h *HNSW) error { return addParallel(ctx, h, d.ids, d.vecs, d.dim, 2) }},
		{"upsertall-2-workers", func(h *HNSW) error { return h.UpsertAll(ctx, d.ids, d.vecs, 2) }},
	}
	for _, f := range fills {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				h, _ := NewHNSW(d.dim, HNSWOptions{Seed: 1})
				if err := f.fill(h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
