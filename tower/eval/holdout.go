package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/tower"
)

// HoldoutScore is how well a model ranks held-out items.
type HoldoutScore struct {
	NDCG   float64 `json:"ndcg"`
	Recall float64 `json:"recall"`
	Users  int     `json:"users"`
}

// ScoreHoldout ranks every item of ds for at most maxUsers of the pairs
// (drawn with seed when there are more) and reports NDCG@k and Recall@k of
// the held-out item, each pair's history masked. Users and items are
// embedded from their content and ids (UserVectorItems, ItemVector), so a
// model trained on another version of the catalogue is scored on the same
// footing: this is how a rebuild compares a new model with the one it
// replaces.
func ScoreHoldout(ctx context.Context, m *tower.Model, ds *tower.Dataset, pairs []tower.ValPair, k, maxUsers int, seed uint64) (HoldoutScore, error) {
	if maxUsers > 0 && len(pairs) > maxUsers {
		pairs = append([]tower.ValPair(nil), pairs...)
		rand.New(rand.NewPCG(seed, 7)).Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
		pairs = pairs[:maxUsers]
	}
	d := m.Dim()
	items := make([]float32, len(ds.Items)*d)
	for i := range ds.Items {
		m.ItemVector(ds.Items[i], items[i*d:(i+1)*d])
	}
	gains := make([]float64, len(pairs))
	hits := make([]float64, len(pairs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			scores := make([]float32, len(ds.Items))
			var hist []content.Item
			for p := range next {
				pr := pairs[p]
				hist = hist[:0]
				for _, it := range pr.History {
					hist = append(hist, ds.Items[it])
				}
				u := m.UserVectorItems(hist, nil)
				for i := range scores {
					scores[i] = vec.Dot(u, items[i*d:(i+1)*d])
				}
				for _, it := range pr.History {
					scores[it] = float32(math.Inf(-1))
				}
				target := scores[pr.Item]
				rank := 1
				for i, s := range scores {
					if s > target || (s == target && int32(i) < pr.Item) {
						rank++
					}
				}
				if rank <= k {
					gains[p] = 1 / math.Log2(float64(rank)+1)
					hits[p] = 1
				}
			}
		})
	}
	for p := range pairs {
		if ctx.Err() != nil {
			break
		}
		next <- p
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return HoldoutScore{}, err
	}
	var s HoldoutScore
	for p := range pairs {
		s.NDCG += gains[p]
		s.Recall += hits[p]
	}
	if len(pairs) > 0 {
		s.NDCG /= float64(len(pairs))
		s.Recall /= float64(len(pairs))
	}
	s.Users = len(pairs)
	return s, nil
}
