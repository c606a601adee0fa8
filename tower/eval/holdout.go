package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

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
	// Items, when set, are the model's vectors of ds.Items
	// (tower.Model.ItemVectors), which ScoreHoldout otherwise computes.
	Items []float32
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
	// Every item embedded once, on every core (tower.Model.ItemVectors),
	// and laid out in chunks of holdoutChunk items, one column each, so
	// that a block of users is scored against a chunk in one product
	// while the chunk stays in cache. Scoring every item in one product
	// streamed all of them from memory once per user: at a million items
	// that was most of a rebuild's validation.
	d, n := m.Dim(), len(ds.Items)
	items := opts.Items
	if items == nil {
		var err error
		if items, err = m.ItemVectors(ctx, ds.Items, nil); err != nil {
			return HoldoutScore{}, err
		}
	} else if len(items) != n*d {
		return HoldoutScore{}, fmt.Errorf("holdout: %d item floats for %d items of %d dimensions", len(items), n, d)
	}
	chunk := max(1, holdoutChunk*64/max(d, 64)) // the same bytes at any width
	itemsT := make([]float32, d*n)
	err := parallel.For(ctx, (n+chunk-1)/chunk, 0, func(_, c int) error {
		lo := c * chunk
		w := min(chunk, n-lo)
		t := itemsT[lo*d : (lo+w)*d]
		for i := range w {
			for k, x := range items[(lo+i)*d : (lo+i+1)*d] {
				t[k*w+i] = x
			}
		}
		return nil
	})
	if err != nil {
		return HoldoutScore{}, err
	}
	// A candidate's score from the product is within rounding of its
	// score by vec.Dot, which the target's is: candidates within tol of
	// the target are decided on vec.Dot's scores, so ties and near-ties
	// rank as one dot product at a time would rank them.
	var maxNorm float32
	for i := range n {
		maxNorm = max(maxNorm, vec.Norm(items[i*d:(i+1)*d]))
	}
	gains := make([]float64, len(pairs))
	hits := make([]float64, len(pairs))
	blocks := (len(pairs) + holdoutBlock - 1) / holdoutBlock
	workers := parallel.Workers(0, blocks)
	type scratch struct {
		tile, us, active []float32
		target, tol      []float32
		better           []int
		rows             []int
		hist             []content.Item
		seen             [][]int32
	}
	bufs := make([]*scratch, workers)
	err = parallel.For(ctx, blocks, workers, func(w, blk int) error {
		b := bufs[w]
		if b == nil {
			b = &scratch{
				tile: make([]float32, holdoutBlock*min(chunk, n)), us: make([]float32, holdoutBlock*d), active: make([]float32, holdoutBlock*d),
				target: make([]float32, holdoutBlock), tol: make([]float32, holdoutBlock), better: make([]int, holdoutBlock), seen: make([][]int32, holdoutBlock),
			}
			bufs[w] = b
		}
		lo, hi := blk*holdoutBlock, min((blk+1)*holdoutBlock, len(pairs))
		b.rows = b.rows[:0]
		for r := range hi - lo {
			pr := &pairs[lo+r]
			b.hist = b.hist[:0]
			for _, it := range pr.History {
				b.hist = append(b.hist, ds.Items[it])
			}
			u := b.us[r*d : (r+1)*d]
			copy(u, m.UserVectorItems(b.hist, u))
			b.target[r] = vec.Dot(u, items[int(pr.Item)*d:int(pr.Item+1)*d])
			// A sum of d products in float32 is within about d·2⁻²⁴ of
			// |u|·|v| of its exact value, in any order: four times that.
			b.tol[r] = float32(d) * 2.4e-7 * vec.Norm(u) * maxNorm
			b.better[r] = 0
			b.seen[r] = append(b.seen[r][:0], pr.History...)
			slices.Sort(b.seen[r])
			b.rows = append(b.rows, r)
		}
		// Items in chunks, in order; a user leaves the block once k
		// items beat its held-out one, which is most users after a
		// small part of the catalogue.
		packed := 0 // how many rows b.active holds: b.rows only shrinks
		for c0 := 0; c0 < n && len(b.rows) > 0; c0 += chunk {
			w := min(chunk, n-c0)
			rows := len(b.rows)
			if rows != packed {
				for a, r := range b.rows {
					copy(b.active[a*d:(a+1)*d], b.us[r*d:(r+1)*d])
				}
				packed = rows
			}
			t := b.tile[:rows*w]
			clear(t)
			vec.MatMulAdd(t, b.active[:rows*d], itemsT[c0*d:(c0+w)*d], rows, d, w)
			kept := b.rows[:0]
			for a, r := range b.rows {
				pr := &pairs[lo+r]
				u, target, floor := b.us[r*d:(r+1)*d], b.target[r], b.target[r]-b.tol[r]
				for j, x := range t[a*w : (a+1)*w] {
					if x < floor {
						continue
					}
					i := int32(c0 + j)
					if i == pr.Item {
						continue
					}
					if _, seen := slices.BinarySearch(b.seen[r], i); seen {
						continue
					}
					if x <= target+b.tol[r] {
						x = vec.Dot(u, items[int(i)*d:int(i+1)*d])
					}
					if x > target || (x == target && i < pr.Item) {
						b.better[r]++
					}
				}
				if b.better[r] < k {
					kept = append(kept, r)
				}
			}
			b.rows = kept
		}
		for r := range hi - lo {
			if rank := b.better[r] + 1; rank <= k {
				gains[lo+r] = 1 / math.Log2(float64(rank)+1)
				hits[lo+r] = 1
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

// holdoutBlock is how many users ScoreHoldout scores in one product, and
// holdoutChunk against how many 64-dimensional items (fewer when wider):
// 256 KB of vectors, which a core's cache holds while the block's users
// are scored.
const holdoutBlock = 16

var holdoutChunk = 1024 // a variable for tests
