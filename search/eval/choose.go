package eval

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"

	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
)

// Validation shapes: what a recommendation is asked to find.
const (
	ShapeLast   = "last"   // each user's latest item: what comes next
	ShapeRandom = "random" // a fifth of each user's items at random: what else they like
)

// Choosing is what ChooseSources found: the choice, its validation NDCG@10
// in each shape beside popularity's, and every choice tried.
type Choosing struct {
	Choice
	// NDCG and Popular map each shape to the choice's validation NDCG@10
	// and the popular list's.
	NDCG    map[string]float64 `json:"ndcg@10"`
	Popular map[string]float64 `json:"popular_ndcg@10"`
	Users   int                `json:"users"`
	// Folds is how many validation splits the choice was scored on:
	// chooseFolds, or fewer when the time budget ran out.
	Folds int `json:"folds"`
	// Epochs is the best epoch of the first split's two-tower model: how
	// long a model of all the data needs to train (see duet rebuild).
	Epochs int           `json:"epochs,omitempty"`
	Tried  []ShapeScores `json:"-"`
}

// ShapeScores is a choice and its validation NDCG@10 in each shape.
type ShapeScores struct {
	Choice
	Last, Random float64
	// The cases' NDCG@10 behind Last and Random, in the same order for
	// every choice, so that two choices compare case by case.
	lastGains, randomGains []float64
}

// RandomSlack is how far below the best choice at the random fifth the
// served choice may fall to do better at the last items. What else a user
// likes is what most comparisons measure, so it comes first; within 1.5%
// of the best at it the choice that clearly best finds what comes next is
// served. On MovieLens, with the session source on the nearby lists, 1%
// served 1.032 × EASE under a random split and 1.24 × at the next item,
// 1.25% 1.018 × and 1.31 ×, 1.5% 1.013 × and 1.36 × (six or nine seeds
// each, docs/EVALUATION.md): a choice's loss at the random fifth comes out
// larger on the test users than on validation.
const RandomSlack = 0.015

// better reports whether a scores clearly better than b when the best
// score at the random fifth is bestRandom: when both are within
// RandomSlack of it, a must be better at the last items; otherwise, unless
// only b is within, at the random fifth. Clearly: by more than
// choiceMargin standard errors of the case-by-case difference (see
// clearly), so that a choice moves away from where it stands on evidence,
// not on the luck of a split.
func better(a, b ShapeScores, bestRandom float64) bool {
	floor := (1 - RandomSlack) * bestRandom
	aIn, bIn := a.Random >= floor, b.Random >= floor
	switch {
	case aIn && bIn:
		return a.Last > b.Last && clearly(a.lastGains, b.lastGains)
	case bIn:
		return false
	}
	return a.Random > b.Random && clearly(a.randomGains, b.randomGains)
}

// choiceMargin is how many standard errors of the case-by-case
// difference a choice must gain by to be taken over another. When every
// gain counted, two runs on the same data served 0.953 and 1.005 × EASE
// (docs/EVALUATION.md): among some thirty weightings, the best on one
// split is mostly the luckiest.
const choiceMargin = 2

// clearly reports whether the mean of a − b, case by case, exceeds
// choiceMargin standard errors. Without gains (or with unpaired ones) it
// reports true: the means alone decide.
func clearly(a, b []float64) bool {
	if len(a) == 0 || len(a) != len(b) {
		return true
	}
	var sum, sq float64
	for i := range a {
		d := a[i] - b[i]
		sum += d
		sq += d * d
	}
	n := float64(len(a))
	mean := sum / n
	variance := max(0, sq/n-mean*mean)
	return mean > choiceMargin*math.Sqrt(variance/n)
}

// ChooseSources chooses the served configuration on the data itself, on
// chooseFolds validation splits. In each, every user with five or more
// items holds out their latest chooseLast items (fewer when that would
// leave under four) and, at random (seeded, disjoint between splits), a
// fifth of the rest; the two-tower model (cfg) and the collaborative
// lists (cfc) are fitted on what remains, and choices are scored over
// every split's cases in both shapes: the whole history before each held
// out latest item (the random fifth in it, as a served request has it:
// the sequence and session lists read its latest items in order) asked
// to find that item, and the remaining history asked to find the random
// fifth. The first split's model stops early; the others train
// for at most its best epoch count, as rebuild's final model does. The
// choices are those of grid, or with a nil grid those a coordinate ascent
// over the sources' weights visits (from search.DefaultSources). From the
// first choice, the choice kept gives way to one within RandomSlack of
// the best at the random fifth that does clearly better at the last items
// (see better), or, while outside it, to one clearly better at the random
// fifth; ties and unclear gains go to the earlier choice. When ctx is done
// the choices scored so far count; with none, ctx's error is returned.
func ChooseSources(ctx context.Context, ds *tower.Dataset, cfg tower.Config, cfc cf.Config, grid []Choice, seed uint64) (*Choosing, error) {
	ch := &Choosing{NDCG: map[string]float64{}, Popular: map[string]float64{}}
	var lastCases, randomCases []fetched
	for f := range chooseFolds {
		fcfg := cfg
		if e := ch.Epochs; e > 0 && (fcfg.Epochs == 0 || e < fcfg.Epochs) {
			// The first split's model says how long a model of as much
			// data needs: the next trains that long and is spared the
			// epochs early stopping waits through (rebuild's way).
			fcfg.Epochs = e
		}
		fl, err := chooseFold(ctx, ds, fcfg, cfc, seed, f)
		if err != nil && f > 0 && ctx.Err() != nil {
			break // past the budget: the folds fetched so far count
		}
		if err != nil {
			return nil, fmt.Errorf("choose sources: %w", err)
		}
		lastCases = append(lastCases, fl.last...)
		randomCases = append(randomCases, fl.random...)
		ch.Users = fl.users
		ch.Folds++
		ch.Epochs = max(ch.Epochs, fl.epochs)
	}
	var err error
	popular := Choice{Fusion: search.FusionRelative, Sources: map[string]float64{search.SourcePopular: 1}}
	if ch.Popular[ShapeLast], _, err = scoreChoice(ctx, lastCases, popular); err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
	}
	if ch.Popular[ShapeRandom], _, err = scoreChoice(ctx, randomCases, popular); err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
	}

	// Every choice scored, once, in both shapes.
	bestRandom := 0.0
	seen := map[string]int{}
	score := func(c Choice) (ShapeScores, error) {
		key := fmt.Sprint(c.Fusion, c.Sources) // fmt sorts map keys
		if i, ok := seen[key]; ok {
			return ch.Tried[i], nil
		}
		l, lg, err := scoreChoice(ctx, lastCases, c)
		if err != nil {
			return ShapeScores{}, err
		}
		r, rg, err := scoreChoice(ctx, randomCases, c)
		if err != nil {
			return ShapeScores{}, err
		}
		seen[key] = len(ch.Tried)
		sc := ShapeScores{Choice: c, Last: l, Random: r, lastGains: lg, randomGains: rg}
		ch.Tried = append(ch.Tried, sc)
		bestRandom = max(bestRandom, r)
		return sc, nil
	}
	if grid != nil {
		for _, c := range grid {
			if _, err = score(c); err != nil {
				break
			}
		}
	} else {
		err = ascend(score, func(a, b ShapeScores) bool { return better(a, b, bestRandom) })
	}
	if err != nil && (ctx.Err() == nil || len(ch.Tried) == 0) {
		// Past the budget the choices scored so far count.
		return nil, fmt.Errorf("choose sources: %w", err)
	}
	best := ch.Tried[0]
	for _, sc := range ch.Tried[1:] {
		if better(sc, best, bestRandom) {
			best = sc
		}
	}
	ch.Choice = best.Choice
	ch.NDCG[ShapeLast], ch.NDCG[ShapeRandom] = best.Last, best.Random
	return ch, nil
}

// chooseFolds is how many validation splits ChooseSources scores every
// choice on, each user's random fifths disjoint between them: one split of
// a few hundred users moves a choice's score by about the margins the
// choice decides on. A third split on MovieLens moved the served list
// along the frontier of the two shapes, not past it (docs/EVALUATION.md).
const chooseFolds = 2

// fold is one validation split's cases, fetched from a model and lists
// fitted without them.
type fold struct {
	last, random []fetched
	users        int
	epochs       int
}

// chooseLast is how many of each user's latest items a validation split
// asks for in the last-item shape, one after another. One per user left
// a few dozen hits on MovieLens's 610 users to decide between choices.
const chooseLast = 3

// clipHistory keeps a history's latest search.MaxHistory items, as a
// served request reads them.
func clipHistory(h []string) []string {
	return h[max(0, len(h)-search.MaxHistory):]
}

// chooseFold holds out splitFold's cases, fits the two-tower model and
// the lists on what remains, and fetches every source's candidates for
// both shapes.
func chooseFold(ctx context.Context, ds *tower.Dataset, cfg tower.Config, cfc cf.Config, seed uint64, f int) (*fold, error) {
	ids := make([]string, len(ds.Items))
	for i, it := range ds.Items {
		ids[i] = it.ID
	}
	rest, last, random, users := splitFold(ds, ids, seed, f)
	if len(last) == 0 {
		return nil, errors.New("no user has five or more items")
	}

	// Training stops early on each user's last remaining item, as
	// tower.Fit's does; the collaborative lists see all that remains.
	fit, val := tower.HoldOutLast(&tower.Dataset{Items: ds.Items, History: asInteractions(rest)})
	var trained tower.TrainProgress
	model, err := tower.Train(ctx, ds, fit, val, cfg.RecordingProgress(&trained))
	if err != nil {
		return nil, err
	}
	lists, err := snapshot.FitLists(ctx, ids, rest, cfc)
	if err != nil {
		return nil, err
	}
	pop := map[string]float64{}
	for _, h := range rest {
		for _, it := range h {
			pop[ids[it]]++
		}
	}
	data, err := os.MkdirTemp("", "duet-choose-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	root := snapshot.NewRoot(data)
	dir, err := root.Build(ctx, 0, model, ds.Items, pop, snapshot.BuildOptions{ANN: index.KindExact, Lists: lists})
	if err != nil {
		return nil, err
	}
	snap, err := root.Load(ctx, dir, search.StaticHistory{}, search.Options{SeenLen: search.MaxHistory})
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	fl := &fold{users: users, epochs: trained.BestEpoch}
	if fl.last, err = fetch(ctx, snap.Engine, last); err != nil {
		return nil, err
	}
	if fl.random, err = fetch(ctx, snap.Engine, random); err != nil {
		return nil, err
	}
	return fl, nil
}

// splitFold is chooseFold's split: for each user with five or more items,
// the latest chooseLast items (fewer when that would leave under four),
// each asked for with every item before it as history, and the f-th fifth
// of the rest in an order drawn from seed, asked for with what remains.
// It returns what remains of every user's history (item numbers, latest
// last), both shapes' cases and how many users have them.
func splitFold(ds *tower.Dataset, ids []string, seed uint64, f int) (rest [][]int32, last, random []Holdout, users int) {
	rest = make([][]int32, len(ds.History))
	for u, h := range ds.History {
		items := tower.LatestOrder(h)
		rest[u] = items
		if len(items) < 5 {
			continue
		}
		users++
		n := len(items)
		// The latest items are asked for one after another, each with
		// everything before it as history; at least four items remain.
		nl := min(chooseLast, n-4)
		size := max(1, (n-nl)/5)
		pick := rand.New(rand.NewPCG(seed, uint64(u)^0x63686f6f)).Perm(n - nl)[f*size : (f+1)*size]
		var keep []int32
		var before []string // every item before the one asked for
		var rc Holdout
		for k, it := range items {
			switch {
			case k >= n-nl:
				last = append(last, Holdout{History: slices.Clone(clipHistory(before)), Targets: []string{ids[it]}})
			case slices.Contains(pick, k):
				rc.Targets = append(rc.Targets, ids[it])
			default:
				keep = append(keep, it)
				rc.History = append(rc.History, ids[it])
			}
			before = append(before, ids[it])
		}
		rc.History = clipHistory(rc.History)
		rest[u] = keep
		random = append(random, rc)
	}
	return rest, last, random, users
}

// ascentWeights are the weights ascend tries for each source.
var ascentWeights = []float64{0, 0.2, 0.5, 1}

// ascend searches the sources' weights by coordinate ascent, relative
// fusion throughout: from search.DefaultSources (the collaborative list at
// 1 is the scale: on MovieLens no choice without it came near), it tries
// each ascentWeights value of each other source in turn, keeping one when
// it scores better, for at most two passes or until a pass changes
// nothing. A few dozen choices are scored where a grid of the
// same values over the seven other sources would score sixteen thousand.
func ascend(score func(Choice) (ShapeScores, error), better func(a, b ShapeScores) bool) error {
	cur := Choice{Fusion: search.FusionRelative, Sources: maps.Clone(search.DefaultSources)}
	best, err := score(cur)
	if err != nil {
		return err
	}
	for range 2 {
		moved := false
		for _, name := range search.Sources {
			if name == search.SourceCF {
				continue
			}
			from := cur.Sources[name]
			for _, w := range ascentWeights {
				if w == from {
					continue
				}
				c := Choice{Fusion: cur.Fusion, Sources: maps.Clone(cur.Sources)}
				c.Sources[name] = w
				if w == 0 {
					delete(c.Sources, name)
				}
				v, err := score(c)
				if err != nil {
					return err
				}
				// The standard moves as scores come in: the current
				// choice is compared afresh.
				if better(v, best) {
					cur, best, moved = c, v, true
				}
			}
		}
		if !moved {
			break
		}
	}
	return nil
}

func asInteractions(hs [][]int32) [][]tower.Interaction {
	out := make([][]tower.Interaction, len(hs))
	for u, h := range hs {
		out[u] = make([]tower.Interaction, len(h))
		for k, it := range h {
			out[u][k] = tower.Interaction{Item: it}
		}
	}
	return out
}
