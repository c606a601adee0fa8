package eval

import (
	"context"

	"github.com/duetrec/duet/tower"
)

// Recommender is a model under evaluation.
//
// Fit learns from train: train[u] is user u's distinct training items,
// oldest first (an item sits at its latest interaction). ds is the dataset
// with History cut down to the same training interactions; models that need
// times, values or item content read them there. Fit may be called more
// than once; each call starts afresh.
//
// Score fills scores, of length len(ds.Items), with a score for every item
// for user u whose history is the given items (training items, plus
// validation items when ranking the test split). Higher is better. The
// harness excludes the history itself, so Score need not. After Fit
// returns, Score must be safe for concurrent calls and must not keep
// history or scores. The baselines here leave scores untouched (zero) when
// not fitted or given a scores slice of the wrong length, rather than
// panic.
type Recommender interface {
	Name() string
	Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error
	Score(user int32, history []int32, scores []float32)
}

// Tunable is a Recommender with hyper-parameters to search. Candidates
// returns fresh, unfitted models, one per setting, the default first. Run
// fits each on training and keeps the best on validation.
type Tunable interface {
	Recommender
	Candidates() []Recommender
}

// Parameterised is a Recommender that can say what its settings are. Run
// puts them in the report.
type Parameterised interface {
	Params() map[string]any
}

// SplitAware is a Recommender that wants to know how the split was made,
// for example to hold out validation items of its own the same way. Run
// calls SetProtocol with Split.Protocol before every Fit.
type SplitAware interface {
	SetProtocol(protocol string)
}

// Refitter is a Recommender that refits on training and validation
// knowing how its fit on training alone went: a model trained by epochs
// trains for as many as it was best at, rather than stopping early once
// more, the way a rebuild trains the served model. Run calls Refit
// instead of Fit on the chosen candidate.
type Refitter interface {
	Refit(ctx context.Context, ds *tower.Dataset, train [][]int32) error
}
