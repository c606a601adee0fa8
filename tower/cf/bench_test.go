package cf_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/duetrec/duet/tower/cf"
)

// benchHistories are users histories of distinct items drawn with a
// Zipf-like skew, as catalogues have: n items, about perUser each.
func benchHistories(n, users, perUser int) [][]int32 {
	r := rand.New(rand.NewPCG(7, uint64(n)))
	z := rand.NewZipf(r, 1.1, 10, uint64(n-1))
	train := make([][]int32, users)
	for u := range train {
		seen := map[int32]bool{}
		for range 1 + r.IntN(2*perUser) {
			it := int32(z.Uint64())
			if !seen[it] {
				seen[it] = true
				train[u] = append(train[u], it)
			}
		}
	}
	return train
}

// BenchmarkLists measures the lists a snapshot builds beside the
// collaborative ones, at the shape of `duet gen`'s catalogues (a user per
// five items, about 30 events a user). docs/BENCHMARKS.md has the figures.
func BenchmarkLists(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		train := benchHistories(n, n/5, 30)
		for _, l := range []struct {
			name string
			fit  func(context.Context, int, [][]int32, cf.Config) (*cf.Lists, error)
		}{{"sequence", cf.FitSequence}, {"nearby", cf.FitNearby}} {
			b.Run(fmt.Sprintf("%s/items=%d", l.name, n), func(b *testing.B) {
				var lists *cf.Lists
				for b.Loop() {
					var err error
					if lists, err = l.fit(context.Background(), n, train, cf.Config{}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(lists.Bytes())/float64(n), "B/item")
			})
		}
	}
}
