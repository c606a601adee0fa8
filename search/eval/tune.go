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

// fetched is a validation case with its candidate lists.
type fetched struct {
	cands   *search.Candidates
	targets []string
}

// fetch asks the engine for every case's candidate lists, from every
// source, once: a choice of weights then only fuses them (Candidates.Fuse
// ranks as Recommend does).
func fetch(ctx context.Context, e *search.Engine, cases []Holdout) ([]fetched, error) {
	all := make(map[string]float64, len(search.Sources))
	for _, name := range search.Sources {
		all[name] = 1
	}
	out := make([]fetched, len(cases))
	err := parallel.For(ctx, len(cases), 0, func(_, i int) error {
		c, err := e.Candidates(ctx, search.Request{History: cases[i].History, K: tuneK, ExcludeSeen: true, Weights: all})
		out[i] = fetched{cands: c, targets: cases[i].Targets}
		return err
	})
	return out, err
}

// tuneK is the cut-off of the NDCG choices are scored by.
const tuneK = 10

// scoreChoice returns the mean NDCG@10 of the cases' held-out items in
// the recommendations under the choice, and each case's.
func scoreChoice(ctx context.Context, cases []fetched, c Choice) (float64, []float64, error) {
	gains := make([]float64, len(cases))
	err := parallel.For(ctx, len(cases), 0, func(_, i int) error {
		res, err := cases[i].cands.Fuse(c.Sources, c.Fusion)
		if err != nil {
			return err
		}
		gains[i] = ndcg(res.Hits, cases[i].targets, tuneK)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	var sum float64
	for _, g := range gains {
		sum += g
	}
	return sum / float64(max(len(cases), 1)), gains, nil
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
