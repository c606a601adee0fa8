package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/tower"
)

// TwoTower is the two-tower model as a Recommender: users are scored by
// the user tower over their history, items by the item tower.
type TwoTower struct {
	Config tower.Config
	// Protocol is the split's protocol (see SetProtocol): it decides which
	// training item of a user FitModel holds out to stop early.
	Protocol string

	model *tower.Model
	// bestEpoch is the epoch early stopping kept in the latest fit (with
	// members, the largest of theirs); Refit keeps the fit's before it.
	bestEpoch int
	items     []float32 // item vectors, row-major
	dim       int
	users     []string // the dataset's user ids, for a model with a user-id embedding
}

// NewTwoTower returns the two-tower recommender with the given user
// encoder ("mean", "recency" or "attention") and otherwise default
// settings.
func NewTwoTower(encoder string) *TwoTower {
	return &TwoTower{Config: tower.Config{Encoder: encoder}}
}

// Name is "two-tower-" and the user encoder.
func (t *TwoTower) Name() string {
	enc := t.Config.Encoder
	if enc == "" {
		enc = "attention"
	}
	return "two-tower-" + enc
}

// SetProtocol records how the split was made, so that the early-stopping
// hold-out mirrors it.
func (t *TwoTower) SetProtocol(protocol string) { t.Protocol = protocol }

// Params reports the settings trained with, defaults filled in once fitted.
func (t *TwoTower) Params() map[string]any {
	c := t.Config
	if t.model != nil {
		c = t.model.Config()
	}
	logq := c.LogQ
	if c.DisableLogQ {
		logq = 0
	}
	p := map[string]any{"objective": c.Objective, "temperature": c.Temperature, "logq": logq, "dim": c.Dim, "epochs": c.Epochs, "average": c.Average, "members": max(c.Members, 1)}
	if c.Objective == tower.ObjectiveSet {
		p["drop"], p["whole_history"], p["full_softmax"] = c.DropFrac, c.WholeHistory, c.FullSoftmax
		p["optimizer"], p["lr"] = c.Optimizer, c.LR
	} else {
		p["held_in"] = c.HeldIn
	}
	return p
}

// Candidates tries the settings that mattered most on MovieLens: the
// softmax temperature, random held-in targets besides the next item (they
// help when test items are not the latest), and the popularity correction;
// then the set objective (tower.Config.WithSetObjective), which models the
// whole history and suits test items drawn from anywhere in it.
func (t *TwoTower) Candidates() []Recommender {
	var out []Recommender
	for _, p := range []struct {
		temperature float32
		noLogQ      bool
		heldIn      int
	}{{0.1, false, 0}, {0.1, false, 16}, {0.1, true, 16}, {0.05, false, 16}} {
		c := t.Config
		c.Temperature, c.LogQ, c.DisableLogQ, c.HeldIn = p.temperature, 1, p.noLogQ, p.heldIn
		out = append(out, &TwoTower{Config: c, Protocol: t.Protocol})
	}
	for _, tau := range []float32{0.1, 0.05} {
		out = append(out, &TwoTower{Config: t.Config.WithSetObjective(tau), Protocol: t.Protocol})
	}
	return out
}

// Fit trains on the training histories (see FitModel).
func (t *TwoTower) Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	_, err := t.FitModel(ctx, ds, train)
	return err
}

// randomHoldOut is how many items of a user FitModel holds out under the
// random protocol.
const randomHoldOut = 3

// FitModel trains on the training histories and returns the model. An
// item of every history of three or more is held out to stop training
// early: the last one, or under the random protocol a few random ones, so
// that training stops where the harness's validation would choose.
func (t *TwoTower) FitModel(ctx context.Context, ds *tower.Dataset, train [][]int32) (*tower.Model, error) {
	cut := make([][]int32, len(train))
	var val []tower.ValPair
	random := strings.HasPrefix(t.Protocol, ProtocolRandom)
	seed := t.Config.Seed
	if seed == 0 {
		seed = 1
	}
	for u, h := range train {
		cut[u] = h
		if len(h) < 3 {
			continue
		}
		if !random {
			val = append(val, tower.ValPair{User: int32(u), History: h[:len(h)-1], Item: h[len(h)-1]})
			cut[u] = h[:len(h)-1]
			continue
		}
		// Up to randomHoldOut random items, the pairs sharing one
		// history: a single random item per user makes too noisy a
		// signal to stop on.
		out := rand.New(rand.NewPCG(seed, uint64(u)^0x686f6c64)).Perm(len(h))[:min(randomHoldOut, len(h)-2)]
		rest := make([]int32, 0, len(h)-len(out))
		for k, i := range h {
			if !slices.Contains(out, k) {
				rest = append(rest, i)
			}
		}
		for _, k := range out {
			val = append(val, tower.ValPair{User: int32(u), History: rest, Item: h[k]})
		}
		cut[u] = rest
	}
	cfg := t.Config
	best := 0
	report := cfg.Progress
	cfg.Progress = func(p tower.TrainProgress) {
		best = max(best, p.BestEpoch) // members report in turn
		if report != nil {
			report(p)
		}
	}
	m, err := tower.Train(ctx, ds, cut, val, cfg)
	if err != nil {
		return nil, fmt.Errorf("two-tower: %w", err)
	}
	t.bestEpoch = best
	t.model, t.dim, t.users = m, m.Dim(), ds.Users
	if t.items, err = m.ItemVectors(ctx, ds.Items, t.items); err != nil {
		return nil, err
	}
	return m, nil
}

// Refit fits again (see FitModel) for at most the epochs the latest fit
// was best at: the data it adds is validation's few items a user, and the
// epochs early stopping waits through after the best are spared.
func (t *TwoTower) Refit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	best := t.bestEpoch
	_, err := t.RefitModel(ctx, ds, train, best)
	t.bestEpoch = best
	return err
}

// RefitModel is FitModel for at most epochs epochs (any number when 0).
func (t *TwoTower) RefitModel(ctx context.Context, ds *tower.Dataset, train [][]int32, epochs int) (*tower.Model, error) {
	saved := t.Config
	defer func() { t.Config = saved }()
	if epochs > 0 && (t.Config.Epochs == 0 || epochs < t.Config.Epochs) {
		t.Config.Epochs = epochs
	}
	return t.FitModel(ctx, ds, train)
}

// Score is the inner product of the user vector with every item vector.
// A model trained with a user-id embedding adds the user's.
func (t *TwoTower) Score(user int32, history []int32, scores []float32) {
	if t.model == nil || len(scores)*t.dim != len(t.items) {
		return
	}
	var u []float32
	if t.Config.UserID && user >= 0 && int(user) < len(t.users) {
		u = t.model.UserVectorID(t.users[user], history, nil)
	} else {
		u = t.model.UserVector(history, nil)
	}
	for i := range scores {
		scores[i] = vec.Dot(u, t.items[i*t.dim:(i+1)*t.dim])
	}
}
