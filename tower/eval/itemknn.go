package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/tower"
)

// ItemKNN scores an item by the sum of its cosine similarities to the items
// in the user's history. Similarity is taken on the binary user×item
// training matrix: co-occurrences / (sqrt(users of i · users of j) +
// Shrink). Each item keeps only its Neighbours most similar items.
type ItemKNN struct {
	// Neighbours per item; 0 keeps every item with a co-occurrence.
	Neighbours int
	// Shrink damps similarities resting on few users.
	Shrink float64
	// Grid lists the neighbour counts Candidates tries (nil: Neighbours,
	// then 20, 50, 100, 200 and all).
	Grid []int

	// nbr[i] and sim[i] are item i's neighbours.
	nbr [][]int32
	sim [][]float32
}

// Name returns "itemknn".
func (m *ItemKNN) Name() string { return "itemknn" }

// Params returns the neighbour count and the shrinkage.
func (m *ItemKNN) Params() map[string]any {
	return map[string]any{"neighbours": m.Neighbours, "shrink": m.Shrink}
}

// Candidates returns one model per neighbour count of the grid.
func (m *ItemKNN) Candidates() []Recommender {
	grid := m.Grid
	if grid == nil {
		grid = uniq(m.Neighbours, 20, 50, 100, 200, 0)
	}
	out := make([]Recommender, len(grid))
	for i, n := range grid {
		out[i] = &ItemKNN{Neighbours: n, Shrink: m.Shrink}
	}
	return out
}

// Fit computes every item's neighbours. Items are shared among cores; each
// accumulates one item's co-occurrences over the users who have it.
func (m *ItemKNN) Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	if m.Neighbours < 0 || m.Shrink < 0 {
		return fmt.Errorf("itemknn: neighbours %d and shrink %v must not be negative", m.Neighbours, m.Shrink)
	}
	n := len(ds.Items)
	users := make([][]int32, n) // users of each item
	for u, h := range train {
		for _, it := range h {
			users[it] = append(users[it], int32(u))
		}
	}
	m.nbr = make([][]int32, n)
	m.sim = make([][]float32, n)
	type scratch struct {
		co      []float32 // co-occurrences with the item, by item
		touched []int32   // the items with a nonzero co
		best    topk.KeyHeap[float32, int32]
	}
	workers := parallel.Workers(0, n)
	scr := make([]scratch, workers)
	return parallel.For(ctx, n, workers, func(w, i int) error {
		sc := &scr[w]
		if sc.co == nil {
			sc.co = make([]float32, n)
		}
		co := sc.co
		touched := sc.touched[:0]
		for _, u := range users[i] {
			for _, j := range train[u] {
				if co[j] == 0 {
					touched = append(touched, j)
				}
				co[j]++
			}
		}
		sc.touched = touched
		var nb []int32
		var sm []float32
		ni := float64(len(users[i]))
		for _, j := range touched {
			if int(j) != i {
				s := float64(co[j]) / (math.Sqrt(ni*float64(len(users[j]))) + m.Shrink)
				nb = append(nb, j)
				sm = append(sm, float32(s))
			}
			co[j] = 0
		}
		if m.Neighbours > 0 && len(nb) > m.Neighbours {
			nb, sm = bestNeighbours(&sc.best, nb, sm, m.Neighbours)
		}
		m.nbr[i], m.sim[i] = nb, sm
		return nil
	})
}

// Score adds up, for every history item, its similarity to each of its
// neighbours.
func (m *ItemKNN) Score(_ int32, history []int32, scores []float32) {
	if len(scores) != len(m.nbr) {
		return // not fitted, or fitted on another catalogue
	}
	for _, h := range history {
		if h < 0 || int(h) >= len(m.nbr) {
			continue
		}
		sim := m.sim[h]
		for k, j := range m.nbr[h] {
			scores[j] += sim[k]
		}
	}
}

// uniq returns its arguments without repeats, in order.
func uniq[T comparable](xs ...T) []T {
	var out []T
	for _, x := range xs {
		dup := false
		for _, y := range out {
			dup = dup || x == y
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}

// bestNeighbours returns the k most similar of the neighbours (ties to the
// lower item, which is Keyed's order), most similar first, using best as
// scratch. A bounded heap keeps it O(n log k): a full sort of every item's
// co-occurrences dominated the fit.
func bestNeighbours(best *topk.KeyHeap[float32, int32], items []int32, sims []float32, k int) ([]int32, []float32) {
	best.Reset(k)
	for p, it := range items {
		best.Push(topk.Keyed[float32, int32]{Score: sims[p], Key: it})
	}
	kept := best.Sorted()
	nb := make([]int32, len(kept))
	sm := make([]float32, len(kept))
	for i, s := range kept {
		nb[i], sm[i] = s.Key, s.Score
	}
	return nb, sm
}
