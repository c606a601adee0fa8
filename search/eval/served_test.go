package eval_test

import (
	"context"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/eval"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
	towereval "github.com/duetrec/duet/tower/eval"
)

// generated reads a small generated data set.
func generated(t *testing.T) *tower.Dataset {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 150, Users: 80, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	ds, err := tower.ReadDataset(ctx, filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile))
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

var quick = tower.Config{Epochs: 2, Dim: 8, Buckets: 1 << 10, Workers: 1}

func TestChooseSources(t *testing.T) {
	ds := generated(t)
	grid := []eval.Choice{
		{Fusion: search.FusionRelative, Sources: map[string]float64{search.SourcePopular: 1}},
		{Fusion: search.FusionRelative, Sources: map[string]float64{search.SourceCF: 1}},
		{Fusion: search.FusionRRF, Sources: map[string]float64{search.SourceTower: 1, search.SourceCF: 1}},
	}
	ch, err := eval.ChooseSources(context.Background(), ds, quick, cfConfig, grid, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Users == 0 || len(ch.Tried) != len(grid) {
		t.Fatalf("%d users, %d tried", ch.Users, len(ch.Tried))
	}
	if ch.Folds != 2 {
		t.Fatalf("scored on %d splits, want 2", ch.Folds)
	}
	checkChosen(t, ch)
	for _, shape := range []string{eval.ShapeLast, eval.ShapeRandom} {
		if v := ch.NDCG[shape]; !(v >= 0 && v <= 1) || ch.Popular[shape] < 0 {
			t.Fatalf("%s: NDCG %v, popular %v", shape, v, ch.Popular[shape])
		}
	}
	// The generated users like topics: the lists beat the popular items.
	if ch.NDCG[eval.ShapeRandom] <= ch.Popular[eval.ShapeRandom] {
		t.Fatalf("served %v, popular %v", ch.NDCG, ch.Popular)
	}

	// Without a grid: coordinate ascent from cf 1 and tower 0.5.
	ch, err = eval.ChooseSources(context.Background(), ds, quick, cfConfig, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Tried) < 1+len(search.Sources)-1 || ch.Sources[search.SourceCF] != 1 || ch.Fusion != search.FusionRelative {
		t.Fatalf("ascent: %d tried, chose %+v", len(ch.Tried), ch.Choice)
	}
	checkChosen(t, ch)

	few := tower.NewDataset(ds.Items[:3])
	few.AddEvent(content.Event{UserID: "u", ItemID: ds.Items[0].ID})
	if _, err := eval.ChooseSources(context.Background(), few, quick, cfConfig, grid, 1); err == nil {
		t.Fatal("chose on users with fewer than five items")
	}
}

// checkChosen checks the choice against the rule's invariants, followed
// from the first choice tried: a choice within eval.RandomSlack of the
// best at the random fifth gives way only to another within it that does
// better at the last items; one outside it, only to one that does better
// at the random fifth.
func checkChosen(t *testing.T, ch *eval.Choosing) {
	t.Helper()
	bestRandom := 0.0
	for _, tr := range ch.Tried {
		bestRandom = max(bestRandom, tr.Random)
	}
	i := slices.IndexFunc(ch.Tried, func(tr eval.ShapeScores) bool {
		return maps.Equal(tr.Sources, ch.Sources) && tr.Fusion == ch.Fusion
	})
	if i < 0 || ch.Tried[i].Last != ch.NDCG[eval.ShapeLast] || ch.Tried[i].Random != ch.NDCG[eval.ShapeRandom] {
		t.Fatalf("chose %+v scoring %v: not among the choices tried with those scores", ch.Choice, ch.NDCG)
	}
	floor := (1 - eval.RandomSlack) * bestRandom
	first, got := ch.Tried[0], ch.Tried[i]
	switch {
	case first.Random >= floor && (got.Random < floor || got.Last < first.Last):
		t.Fatalf("chose %+v (%v), worse than the first choice %+v within the slack", got.Choice, ch.NDCG, first)
	case got.Random < floor && got.Random < first.Random:
		t.Fatalf("chose %+v (%v) outside the slack, below the first choice %+v at the random fifth", got.Choice, ch.NDCG, first)
	}
}

func TestServed(t *testing.T) {
	ctx := context.Background()
	ds := generated(t)
	fixed := &eval.Served{Config: quick, CF: cfConfig, Sources: map[string]float64{search.SourceCF: 1}}
	chosen := &eval.Served{Config: quick, CF: cfConfig}
	defer fixed.Close()
	defer chosen.Close()
	rep, err := towereval.Run(ctx, ds, towereval.SplitLast(ds), []towereval.Recommender{fixed, chosen, &towereval.Pop{}}, towereval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if chosen.Choosing == nil || chosen.Chosen.Sources == nil || fixed.Choosing != nil {
		t.Fatalf("chosen %+v, fixed %+v", chosen.Chosen, fixed.Chosen)
	}
	pop := rep.Models[2].Metrics[towereval.Key(towereval.MetricNDCG, 10)]
	for _, m := range rep.Models[:2] {
		if m.Name != "served" || m.Metrics[towereval.Key(towereval.MetricNDCG, 10)] <= pop {
			t.Fatalf("%s: %v, popular %v", m.Name, m.Metrics, pop)
		}
	}
	// Scores: the hits by rank, every other item -Inf.
	scores := make([]float32, len(ds.Items))
	hist := []int32{0, 1, 2}
	fixed.Score(0, hist, scores)
	ranked := 0
	for i, s := range scores {
		switch {
		case math.IsInf(float64(s), -1):
		case i <= 2:
			t.Fatalf("history item %d scored %v", i, s)
		default:
			ranked++
		}
	}
	if ranked == 0 || ranked > 100 {
		t.Fatalf("%d items ranked", ranked)
	}
}

// cfConfig keeps the lists small.
var cfConfig = cf.Config{Top: 50, Lambda: 50}
