package eval

import (
	"context"
	"math"
	"slices"

	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/search"
)

// Holdout is one validation case of the served recommendations: a user's
// history, oldest first, and the items held out of it.
type Holdout struct {
	History []string
	Targets []string
}

// Choice is a served configuration of the sources: their weights and how
// they are fused.
type Choice struct {
	Sources map[string]float64 `json:"sources"`
	Fusion  search.Fusion      `json:"fusion"`
}

// Tried is a choice and its validation NDCG@10.
type Tried struct {
	Choice
	NDCG float64 `json:"ndcg@10"`
}

// SourceGrid is the grid TuneSources tries by default: relative fusion of
// the two-tower, recent and collaborative lists at a few weights each,
// with and without a popularity prior. Sources an engine lacks are asked
// for by nothing, so their weights do not matter there.
func SourceGrid() []Choice {
	var out []Choice
	for _, tw := range []float64{0, 0.3, 1} {
		for _, cf := range []float64{0, 0.5, 1} {
			for _, rc := range []float64{0, 0.5} {
				for _, pop := range []float64{0, 0.1} {
					if tw+cf+rc == 0 {
						continue
					}
					out = append(out, Choice{Fusion: search.FusionRelative, Sources: map[string]float64{
						search.SourceTower: tw, search.SourceCF: cf, search.SourceRecent: rc, search.SourcePopular: pop}})
				}
			}
		}
	}
	return out
}

// TuneSources asks the engine for every case's recommendations under each
// choice of the grid, the history's items excluded, and returns the choice
// whose mean NDCG@10 of the held-out items is best (the earlier on a tie)
// with every choice's figure. When ctx is done it returns the best of the
// choices scored so far, those, and ctx's error.
func TuneSources(ctx context.Context, e *search.Engine, cases []Holdout, grid []Choice) (Choice, []Tried, error) {
	const k = 10
	tried := make([]Tried, len(grid))
	best := -1
	for g, c := range grid {
		gains := make([]float64, len(cases))
		err := parallel.For(ctx, len(cases), 0, func(_, i int) error {
			cs := cases[i]
			names := make([]string, 0, len(c.Sources))
			for _, name := range search.Sources {
				if c.Sources[name] > 0 {
					names = append(names, name)
				}
			}
			res, err := e.Recommend(ctx, search.Request{History: cs.History, K: k, ExcludeSeen: true, Fusion: c.Fusion, Sources: names, Weights: c.Sources})
			if err != nil {
				return err
			}
			gains[i] = ndcg(res.Hits, cs.Targets, k)
			return nil
		})
		if err != nil {
			// The choices scored so far count when time ran out.
			if ctx.Err() != nil && best >= 0 {
				return tried[best].Choice, tried[:g], err
			}
			return Choice{}, nil, err
		}
		var sum float64
		for _, g := range gains {
			sum += g
		}
		tried[g] = Tried{Choice: c, NDCG: sum / float64(max(len(cases), 1))}
		if best < 0 || tried[g].NDCG > tried[best].NDCG {
			best = g
		}
	}
	if best < 0 {
		return Choice{}, tried, nil
	}
	return tried[best].Choice, tried, nil
}

// ndcg is the NDCG@k of hits against the relevant items, binary gains,
// the ideal over min(|relevant|, k).
func ndcg(hits []search.Hit, relevant []string, k int) float64 {
	var dcg float64
	for r, h := range hits[:min(k, len(hits))] {
		if slices.Contains(relevant, h.ID) {
			dcg += 1 / math.Log2(float64(r)+2)
		}
	}
	var ideal float64
	for r := range min(k, len(relevant)) {
		ideal += 1 / math.Log2(float64(r)+2)
	}
	if ideal == 0 {
		return 0
	}
	return dcg / ideal
}
