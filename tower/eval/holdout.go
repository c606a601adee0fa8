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
	// Every item embedded once, on every core, one column each, so that
	// a block of users is scored against all of them in one product: at a
	// million items, embedding one after another and a dot product an
	// item made this most of a rebuild's validation.
	d, n := m.Dim(), len(ds.Items)
	itemsT := make([]float32, d*n)
	err := parallel.Range(ctx, n, 0, 256, func(_, lo, hi int) error {
		v := make([]float32, d)
		for i := lo; i < hi; i++ {
			v = m.ItemVector(ds.Items[i], v)
			for c, x := range v {
				itemsT[c*n+i] = x
			}
		}
		return nil
	})
	if err != nil {
		return HoldoutScore{}, err
	}
	gains := make([]float64, len(pairs))
	hits := make([]float64, len(pairs))
	blocks := (len(pairs) + holdoutBlock - 1) / holdoutBlock
	workers := parallel.Workers(0, blocks)
	type scratch struct {
		scores, us []float32
		hist       []content.Item
	}
	bufs := make([]*scratch, workers)
	err = parallel.For(ctx, blocks, workers, func(w, blk int) error {
		b := bufs[w]
		if b == nil {
			b = &scratch{scores: make([]float32, holdoutBlock*n), us: make([]float32, holdoutBlock*d)}
			bufs[w] = b
		}
		lo, hi := blk*holdoutBlock, min((blk+1)*holdoutBlock, len(pairs))
		rows := hi - lo
		for r := range rows {
			b.hist = b.hist[:0]
			for _, it := range pairs[lo+r].History {
				b.hist = append(b.hist, ds.Items[it])
			}
			u := b.us[r*d : (r+1)*d]
			copy(u, m.UserVectorItems(b.hist, u))
		}
		scores := b.scores[:rows*n]
		clear(scores)
		vec.MatMulAdd(scores, b.us[:rows*d], itemsT, rows, d, n)
		for r := range rows {
			p := lo + r
			pr := pairs[p]
			s := scores[r*n : (r+1)*n]
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

// holdoutBlock is how many users ScoreHoldout scores in one product.
const holdoutBlock = 16
