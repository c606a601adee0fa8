package eval

import (
	"context"
	"fmt"

	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/tower"
)

// TwoTower is the two-tower model as a Recommender: users are scored by
// the user tower over their history, items by the item tower.
type TwoTower struct {
	Config tower.Config

	model *tower.Model
	items []float32 // item vectors, row-major
	dim   int
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

// Params reports the settings trained with, defaults filled in once fitted.
func (t *TwoTower) Params() map[string]any {
	c := t.Config
	if t.model != nil {
		c = t.model.Config()
	}
	return map[string]any{"temperature": c.Temperature, "logq": c.LogQ, "held_in": c.HeldIn, "dim": c.Dim, "epochs": c.Epochs}
}

// Candidates tries the settings that mattered most on MovieLens: the
// softmax temperature, random held-in targets besides the next item (they
// help when test items are not the latest), and the popularity correction.
func (t *TwoTower) Candidates() []Recommender {
	var out []Recommender
	for _, p := range [][3]float32{{0.1, 1, 0}, {0.1, 1, 16}, {0.1, -1, 16}, {0.05, 1, 16}} {
		c := t.Config
		c.Temperature, c.LogQ, c.HeldIn = p[0], p[1], int(p[2])
		out = append(out, &TwoTower{Config: c})
	}
	return out
}

// Fit trains on the training histories (see FitModel).
func (t *TwoTower) Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	_, err := t.FitModel(ctx, ds, train)
	return err
}

// FitModel trains on the training histories and returns the model. The
// last item of every history of three or more is held out to stop
// training early.
func (t *TwoTower) FitModel(ctx context.Context, ds *tower.Dataset, train [][]int32) (*tower.Model, error) {
	cut := make([][]int32, len(train))
	var val []tower.ValPair
	for u, h := range train {
		cut[u] = h
		if len(h) >= 3 {
			val = append(val, tower.ValPair{User: int32(u), History: h[:len(h)-1], Item: h[len(h)-1]})
			cut[u] = h[:len(h)-1]
		}
	}
	m, err := tower.Train(ctx, ds, cut, val, t.Config)
	if err != nil {
		return nil, fmt.Errorf("two-tower: %w", err)
	}
	t.model, t.dim = m, m.Dim()
	t.items = make([]float32, len(ds.Items)*t.dim)
	for i := range ds.Items {
		m.ItemVector(ds.Items[i], t.items[i*t.dim:(i+1)*t.dim])
	}
	return m, nil
}

// Score is the inner product of the user vector with every item vector.
func (t *TwoTower) Score(_ int32, history []int32, scores []float32) {
	if t.model == nil || len(scores)*t.dim != len(t.items) {
		return
	}
	u := t.model.UserVector(history, nil)
	for i := range scores {
		scores[i] = vec.Dot(u, t.items[i*t.dim:(i+1)*t.dim])
	}
}
