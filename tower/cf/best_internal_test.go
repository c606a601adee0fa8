package cf

import (
	"math/rand/v2"
	"testing"

	"github.com/duetrec/duet/internal/topk"
)

// The bounded selection must equal a full sort under the same order, ties
// included: which tied item makes the cut changes the rankings.
func TestBest_MatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var heap topk.KeyHeap[float32, int32]
	for trial := range 200 {
		n := 1 + r.IntN(60)
		items := make([]int32, n)
		sims := make([]float32, n)
		for i, it := range r.Perm(n) {
			items[i] = int32(it)
			sims[i] = float32(r.IntN(1 + trial%5)) // many ties
		}
		k := 1 + r.IntN(n)
		nb, sm := best(&heap, items, sims, k)

		// Most similar first, ties to the lower item.
		all := make([]topk.Scored, n)
		for i := range items {
			all[i] = topk.Scored{ID: items[i], Score: sims[i]}
		}
		topk.SortBest(all)
		for i, want := range all[:k] {
			if nb[i] != want.ID || sm[i] != want.Score {
				t.Fatalf("trial %d rank %d: got %d (%v), want %d (%v)", trial, i, nb[i], sm[i], want.ID, want.Score)
			}
		}
		if len(nb) != k {
			t.Fatalf("trial %d: %d neighbours, want %d", trial, len(nb), k)
		}
	}
}
