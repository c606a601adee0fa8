package eval

import (
	"context"
	"fmt"
	"math"
	"os"

	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
	towereval "github.com/duetrec/duet/tower/eval"
)

// Served is what GET /v1/users/{id}/recommendations serves, as a
// tower/eval Recommender: Fit makes the served parts from the training
// histories (the two-tower model, the collaborative lists), builds a
// snapshot of them and loads it as the server does; Score asks the loaded
// engine's Recommend for the user's history, seen items excluded, and
// scores its hits by rank. The harness therefore measures the serving
// code: its sources, their fusion and exclude-seen, not a model on its
// own.
type Served struct {
	// Config trains the two-tower model; duet rebuild trains
	// tower.Served() by default.
	Config tower.Config
	// CF makes the collaborative lists.
	CF cf.Config
	// Sources weighs the candidate lists (search.DefaultSources when
	// nil).
	Sources map[string]float64
	// Fusion fuses them: search.FusionRRF (the default) or
	// search.FusionRelative.
	Fusion search.Fusion
	// K is how many hits Score asks for; default 100.
	K int
	// Weaviate, when set, holds the snapshot's vectors and text (a
	// collection shaped by Collection, dropped on Close) instead of the
	// embedded indexes: the recommendations as a server with --index
	// serves them.
	Weaviate   *weaviate.Client
	Collection weaviate.Options
	// Twin, when set, is a Served fitted just before on the same data:
	// this one serves its model, lists and configuration instead of
	// fitting its own, so that the two differ by their index alone.
	Twin *Served

	// Chosen is the configuration served after Fit, and Choosing how it
	// was chosen when Fit chose.
	Chosen   Choice
	Choosing *Choosing

	protocol string

	dir  string
	snap *snapshot.Snapshot
	// What the snapshot was built from, for a twin.
	model *tower.Model
	lists *snapshot.Lists
	pop   map[string]float64
	ids   []string // item ids by the dataset's index
	pos   map[string]int32
	cfBy  string // the collaborative method Fit used
}

// SetProtocol records how the split was made, for early stopping.
func (s *Served) SetProtocol(protocol string) { s.protocol = protocol }

// Name returns "served", or "served-weaviate" with Weaviate.
func (s *Served) Name() string {
	if s.Weaviate != nil {
		return "served-weaviate"
	}
	return "served"
}

// Params reports the served configuration.
func (s *Served) Params() map[string]any {
	p := map[string]any{"sources": s.Chosen.Sources, "fusion": s.Chosen.Fusion, "cf": s.cfBy, "encoder": s.Config.Encoder, "objective": s.Config.Objective}
	if s.Config.Encoder == "" {
		p["encoder"] = tower.EncoderRecency
	}
	if s.Choosing != nil {
		p["splits"] = s.Choosing.Folds
	}
	return p
}

// Fit trains the parts on train and loads a snapshot of them. Without
// Sources it first chooses them as duet rebuild does, with
// ChooseSources on the training histories: the served configuration
// measured is the one a rebuild of the same data would serve. The model
// trains for at most the choosing model's best epoch count, as a rebuild
// trains it, and stops early within it on items held out in the split's
// shape, as the harness's two-tower models do.
func (s *Served) Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	s.Close()
	s.ids = make([]string, len(ds.Items))
	s.pos = make(map[string]int32, len(ds.Items))
	for i, it := range ds.Items {
		s.ids[i] = it.ID
		s.pos[it.ID] = int32(i)
	}
	if tw := s.Twin; tw != nil {
		if tw.model == nil {
			return fmt.Errorf("served: the twin is not fitted")
		}
		s.Chosen, s.Choosing = tw.Chosen, tw.Choosing
		return s.build(ctx, ds, tw.model, tw.lists, tw.pop, tw.Chosen)
	}
	choice := Choice{Sources: s.Sources, Fusion: s.Fusion}
	s.Choosing = nil
	if s.Sources == nil {
		ch, err := ChooseSources(ctx, ds, s.Config, s.CF, nil, 1)
		if err != nil {
			return fmt.Errorf("served: %w", err)
		}
		choice, s.Choosing = ch.Choice, ch
	}
	s.Chosen = choice
	return s.load(ctx, ds, train, choice)
}

// load fits the parts on train and loads a snapshot of them serving the
// choice.
func (s *Served) load(ctx context.Context, ds *tower.Dataset, train [][]int32, choice Choice) error {
	// Early stopping holds items out as the split did (the two-tower
	// recommender's way), within the epochs the choice's first model
	// was best at, as in a rebuild.
	tt := &towereval.TwoTower{Config: s.Config, Protocol: s.protocol}
	epochs := 0
	if s.Choosing != nil {
		epochs = s.Choosing.Epochs
	}
	model, err := tt.RefitModel(ctx, ds, train, epochs)
	if err != nil {
		return fmt.Errorf("served: %w", err)
	}
	lists, err := snapshot.FitLists(ctx, s.ids, train, s.CF)
	if err != nil {
		return fmt.Errorf("served: %w", err)
	}
	pop := map[string]float64{}
	for _, h := range train {
		for _, it := range h {
			pop[s.ids[it]]++
		}
	}
	return s.build(ctx, ds, model, lists, pop, choice)
}

// build writes and loads the snapshot of the fitted parts.
func (s *Served) build(ctx context.Context, ds *tower.Dataset, model *tower.Model, lists *snapshot.Lists, pop map[string]float64, choice Choice) error {
	s.model, s.lists, s.pop = model, lists, pop
	var err error
	if s.dir, err = os.MkdirTemp("", "duet-served-"); err != nil {
		return err
	}
	root := snapshot.NewRoot(s.dir)
	root.UseIndex(s.Weaviate, "")
	bo := snapshot.BuildOptions{ANN: index.KindExact, Lists: lists, Sources: choice.Sources, SourceFusion: choice.Fusion, Weaviate: s.Weaviate, Collection: s.Collection}
	dir, err := root.Build(ctx, 0, model, ds.Items, pop, bo)
	if err != nil {
		s.Close()
		return fmt.Errorf("served: %w", err)
	}
	// Histories come with each request; exclude-seen reads all of them.
	s.snap, err = root.Load(ctx, dir, search.StaticHistory{}, search.Options{SeenLen: search.MaxHistory})
	if err != nil {
		s.Close()
		return fmt.Errorf("served: %w", err)
	}
	s.cfBy = lists.Method
	return nil
}

// Score asks the engine for the user's recommendations and gives its hits
// descending scores, every other item -Inf.
func (s *Served) Score(_ int32, history []int32, scores []float32) {
	if s.snap == nil || len(scores) != len(s.ids) {
		return
	}
	k := s.K
	if k == 0 {
		k = 100
	}
	hist := make([]string, 0, len(history))
	for _, h := range history[max(0, len(history)-search.MaxHistory):] {
		hist = append(hist, s.ids[h])
	}
	for i := range scores {
		scores[i] = float32(math.Inf(-1))
	}
	res, err := s.snap.Recommend(context.Background(), search.Request{History: hist, K: k, ExcludeSeen: true})
	if err != nil {
		return
	}
	for r, h := range res.Hits {
		if i, ok := s.pos[h.ID]; ok {
			scores[i] = float32(len(res.Hits) - r)
		}
	}
}

// Close releases the loaded snapshot and removes its files.
func (s *Served) Close() error {
	var err error
	if s.snap != nil {
		err = s.snap.Close()
		if c := s.snap.Manifest.Collection; c != "" {
			if derr := s.Weaviate.Drop(context.Background(), c); err == nil {
				err = derr
			}
		}
		s.snap = nil
	}
	if s.dir != "" {
		if rerr := os.RemoveAll(s.dir); err == nil {
			err = rerr
		}
		s.dir = ""
	}
	return err
}

var _ towereval.Recommender = (*Served)(nil)
