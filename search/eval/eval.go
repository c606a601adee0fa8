// Package eval measures what Duet serves, through the code that serves
// it: a model trained on a split's training part, every item indexed into
// a snapshot, the snapshot loaded as the server loads it, and the test
// cases asked of the loaded engine. tower/eval measures the models on
// their own; this package measures the engine over them.
//
// Search is the personalised-search benchmark: for every test item of a
// split, a short query from its categories and tags (search.QueryFor),
// asked with the user's training and validation history, answered by each
// search mode (search.EvalModes).
package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
	towereval "github.com/duetrec/duet/tower/eval"
)

// SearchOptions tunes Search. The zero value trains for 20 epochs at most
// with seed 1.
type SearchOptions struct {
	Epochs int    // most epochs of two-tower training; default 20
	Seed   uint64 // random seed of training and of the queries; default 1
	// Weaviate, when set, is a cluster the same snapshot is also built
	// into (a collection shaped by Collection, dropped at the end), to be
	// asked the same cases beside the embedded indexes.
	Weaviate   *weaviate.Client
	Collection weaviate.Options
}

// SearchReport is what Search measures.
type SearchReport struct {
	Protocol string
	Queries  int
	Items    int
	// Train is how long training took.
	Train time.Duration
	// Modes holds each search mode's MRR@10 and Recall@10, the queries
	// asked as typed, words matched exactly.
	Modes []search.EvalResult
	// Variants are the same cases asked as a search box asks them (the
	// last word as a prefix, typos tolerated: the API's defaults), as
	// typed, with one typo, and cut mid-word.
	Variants []SearchVariant
	// Weaviate, with SearchOptions.Weaviate, is Modes asked of the same
	// snapshot with its index in Weaviate; WeaviateRecall is the recall@10
	// of Weaviate's near-vector search against the exact one, for every
	// item's vector as a query (at most 1,000), and Publish the time the
	// collection took to fill.
	Weaviate       []search.EvalResult
	WeaviateRecall float64
	Publish        time.Duration
	// WeaviateVariants are Variants asked of the snapshot in Weaviate.
	WeaviateVariants []SearchVariant
}

// SearchVariant is the benchmark's cases changed one way and asked with
// search.DefaultTypos and prefixes on.
type SearchVariant struct {
	Name string `json:"name"`
	// Changed counts the queries the change applied to (a typo in a word
	// of five or more letters, where the rule tolerates one; a word cut).
	Changed int                 `json:"changed"`
	Modes   []search.EvalResult `json:"modes"`
}

// Names of SearchReport.Variants.
const (
	VariantAsTyped = "as typed"
	VariantTypo    = "one typo"
	VariantPrefix  = "cut mid-word"
)

// Search runs the personalised-search benchmark on a split of ds: a
// two-tower model with the recency encoder trained on the training part,
// every item indexed (exact vector index), and for each test item a query
// from its labels, asked with the user's training and validation history,
// seen items excluded. Test items with no categories or tags give no
// query.
func Search(ctx context.Context, ds *tower.Dataset, spl *towereval.Split, opts SearchOptions) (*SearchReport, error) {
	if opts.Epochs == 0 {
		opts.Epochs = 20
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	tt := towereval.NewTwoTower(tower.EncoderRecency)
	tt.Config.Epochs, tt.Config.Seed = opts.Epochs, opts.Seed
	start := time.Now()
	model, err := tt.FitModel(ctx, ds, spl.TrainItems())
	if err != nil {
		return nil, err
	}
	rep := &SearchReport{Protocol: spl.Protocol, Items: len(ds.Items), Train: time.Since(start)}

	hist := search.StaticHistory{}
	rng := rand.New(rand.NewPCG(opts.Seed, 3))
	var cases []search.EvalCase
	for u, user := range ds.Users {
		var evs []content.Event
		for _, x := range spl.Train[u] {
			evs = append(evs, content.Event{UserID: user, ItemID: ds.Items[x.Item].ID, Kind: "train"})
		}
		for _, it := range spl.Val[u] {
			evs = append(evs, content.Event{UserID: user, ItemID: ds.Items[it].ID, Kind: "val"})
		}
		hist[user] = evs
		for _, it := range spl.Test[u] {
			q := search.QueryFor(&ds.Items[it], rng)
			if q == "" {
				continue // nothing to ask with
			}
			cases = append(cases, search.EvalCase{UserID: user, Query: q, Target: ds.Items[it].ID})
		}
	}
	rep.Queries = len(cases)

	data, err := os.MkdirTemp("", "duet-eval-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	root := snapshot.NewRoot(data)
	pop := ds.Popularity(spl.Train)
	dir, err := root.Build(ctx, 0, model, ds.Items, pop, snapshot.BuildOptions{ANN: index.KindExact})
	if err != nil {
		return nil, err
	}
	// Histories are whole: exclude-seen drops every training item.
	snap, err := root.Load(ctx, dir, hist, search.Options{SeenLen: 1 << 30})
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	if rep.Modes, err = search.Evaluate(ctx, snap.Engine, cases, search.EvalModes()); err != nil {
		return nil, fmt.Errorf("personalised search: %w", err)
	}
	if opts.Weaviate != nil {
		if err := searchWeaviate(ctx, rep, model, ds, pop, hist, cases, opts); err != nil {
			return nil, err
		}
	}
	if rep.Variants, err = searchVariants(ctx, snap.Engine, cases, opts.Seed); err != nil {
		return nil, err
	}
	return rep, nil
}

// searchVariants asks e the cases changed each way (the same changes for
// the same seed), as a search box asks them.
func searchVariants(ctx context.Context, e *search.Engine, cases []search.EvalCase, seed uint64) ([]SearchVariant, error) {
	typed := search.EvalModes()
	for i := range typed {
		typed[i].Request.Prefix, typed[i].Request.Typos = true, search.DefaultTypos
	}
	vrng := rand.New(rand.NewPCG(seed, 4))
	var out []SearchVariant
	for _, v := range []struct {
		name   string
		change func(string, *rand.Rand) (string, bool)
	}{
		{VariantAsTyped, func(q string, _ *rand.Rand) (string, bool) { return q, false }},
		{VariantTypo, search.TypoQuery},
		{VariantPrefix, func(q string, rng *rand.Rand) (string, bool) { return search.PrefixQuery(q, rng, 2) }},
	} {
		changed := make([]search.EvalCase, len(cases))
		sv := SearchVariant{Name: v.name}
		for i, c := range cases {
			var ok bool
			c.Query, ok = v.change(c.Query, vrng)
			if ok {
				sv.Changed++
			}
			changed[i] = c
		}
		var err error
		if sv.Modes, err = search.Evaluate(ctx, e, changed, typed); err != nil {
			return nil, fmt.Errorf("personalised search, %s: %w", v.name, err)
		}
		out = append(out, sv)
	}
	return out, nil
}

// searchWeaviate builds the snapshot again with its index in Weaviate and
// asks it the cases, and measures its vector recall against the exact
// index.
func searchWeaviate(ctx context.Context, rep *SearchReport, model *tower.Model, ds *tower.Dataset, pop map[string]float64, hist search.StaticHistory, cases []search.EvalCase, opts SearchOptions) error {
	data, err := os.MkdirTemp("", "duet-eval-weaviate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	root := snapshot.NewRoot(data)
	root.UseIndex(opts.Weaviate, "")
	start := time.Now()
	dir, err := root.Build(ctx, 0, model, ds.Items, pop, snapshot.BuildOptions{Weaviate: opts.Weaviate, Collection: opts.Collection})
	if err != nil {
		return fmt.Errorf("personalised search in weaviate: %w", err)
	}
	rep.Publish = time.Since(start)
	snap, err := root.Load(ctx, dir, hist, search.Options{SeenLen: 1 << 30})
	if err != nil {
		return err
	}
	defer snap.Close()
	defer opts.Weaviate.Drop(context.WithoutCancel(ctx), snap.Manifest.Collection)
	if rep.Weaviate, err = search.Evaluate(ctx, snap.Engine, cases, search.EvalModes()); err != nil {
		return fmt.Errorf("personalised search in weaviate: %w", err)
	}
	if rep.WeaviateVariants, err = searchVariants(ctx, snap.Engine, cases, opts.Seed); err != nil {
		return fmt.Errorf("in weaviate: %w", err)
	}
	col, err := opts.Weaviate.Collection(ctx, snap.Manifest.Collection)
	if err != nil {
		return err
	}
	flat, err := model.ItemVectors(ctx, ds.Items, nil)
	if err != nil {
		return err
	}
	d := model.Dim()
	vecs := make([][]float32, len(ds.Items))
	for i := range vecs {
		vecs[i] = flat[i*d : (i+1)*d]
	}
	const k, maxQueries = 10, 1000
	step := max(1, len(vecs)/maxQueries)
	found, want := 0, 0
	for q := 0; q < len(vecs); q += step {
		exact := topk.New(k)
		for i, v := range vecs {
			exact.Push(int32(i), vec.Dot(v, vecs[q]))
		}
		truth := map[string]bool{}
		for _, e := range exact.Sorted() {
			truth[ds.Items[e.ID].ID] = true
		}
		hits, err := col.NearVector(ctx, vecs[q], k, nil)
		if err != nil {
			return err
		}
		for _, h := range hits {
			if truth[h.ID] {
				found++
			}
		}
		want += len(truth)
	}
	rep.WeaviateRecall = float64(found) / float64(max(want, 1))
	return nil
}

// WriteJSON writes the report in the shape `duet eval --task search
// --json` promises: {"protocol", "task": "search", "k": [10], "queries",
// "models": [{"name", "mrr@10", "recall@10", "cases"}], "variants":
// [{"name", "changed", "modes": [as models]}]}, and with a Weaviate
// cluster "weaviate": {"models", "variants", "vector_recall@10",
// "publish_seconds"}.
func (r *SearchReport) WriteJSON(path string) error {
	m := map[string]any{"protocol": r.Protocol, "task": "search", "k": []int{10}, "queries": r.Queries, "models": r.Modes, "variants": r.Variants}
	if len(r.Weaviate) > 0 {
		m["weaviate"] = map[string]any{"models": r.Weaviate, "variants": r.WeaviateVariants, "vector_recall@10": r.WeaviateRecall, "publish_seconds": r.Publish.Seconds()}
	}
	return durable.WriteJSON(path, m)
}
