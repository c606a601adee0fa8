package eval

import (
	"context"
	"errors"
	"fmt"
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
	Tried   []Tried            `json:"-"`
}

// ChooseSources chooses the served configuration on the data itself. Each
// user with five or more items holds out their latest item and, at random
// (seeded), a fifth of the rest; the two-tower model (cfg) and the
// collaborative lists (cfc) are fitted on what remains, and every choice
// of grid (SourceGrid when nil) is scored in both shapes: the remaining
// history asked to find the latest item, and to find the random fifth.
// The choice kept is the one whose NDCG@10 is best in the geometric mean
// of its ratios to each shape's best, so that it serves both; ties go to
// the earlier choice. When ctx is done the choices scored so far count;
// with none, ctx's error is returned.
func ChooseSources(ctx context.Context, ds *tower.Dataset, cfg tower.Config, cfc cf.Config, grid []Choice, seed uint64) (*Choosing, error) {
	if grid == nil {
		grid = SourceGrid()
	}
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
		pick := rand.New(rand.NewPCG(seed, uint64(u)^0x63686f6f)).Perm(n - 1)[:max(1, (n-1)/5)]
		var keep []int32
		var lc, rc Holdout
		for k, it := range items {
			switch {
			case k == n-1:
				lc.Targets = append(lc.Targets, ids[it])
			case slices.Contains(pick, k):
				rc.Targets = append(rc.Targets, ids[it])
			default:
				keep = append(keep, it)
				lc.History = append(lc.History, ids[it])
			}
		}
		lc.History = lc.History[max(0, len(lc.History)-search.MaxHistory):]
		rc.History = lc.History
		rest[u] = keep
		last = append(last, lc)
		random = append(random, rc)
	}
	if len(last) == 0 {
		return nil, errors.New("choose sources: no user has five or more items")
	}

	// Training stops early on each user's last remaining item, as
	// tower.Fit's does; the collaborative lists see all that remains.
	fit, val := tower.HoldOutLast(&tower.Dataset{Items: ds.Items, History: asInteractions(rest)})
	model, err := tower.Train(ctx, ds, fit, val, cfg)
	if err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
	}
	lists, _, err := cf.Fit(ctx, len(ds.Items), rest, cfc)
	if err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
	}
	nbrs, err := index.NewNeighbours(ids, lists.Offsets, lists.Items, lists.Weights)
	if err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
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
	dir, err := root.Build(ctx, 0, model, ds.Items, pop, snapshot.BuildOptions{ANN: index.KindExact, Neighbours: nbrs})
	if err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
	}
	snap, err := root.Load(ctx, dir, search.StaticHistory{}, search.Options{SeenLen: search.MaxHistory})
	if err != nil {
		return nil, fmt.Errorf("choose sources: %w", err)
	}
	defer snap.Close()

	popular := []Choice{{Fusion: search.FusionRelative, Sources: map[string]float64{search.SourcePopular: 1}}}
	ch := &Choosing{NDCG: map[string]float64{}, Popular: map[string]float64{}, Users: len(last)}
	shapes := map[string][]Holdout{ShapeLast: last, ShapeRandom: random}
	scores := map[string][]Tried{}
	for _, shape := range []string{ShapeLast, ShapeRandom} {
		_, p, err := TuneSources(ctx, snap.Engine, shapes[shape], popular)
		if err != nil {
			return nil, fmt.Errorf("choose sources: %w", err)
		}
		ch.Popular[shape] = p[0].NDCG
		if _, scores[shape], err = TuneSources(ctx, snap.Engine, shapes[shape], grid); err != nil && len(scores[shape]) == 0 {
			return nil, fmt.Errorf("choose sources: %w", err)
		}
	}
	n := min(len(scores[ShapeLast]), len(scores[ShapeRandom]))
	if n == 0 {
		return nil, fmt.Errorf("choose sources: %w", ctx.Err())
	}
	bestOf := func(ts []Tried) float64 {
		b := 0.0
		for _, t := range ts[:n] {
			b = max(b, t.NDCG)
		}
		return b
	}
	bl, br := bestOf(scores[ShapeLast]), bestOf(scores[ShapeRandom])
	best, bestScore := -1, -1.0
	for i := range n {
		s := math.Sqrt(ratio(scores[ShapeLast][i].NDCG, bl) * ratio(scores[ShapeRandom][i].NDCG, br))
		ch.Tried = append(ch.Tried, Tried{Choice: grid[i], NDCG: s})
		if s > bestScore {
			best, bestScore = i, s
		}
	}
	ch.Choice = grid[best]
	ch.NDCG[ShapeLast] = scores[ShapeLast][best].NDCG
	ch.NDCG[ShapeRandom] = scores[ShapeRandom][best].NDCG
	return ch, nil
}

func ratio(x, best float64) float64 {
	if best <= 0 {
		return 1
	}
	return x / best
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
