package index

import (
	"context"
	"sync"
	"testing"
)

// reachable returns how many nodes a walk of layer 0 from the entry point
// reaches.
func reachable(h *HNSW) int {
	ep, _, ok := h.loadTop()
	if !ok {
		return 0
	}
	seen := make([]bool, len(h.ids))
	seen[ep] = true
	stack := []int32{ep}
	n := 1
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		sl := h.slot(i, 0)
		for _, e := range sl[1 : 1+sl[0]] {
			if !seen[e] {
				seen[e] = true
				n++
				stack = append(stack, e)
			}
		}
	}
	return n
}

// TestHNSW_ParallelBuildConnected builds with more goroutines than cores,
// so that adds interleave as much as possible, and checks that no link was
// lost on the way: nearly every node stays reachable on layer 0, every
// list is within its capacity and free of self-links and duplicates, and
// every node keeps a neighbour on each level it shares with others.
func TestHNSW_ParallelBuildConnected(t *testing.T) {
	d := clusteredData(sized(20000, 2000), 16, 40, 11)
	for _, workers := range []int{1, 8} {
		h, err := NewHNSW(d.dim, HNSWOptions{M: 6, EfConstruction: 40, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		if err := addParallel(context.Background(), h, d.ids, d.vecs, d.dim, workers); err != nil {
			t.Fatal(err)
		}
		// Pruning alone can strand a node now and then (about one in
		// 20,000 here, with one worker as with eight); lost links
		// would strand many.
		got := reachable(h)
		t.Logf("%d workers: %d of %d nodes reachable on layer 0", workers, got, d.len())
		if d.len()-got > d.len()/1000 {
			t.Errorf("%d workers: only %d of %d nodes reachable on layer 0", workers, got, d.len())
		}
		// perLevel[l] counts the nodes on level l: one alone there has
		// nobody to link to.
		perLevel := make([]int, maxLevel+1)
		for _, lv := range h.levels {
			for l := 0; l <= int(lv); l++ {
				perLevel[l]++
			}
		}
		for i := range int32(len(h.ids)) {
			for l := 0; l <= int(h.levels[i]); l++ {
				sl := h.slot(i, l)
				n := int(sl[0])
				if (n == 0 && perLevel[l] > 1) || n > len(sl)-1 {
					t.Fatalf("%d workers: node %d level %d has %d neighbours", workers, i, l, n)
				}
				seen := map[int32]bool{}
				for _, e := range sl[1 : 1+n] {
					if e == i || seen[e] || int(h.levels[e]) < l {
						t.Fatalf("%d workers: node %d level %d: bad neighbour %d in %v", workers, i, l, e, sl[1:1+n])
					}
					seen[e] = true
				}
			}
		}
	}
}

// TestHNSW_SearchDuringAdds runs searches while other goroutines add, the
// case the lock-free reads of neighbour lists are for; the race detector
// checks the accesses.
func TestHNSW_SearchDuringAdds(t *testing.T) {
	d := clusteredData(sized(6000, 1500), 16, 20, 12)
	h, err := NewHNSW(d.dim, HNSWOptions{M: 8, EfConstruction: 50, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	half := d.len() / 2
	if err := addParallel(context.Background(), h, d.ids[:half], d.vecs[:half*d.dim], d.dim, 2); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		rest := d.ids[half:]
		if err := addParallel(context.Background(), h, rest, d.vecs[half*d.dim:], d.dim, 2); err != nil {
			t.Error(err)
		}
	})
	for g := range 2 {
		wg.Go(func() {
			for i := g; i < half; i += 7 {
				res, err := h.SearchEf(context.Background(), d.row(i), 5, 32, nil)
				if err != nil {
					t.Error(err)
					return
				}
				checkSorted(t, res)
			}
		})
	}
	wg.Wait()
	if h.Len() != d.len() {
		t.Fatalf("len %d, want %d", h.Len(), d.len())
	}
}
