package topk

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// bestK is the reference: a full sort, best first, ties to the lower id.
func bestK(in []Scored, k int) []Scored {
	s := slices.Clone(in)
	SortBest(s)
	return s[:min(k, len(s))]
}

func randomScored(n int, distinct int, seed uint64) []Scored {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]Scored, n)
	for i := range out {
		out[i] = Scored{int32(i), float32(r.IntN(distinct))}
	}
	r.Shuffle(n, func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestHeap(t *testing.T) {
	tests := []struct {
		name        string
		n, k, ranks int
	}{
		{"empty", 0, 5, 10},
		{"k zero", 50, 0, 10},
		{"k one", 50, 1, 1000},
		{"fewer than k", 7, 10, 1000},
		{"many ties", 500, 20, 3},
		{"distinct", 1000, 64, 1 << 20},
		{"k equals n", 64, 64, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := randomScored(tc.n, tc.ranks, uint64(tc.n+tc.k))
			h := New(tc.k)
			for _, s := range in {
				h.Push(s.ID, s.Score)
			}
			if got, want := h.Len(), min(tc.k, tc.n); got != want {
				t.Fatalf("Len %d, want %d", got, want)
			}
			want := bestK(in, tc.k)
			// Which of several tied pairs at the cut is kept depends on
			// arrival; the scores kept do not.
			got := h.Sorted()
			for i := range want {
				if got[i].Score != want[i].Score {
					t.Fatalf("rank %d: score %v, want %v", i, got[i].Score, want[i].Score)
				}
			}
			if !slices.IsSortedFunc(got, func(a, b Scored) int {
				if a.Score != b.Score {
					return -cmpFloat(a.Score, b.Score)
				}
				return int(a.ID - b.ID)
			}) {
				t.Fatalf("Sorted is not best first, ties by id: %v", got)
			}
		})
	}
}

func cmpFloat(a, b float32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestHeap_ResetAndUse(t *testing.T) {
	h := New(2)
	h.Push(1, 1)
	h.Push(2, 2)
	h.Push(3, 3)
	if !h.Full() || h.Worst() != 2 {
		t.Fatalf("full %v worst %v, want full with worst 2", h.Full(), h.Worst())
	}
	h.Reset(1)
	if h.Len() != 0 || h.Full() {
		t.Fatalf("after Reset: Len %d Full %v", h.Len(), h.Full())
	}
	buf := make([]Scored, 0, 8)
	h.Use(3, buf)
	for i := range 5 {
		h.Push(int32(i), float32(i))
	}
	got := h.Sorted()
	if want := []Scored{{4, 4}, {3, 3}, {2, 2}}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if &got[0] != &buf[:1][0] {
		t.Fatal("Use did not keep the pairs in the given buffer")
	}
}

func TestMaxPop(t *testing.T) {
	in := randomScored(300, 50, 9)
	var h []Scored
	for _, s := range in {
		h = append(h, s)
		MaxUp(h, len(h)-1)
	}
	var got []float32
	for len(h) > 0 {
		var top Scored
		top, h = MaxPop(h)
		got = append(got, top.Score)
	}
	if !slices.IsSortedFunc(got, func(a, b float32) int { return cmpFloat(b, a) }) || len(got) != len(in) {
		t.Fatalf("MaxPop did not return every pair, highest first: %v", got)
	}
}

func TestOf(t *testing.T) {
	type hit struct {
		score float64
		doc   int
	}
	// Bleve's order: score, then the earlier document.
	better := func(a, b hit) bool {
		if a.score != b.score {
			return a.score > b.score
		}
		return a.doc < b.doc
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{0, 1, 5, 40, 500} {
		var in []hit
		for d := range 300 {
			in = append(in, hit{float64(r.IntN(20)), d})
		}
		r.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		o := NewOf(k, better)
		kept := offer(in, o.Push)
		want := bestBy(in, k, better)
		if o.Full() != (k <= len(in)) {
			t.Fatalf("k %d: Full %v", k, o.Full())
		}
		got := o.Sorted()
		// With a total order the k best are one set, whatever the
		// arrival order.
		if !slices.Equal(got, want) {
			t.Fatalf("k %d: got %v, want %v", k, got, want)
		}
		if o.Len() != 0 {
			t.Fatalf("k %d: Sorted left %d values", k, o.Len())
		}
		if kept < len(want) {
			t.Fatalf("k %d: Push reported %d kept, fewer than the %d returned", k, kept, len(want))
		}
	}
}

func TestKeyHeap(t *testing.T) {
	type kv = Keyed[float64, uint32]
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range []int{0, 1, 7, 64, 300, 500} {
		in := make([]kv, 300)
		for i, key := range r.Perm(len(in)) {
			in[i] = kv{Score: float64(r.IntN(12)), Key: uint32(key)} // many ties
		}
		var h KeyHeap[float64, uint32]
		h.Use(k, make([]kv, 0, 4))
		kept := offer(in, h.Push)
		want := bestBy(in, k, func(a, b kv) bool {
			return a.Score > b.Score || a.Score == b.Score && a.Key < b.Key
		})
		if h.Len() != len(want) || h.Full() != (k <= len(in)) {
			t.Fatalf("k %d: Len %d Full %v", k, h.Len(), h.Full())
		}
		if len(want) > 0 && h.Worst() != want[len(want)-1] {
			t.Fatalf("k %d: Worst %v, want %v", k, h.Worst(), want[len(want)-1])
		}
		// Ties are broken by key, so the k best are one list whatever
		// the arrival order.
		if got := h.Sorted(); !slices.Equal(got, want) {
			t.Fatalf("k %d: got %v, want %v", k, got, want)
		}
		if kept < len(want) {
			t.Fatalf("k %d: Push reported %d kept, fewer than the %d returned", k, kept, len(want))
		}
		h.Reset(1)
		if h.Push(kv{1, 2}); !h.Push(kv{1, 1}) || h.Push(kv{1, 3}) || h.Worst() != (kv{1, 1}) {
			t.Fatalf("k %d: after Reset(1) the lower key does not win the tie: %v", k, h.Sorted())
		}
	}
}

// offer pushes the values of in and returns how many push reported kept.
func offer[T any](in []T, push func(T) bool) (kept int) {
	for _, x := range in {
		if push(x) {
			kept++
		}
	}
	return kept
}

// bestBy is the reference: the k best of in under better, by a full sort.
func bestBy[T any](in []T, k int, better func(a, b T) bool) []T {
	s := slices.Clone(in)
	slices.SortStableFunc(s, func(a, b T) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	return s[:min(k, len(s))]
}

// The heaps side by side: Heap's and KeyHeap's sifts have their order
// written in, Of's go through a comparison function. Run with -bench Push.
func BenchmarkPush(b *testing.B) {
	in := randomScored(1<<16, 1<<30, 1)
	b.Run("Heap", func(b *testing.B) {
		h := New(256)
		for b.Loop() {
			h.Reset(256)
			for _, s := range in {
				h.Push(s.ID, s.Score)
			}
		}
	})
	b.Run("KeyHeap", func(b *testing.B) {
		var h KeyHeap[float32, int32]
		for b.Loop() {
			h.Reset(256)
			for _, s := range in {
				h.Push(Keyed[float32, int32]{Score: s.Score, Key: s.ID})
			}
		}
	})
	b.Run("Of", func(b *testing.B) {
		o := NewOf(256, func(a, b Scored) bool { return a.Score > b.Score })
		for b.Loop() {
			o.Reset(256)
			for _, s := range in {
				o.Push(s)
			}
		}
	})
}
