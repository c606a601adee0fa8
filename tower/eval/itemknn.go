package eval

import (
	"context"
	"fmt"

	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
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

	lists *cf.Lists
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
	lists, err := cf.Cooccurrence(ctx, len(ds.Items), train, m.Shrink, m.Neighbours)
	if err != nil {
		return fmt.Errorf("itemknn: %w", err)
	}
	m.lists = lists
	return nil
}

// Score adds up, for every history item, its similarity to each of its
// neighbours.
func (m *ItemKNN) Score(_ int32, history []int32, scores []float32) {
	if m.lists == nil || len(scores) != m.lists.Len() {
		return // not fitted, or fitted on another catalogue
	}
	m.lists.Score(history, scores)
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
