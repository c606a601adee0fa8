package eval

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	// Epochs is the best epoch of the first split's two-tower model: how
	// long a model of all the data needs to train (see duet rebuild).
	Epochs int           `json:"epochs,omitempty"`
	Tried  []ShapeScores `json:"-"`
}

// ShapeScores is a choice and its validation NDCG@10 in each shape.
type ShapeScores struct {
	Choice
	Last, Random float64
}

// RandomSlack is how far below the best choice at the random fifth the
// served choice may fall to do better at the last items. What else a user
// likes is what most comparisons measure, so it comes first; within two
// percent of the best at it (about the noise of validation on a few
// hundred users) the choice that best finds what comes next is served. On
// MovieLens's validation the short-term lists bought 16% at the last item
// for 1% of the random fifth at a weight of 0.2, and cost 10% and more of
// it at the weights that do best at the last item (docs/EVALUATION.md).
const RandomSlack = 0.02

// better reports whether a scores better than b when the best score at the
// random fifth is bestRandom: a choice within RandomSlack of it beats one
// that is not, two such compare at the last items, and two that are not
// at the random fifth.
func better(a, b ShapeScores, bestRandom float64) bool {
	floor := (1 - RandomSlack) * bestRandom
	aIn, bIn := a.Random >= floor, b.Random >= floor
	switch {
	case aIn != bIn:
		return aIn
	case aIn:
		return a.Last > b.Last
	}
	return a.Random > b.Random
}

// ChooseSources chooses the served configuration on the data itself, on
// chooseFolds validation splits. In each, every user with five or more
// items holds out their latest item and, at random (seeded, disjoint
// between splits), a fifth of the rest; the two-tower model (cfg) and the
// collaborative lists (cfc) are fitted on what remains, and choices are
// scored over every split's cases in both shapes: the whole history
// before the latest item (the random fifth in it, as a served request has
// it: the sequence and session lists read its latest items in order)
// asked to find that item, and the remaining history asked to find the
// random fifth. The first split's model stops early; the others train
// for at most its best epoch count, as rebuild's final model does. The
// choices are those of grid, or with a nil grid those a coordinate ascent
// over the sources' weights visits. The choice kept is the best at the
// last items among those within RandomSlack of the best at the random
// fifth (see RandomSlack); ties go to the earlier choice. When ctx is done
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
		ch.Users = len(fl.last)
		ch.Epochs = max(ch.Epochs, fl.epochs)
	}
	var err error
	popular := Choice{Fusion: search.FusionRelative, Sources: map[string]float64{search.SourcePopular: 1}}
	if ch.Popular[ShapeLast], err = scoreChoice(ctx, lastCases, popular); err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
	}
	if ch.Popular[ShapeRandom], err = scoreChoice(ctx, randomCases, popular); err != nil {
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
		l, err := scoreChoice(ctx, lastCases, c)
		if err != nil {
			return ShapeScores{}, err
		}
		r, err := scoreChoice(ctx, randomCases, c)
		if err != nil {
			return ShapeScores{}, err
		}
		seen[key] = len(ch.Tried)
		sc := ShapeScores{Choice: c, Last: l, Random: r}
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
// choice decides on.
const chooseFolds = 2

// fold is one validation split's cases, fetched from a model and lists
// fitted without them.
type fold struct {
	last, random []fetched
	epochs       int
}

// chooseFold holds out, for each user with five or more items, the latest
// item and the f-th fifth of the rest in an order drawn from seed, fits
// the two-tower model and the lists on what remains, and fetches every
// source's candidates for both shapes.
func chooseFold(ctx context.Context, ds *tower.Dataset, cfg tower.Config, cfc cf.Config, seed uint64, f int) (*fold, error) {
	ids := make([]string, len(ds.Items))
	for i, it := range ds.Items {
		ids[i] = it.ID
	}
	rest := make([][]int32, len(ds.History))
	var last, random []Holdout
	for u, h := range ds.History {
		items := tower.LatestOrder(h)
		rest[u] = items
		if len(items) < 5 {
			continue
		}
		n := len(items)
		size := max(1, (n-1)/5)
		pick := rand.New(rand.NewPCG(seed, uint64(u)^0x63686f6f)).Perm(n - 1)[f*size : (f+1)*size]
		var keep []int32
		var lc, rc Holdout
		for k, it := range items {
			switch {
			case k == n-1:
				lc.Targets = append(lc.Targets, ids[it])
				continue
			case slices.Contains(pick, k):
				rc.Targets = append(rc.Targets, ids[it])
			default:
				keep = append(keep, it)
				rc.History = append(rc.History, ids[it])
			}
			lc.History = append(lc.History, ids[it])
		}
		lc.History = lc.History[max(0, len(lc.History)-search.MaxHistory):]
		rc.History = rc.History[max(0, len(rc.History)-search.MaxHistory):]
		rest[u] = keep
		last = append(last, lc)
		random = append(random, rc)
	}
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
	fl := &fold{epochs: trained.BestEpoch}
	if fl.last, err = fetch(ctx, snap.Engine, last); err != nil {
		return nil, err
	}
	if fl.random, err = fetch(ctx, snap.Engine, random); err != nil {
		return nil, err
	}
	return fl, nil
}

// ascentWeights are the weights ascend tries for each source.
var ascentWeights = []float64{0, 0.2, 0.5, 1}

// ascend searches the sources' weights by coordinate ascent, relative
// fusion throughout: from the collaborative list at 1 (the scale: on
// MovieLens no choice without it came near) and the two-tower list at
// 0.5, it tries each ascentWeights value of each other source in turn,
// keeping one when it scores better, for at most two passes or until a
// pass changes nothing. A few dozen choices are scored where a grid of the
// same values over five sources would score a thousand.
func ascend(score func(Choice) (ShapeScores, error), better func(a, b ShapeScores) bool) error {
	cur := Choice{Fusion: search.FusionRelative, Sources: map[string]float64{search.SourceCF: 1, search.SourceTower: 0.5}}
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
			for _, w := range ascentWeights {
				if w == cur.Sources[name] {
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
