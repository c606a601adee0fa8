package eval

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

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
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			co := make([]float32, n)
			var touched []int32
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() {
					return
				}
				if i%256 == 0 && ctx.Err() != nil {
					failed.Store(true)
					return
				}
				touched = touched[:0]
				for _, u := range users[i] {
					for _, j := range train[u] {
						if co[j] == 0 {
							touched = append(touched, j)
						}
						co[j]++
					}
				}
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
					nb, sm = bestNeighbours(nb, sm, m.Neighbours)
				}
				m.nbr[i], m.sim[i] = nb, sm
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return ctx.Err()
	}
	return nil
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
// lower item), most similar first. A bounded heap keeps it O(n log k): a
// full sort of every item's co-occurrences dominated the fit.
func bestNeighbours(items []int32, sims []float32, k int) ([]int32, []float32) {
	// worse reports whether neighbour a ranks below neighbour b.
	worse := func(a, b int) bool {
		if sims[a] != sims[b] {
			return sims[a] < sims[b]
		}
		return items[a] > items[b]
	}
	h := make([]int, 0, k) // positions, a min-heap: the worst on top
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			c := l
			if r := l + 1; r < len(h) && worse(h[r], h[l]) {
				c = r
			}
			if !worse(h[c], h[i]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for p := range items {
		if len(h) < k {
			h = append(h, p)
			for i := len(h) - 1; i > 0; {
				parent := (i - 1) / 2
				if !worse(h[i], h[parent]) {
					break
				}
				h[i], h[parent] = h[parent], h[i]
				i = parent
			}
			continue
		}
		if worse(h[0], p) {
			h[0] = p
			down(0)
		}
	}
	nb := make([]int32, len(h))
	sm := make([]float32, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		nb[i], sm[i] = items[h[0]], sims[h[0]]
		h[0] = h[len(h)-1]
		h = h[:len(h)-1]
		down(0)
	}
	return nb, sm
}
