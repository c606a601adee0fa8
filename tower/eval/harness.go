package eval

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/duetrec/duet/tower"
)

// Options configures Run. Zero fields take defaults.
type Options struct {
	// K lists the cut-offs to report (default 10).
	K []int
	// SelectK is the cut-off whose validation NDCG picks among a model's
	// candidates (default 10).
	SelectK int
	// Workers is the number of goroutines ranking users (default
	// GOMAXPROCS). Results do not depend on it.
	Workers int
	// NoRefit ranks the test users with the candidate chosen as fitted on
	// training alone. By default the chosen candidate is fitted again on
	// training and validation together, and a model with one candidate is
	// fitted on them at once, so that every model sees what the test
	// users' histories hold.
	NoRefit bool
	// Progress, if set, is told when a stage of a model starts and ends:
	// stage is "fit", "validate", "refit" or "test", candidate counts from 1 up
	// to of. It is called from Run's goroutine.
	Progress func(model, stage string, candidate, of int, done bool)
}

// Report is the outcome of Run.
type Report struct {
	Protocol string
	// Val is the shape of the validation items (Split.ValShape).
	Val string
	K   []int
	// SelectK is the cut-off of the validation NDCG that chose among
	// candidates.
	SelectK int
	// Users is the number of users with a test item; Items the
	// catalogue size.
	Users, Items int
	Models       []ModelResult
	// Skipped lists the models whose Fit returned ErrSkip.
	Skipped []Skipped
	// Refit says the test users were ranked by models fitted on training
	// and validation (Options.NoRefit unset).
	Refit bool
	// Seconds is the wall time of the whole run.
	Seconds float64
}

// ModelResult is one model's line in a report.
type ModelResult struct {
	Name string
	// Metrics holds the test figures by key (see Key) for every K.
	Metrics map[string]float64
	// Buckets breaks the test NDCG at the first cut-off down by the
	// users' history length (BucketEdges).
	Buckets []Bucket
	// ColdOnly holds the figures of the ranking among held-out items
	// only; nil unless the split holds items out.
	ColdOnly map[string]float64
	// Params are the settings of the chosen candidate, if it says.
	Params map[string]any
	// Candidates is the number of settings tried; Val is the validation
	// NDCG at Report.SelectK of the chosen one (0 with a single
	// candidate, which is not validated).
	Candidates int
	Val        float64
	// FitSeconds is the fit time of the model that ranked the test users
	// (the refit, unless Options.NoRefit); TuneSeconds the time spent
	// fitting and validating all candidates, and refitting; EvalSeconds
	// the time ranking the test users.
	FitSeconds, TuneSeconds, EvalSeconds float64
}

// Skipped is a model that declined the dataset, and why.
type Skipped struct {
	Name   string
	Reason string
}

// Run evaluates each model on split: a Tunable model is fit once per
// candidate on training and the best on validation is kept, then fitted
// again on training and validation together (unless Options.NoRefit); a
// model with one candidate is fitted on both at once. The model ranks the
// test users, whose history is their training and validation items in the
// order they met them. With no validation items in the split, a Tunable
// model is not tuned: its first (default) candidate is used. When the split holds items out
// (HoldOutItems), each model is also ranked among the held-out items only.
// A model whose Fit returns ErrSkip is listed in Report.Skipped; any other
// error, a cancelled ctx included, ends the run.
func Run(ctx context.Context, ds *tower.Dataset, split *Split, recs []Recommender, opts Options) (*Report, error) {
	start := time.Now()
	if err := split.check(ds); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	ks, err := cutoffs(opts.K)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	selectK := opts.SelectK
	if selectK == 0 {
		selectK = 10
	}
	if selectK < 1 {
		return nil, fmt.Errorf("eval: select K %d is not positive", selectK)
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, string, int, int, bool) {}
	}

	train := split.TrainItems()
	trainDS := *ds // the copy's History is training only: nothing else can leak into Fit
	trainDS.History = split.Train
	// What the test users' histories hold, training and validation, in
	// the order the users met the items: what a model is refitted on.
	fullDS := *ds
	fullDS.History = split.known(ds)
	testHist := make([][]int32, len(train))
	var valUsers, testUsers []int32
	for u := range train {
		testHist[u] = tower.LatestOrder(fullDS.History[u])
		if len(split.Val[u]) > 0 {
			valUsers = append(valUsers, int32(u))
		}
		if len(split.Test[u]) > 0 {
			testUsers = append(testUsers, int32(u))
		}
	}
	val := &ranking{users: valUsers, history: train, target: split.Val, items: split.Items, ks: []int{selectK}, workers: opts.Workers}
	test := &ranking{users: testUsers, history: testHist, target: split.Test, items: split.Items, ks: ks, workers: opts.Workers}

	rep := &Report{Protocol: split.Protocol, K: ks, SelectK: selectK, Users: len(testUsers), Items: split.Items, Refit: !opts.NoRefit, Val: split.ValShape}
	refit := func(fit func(context.Context, *tower.Dataset, [][]int32) error) (float64, error) {
		t0 := time.Now()
		err := fit(ctx, &fullDS, testHist)
		return time.Since(t0).Seconds(), err
	}
	for _, rec := range recs {
		name := rec.Name()
		cands := []Recommender{rec}
		if t, ok := rec.(Tunable); ok {
			if c := t.Candidates(); len(c) > 0 {
				cands = c
			}
		}
		if len(valUsers) == 0 {
			cands = cands[:1] // nothing to choose by: the default
		}
		mr := ModelResult{Name: name, Candidates: len(cands)}
		var best Recommender
		bestVal := -1.0
		tuneStart := time.Now()
		var skipped error
		for i, c := range cands {
			cands[i] = nil // only the best so far stays reachable: fitted models can be large
			if sa, ok := c.(SplitAware); ok {
				sa.SetProtocol(split.Protocol)
			}
			progress(name, "fit", i+1, len(cands), false)
			t0 := time.Now()
			var err error
			if len(cands) == 1 && !opts.NoRefit {
				// Nothing to choose: fitted on all the test users know.
				_, err = refit(c.Fit)
			} else {
				err = c.Fit(ctx, &trainDS, train)
			}
			fitS := time.Since(t0).Seconds()
			progress(name, "fit", i+1, len(cands), true)
			if errors.Is(err, ErrSkip) {
				skipped = err
				break
			}
			if err != nil {
				return nil, fmt.Errorf("eval: %s: fit: %w", name, err)
			}
			if len(cands) == 1 {
				best, mr.FitSeconds = c, fitS
				break
			}
			progress(name, "validate", i+1, len(cands), false)
			res, err := val.rank(ctx, c)
			if err != nil {
				return nil, fmt.Errorf("eval: %s: validate: %w", name, err)
			}
			progress(name, "validate", i+1, len(cands), true)
			// Strictly better only: on a tie the earlier (default) wins.
			if v := res.metrics[Key(MetricNDCG, selectK)]; v > bestVal {
				best, bestVal, mr.FitSeconds, mr.Val = c, v, fitS, v
			}
		}
		if skipped != nil {
			rep.Skipped = append(rep.Skipped, Skipped{Name: name, Reason: skipped.Error()})
			continue
		}
		if mr.Candidates > 1 && !opts.NoRefit {
			progress(name, "refit", 1, 1, false)
			fit := best.Fit
			if r, ok := best.(Refitter); ok {
				fit = r.Refit
			}
			if mr.FitSeconds, err = refit(fit); err != nil {
				return nil, fmt.Errorf("eval: %s: refit: %w", name, err)
			}
			progress(name, "refit", 1, 1, true)
		}
		mr.TuneSeconds = time.Since(tuneStart).Seconds()
		if p, ok := best.(Parameterised); ok {
			mr.Params = p.Params()
		}
		progress(name, "test", 1, 1, false)
		t0 := time.Now()
		res, err := test.rank(ctx, best)
		if err != nil {
			return nil, fmt.Errorf("eval: %s: test: %w", name, err)
		}
		mr.Metrics, mr.Buckets = res.metrics, res.buckets
		if split.Cold != nil {
			cold := *test
			cold.allowed = split.Cold
			res, err := cold.rank(ctx, best)
			if err != nil {
				return nil, fmt.Errorf("eval: %s: cold-only test: %w", name, err)
			}
			mr.ColdOnly = res.metrics
		}
		mr.EvalSeconds = time.Since(t0).Seconds()
		progress(name, "test", 1, 1, true)
		rep.Models = append(rep.Models, mr)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// RunColdStart is Run for a split made by HoldOutItems: it reports, for
// every model, retrieval of the held-out test items over the full
// catalogue (Metrics) and among the held-out items only (ColdOnly).
func RunColdStart(ctx context.Context, ds *tower.Dataset, split *Split, recs []Recommender, opts Options) (*Report, error) {
	if split.Cold == nil {
		return nil, errors.New("eval: cold start: the split holds no items out (use HoldOutItems)")
	}
	return Run(ctx, ds, split, recs, opts)
}

// cutoffs returns ks sorted and without repeats, or the default.
func cutoffs(ks []int) ([]int, error) {
	if len(ks) == 0 {
		return []int{10}, nil
	}
	out := slices.Clone(ks)
	slices.Sort(out)
	out = slices.Compact(out)
	if out[0] < 1 {
		return nil, fmt.Errorf("cut-off K %d is not positive", out[0])
	}
	return out, nil
}
