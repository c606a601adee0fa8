package eval

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/tower"
)

// HoldoutScore is how well a model ranks held-out items.
type HoldoutScore struct {
	NDCG   float64 `json:"ndcg"`
	Recall float64 `json:"recall"`
	Users  int     `json:"users"`
}

// HoldoutOptions tunes ScoreHoldout. The zero value scores NDCG@10 and
// Recall@10 over at most 2000 pairs drawn with seed 1.
type HoldoutOptions struct {
	K        int    // cut-off; default 10
	MaxUsers int    // pairs scored at most, drawn when there are more; default 2000, negative: all
	Seed     uint64 // seed of the draw; default 1
}

// ScoreHoldout ranks every item of ds for the pairs (at most
// opts.MaxUsers of them) and reports NDCG@K and Recall@K of the held-out
// item, each pair's history masked; ties go to the lower item index.
// Users and items are embedded from their content and ids
// (UserVectorItems, ItemVector), so a model trained on another version of
// the catalogue is scored on the same footing: this is how a rebuild
// compares a new model with the one it replaces.
func ScoreHoldout(ctx context.Context, m *tower.Model, ds *tower.Dataset, pairs []tower.ValPair, opts HoldoutOptions) (HoldoutScore, error) {
	k, maxUsers, seed := opts.K, opts.MaxUsers, opts.Seed
	if k <= 0 {
		k = 10
	}
	if maxUsers == 0 {
		maxUsers = 2000
	}
	if seed == 0 {
		seed = 1
	}
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
	workers := parallel.Workers(0, len(pairs))
	scores := make([][]float32, workers)
	hist := make([][]content.Item, workers)
	err := parallel.For(ctx, len(pairs), workers, func(w, p int) error {
		if scores[w] == nil {
			scores[w] = make([]float32, len(ds.Items))
		}
		s := scores[w]
		pr := pairs[p]
		hist[w] = hist[w][:0]
		for _, it := range pr.History {
			hist[w] = append(hist[w], ds.Items[it])
		}
		u := m.UserVectorItems(hist[w], nil)
		for i := range s {
			s[i] = vec.Dot(u, items[i*d:(i+1)*d])
		}
		for _, it := range pr.History {
			s[it] = float32(math.Inf(-1))
		}
		target := s[pr.Item]
		rank := 1
		for i, x := range s {
			if x > target || (x == target && int32(i) < pr.Item) {
				rank++
			}
		}
		if rank <= k {
			gains[p] = 1 / math.Log2(float64(rank)+1)
			hits[p] = 1
		}
		return nil
	})
	if err != nil {
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
