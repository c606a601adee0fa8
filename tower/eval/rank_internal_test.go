package eval

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The bounded selections must equal a full sort under the same order, ties
// included: the reports' figures depend on which tied item makes the cut.

func TestRanker_MatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var rk ranker
	for trial := range 200 {
		n := 1 + r.IntN(80)
		rk.scores = make([]float32, n)
		var rankable []int32
		for i := range rk.scores {
			switch r.IntN(8) {
			case 0:
				rk.scores[i] = float32(math.Inf(-1))
			case 1:
				rk.scores[i] = float32(math.NaN())
			default:
				rk.scores[i] = float32(r.IntN(1 + trial%4))
				rankable = append(rankable, int32(i))
			}
		}
		u, k := int32(trial), 1+r.IntN(n)
		got := rk.top(u, k)

		slices.SortFunc(rankable, func(a, b int32) int { return order(rk.better(a, b), rk.better(b, a)) })
		if want := rankable[:min(k, len(rankable))]; !slices.Equal(got, want) {
			t.Fatalf("trial %d: got %v, want %v", trial, got, want)
		}
	}
}

func order(aFirst, bFirst bool) int {
	switch {
	case aFirst:
		return -1
	case bFirst:
		return 1
	}
	return 0
}

func TestBucketOf(t *testing.T) {
	for _, tc := range []struct{ n, want int }{{0, 0}, {9, 0}, {10, 1}, {29, 1}, {30, 2}, {299, 3}, {300, 4}, {5000, 4}} {
		if got := bucketOf(tc.n); got != tc.want {
			t.Errorf("bucketOf(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
