package tower

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/duetrec/duet/content"
)

// TestGrad_Batch checks the whole network end to end: the gradients one
// batch leaves in a worker (item and user towers, every encoder, logQ,
// accidental hits, shared negatives, user ids, full softmax, the set
// objective, the whole history) against finite
// differences of the batch loss with respect to every weight.
func TestGrad_Batch(t *testing.T) {
	items := []content.Item{
		{ID: "a", Title: "red apple pie", Categories: []string{"food"}},
		{ID: "b", Title: "green apple", Tags: []string{"fruit"}, Categories: []string{"food", "fresh"}},
		{ID: "c", Title: "fast red car", Categories: []string{"cars"}},
		{ID: "d", Description: "a slow blue boat on the lake"},
		{ID: "e", Title: "blue car"},
		{ID: "f", Title: "pie crust", Tags: []string{"baking"}},
		{ID: "g", Title: "old green boat", Categories: []string{"cars"}},
	}
	ds := NewDataset(items)
	// Item g is never a target: in the next-item batches it is a history
	// item only, whose token mean is read rather than summed.
	train := [][]int32{{0, 1, 5, 0, 2}, {2, 4, 2, 3}, {3, 5, 1}, {6, 1, 4}}
	// Both ways of indexing a batch's tokens: the counting sort and the
	// filter of the catalog-wide index.
	for _, way := range []struct {
		name  string
		share int
	}{{"sort", 0}, {"filter", 1 << 20}} {
		t.Run(way.name, func(t *testing.T) {
			defer func(v int) { tokenFilterShare = v }(tokenFilterShare)
			tokenFilterShare = way.share
			testGradBatch(t, ds, train)
		})
	}
}

func testGradBatch(t *testing.T, ds *Dataset, train [][]int32) {
	a, err := analyzer()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"mean", Config{Encoder: EncoderMean}},
		{"mean history content", Config{Encoder: EncoderMean, HistoryContent: true}},
		{"set history content", Config{Objective: ObjectiveSet, Encoder: EncoderRecency, DropFrac: 0.4, HistoryContent: true}},
		{"recency", Config{Encoder: EncoderRecency, Decay: 0.6}},
		{"attention", Config{Encoder: EncoderAttention}},
		{"attention+negatives+userid", Config{Encoder: EncoderAttention, Negatives: 3, UserID: true}},
		{"full softmax", Config{Encoder: EncoderRecency, FullSoftmax: true}},
		{"set", Config{Objective: ObjectiveSet, Encoder: EncoderMean, DropFrac: 0.4, Negatives: 2}},
		{"set whole history", Config{Objective: ObjectiveSet, Encoder: EncoderRecency, WholeHistory: true, DropFrac: 0.4}},
		{"set full softmax+userid", Config{Objective: ObjectiveSet, Encoder: EncoderMean, WholeHistory: true, FullSoftmax: true, UserID: true, DropFrac: 0.5}},
		{"next whole history", Config{Encoder: EncoderMean, WholeHistory: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Dim, cfg.Buckets, cfg.HistoryLen, cfg.DisableIDDropout, cfg.Temperature, cfg.Workers = 4, 16, 3, true, 0.5, 1
			cfg = cfg.withDefaults()
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			m, err := newModel(context.Background(), a, ds, len(train), cfg)
			if err != nil {
				t.Fatal(err)
			}
			// A generic point: the initial weights hold zero tables and an
			// identity-like projection, a special place for a gradient check.
			rng := rand.New(rand.NewPCG(3, 3))
			for _, p := range m.p.all() {
				for i := range *p {
					(*p)[i] = float32(rng.NormFloat64() * 0.5)
				}
			}
			tr := newTrainer(m, train)
			w := newWorker(tr, 0)
			// Every example, including ones whose window is cut by
			// HistoryLen and duplicate targets (accidental hits), and
			// held-in ones.
			exs := append(tr.ex, example{0, 5, 2}, example{1, 4, 0}, example{2, 3, 2})
			run := func() float64 {
				w.rng = rand.New(rand.NewPCG(7, 7)) // the same negatives every time
				loss := w.forwardBackward(exs)
				return loss
			}
			run()
			d := cfg.Dim
			// The trainer's tables: the packed token table stands for the
			// model's, which the worker does not read.
			tables := tr.tables
			grads := make([][]float32, len(tables))
			for k, p := range tables {
				grads[k] = make([]float32, len(*p))
			}
			for k, i := range w.items {
				copy(grads[0][int(i)*d:], w.ds[k*d:(k+1)*d])
			}
			for j, r := range w.tokRows {
				w.tokenGrad(j, grads[1][int(r)*d:int(r+1)*d])
			}
			for k, sg := range []*sparseGrad{w.catG, w.userG} {
				if sg == nil {
					continue
				}
				for j, r := range sg.rows {
					copy(grads[k+2][int(r)*d:], sg.g[j*d:(j+1)*d])
				}
			}
			for k, g := range [][]float32{w.dpos, w.datt, w.dwi, w.dbi, w.dwu, w.dbu} {
				copy(grads[k+4], g)
			}
			w.reset()
			names := []string{"id", "tok", "cat", "user", "pos", "att", "wi", "bi", "wu", "bu"}
			for k, p := range tables {
				checkGrad(t, names[k], *p, grads[k], func() float64 {
					l := run()
					w.reset()
					return l
				})
			}
			if t.Failed() {
				t.Log(fmt.Sprintf("examples %v", exs))
			}
		})
	}
}
