package tower_test

import (
	"context"
	"testing"

	"github.com/duetrec/duet/internal/race"
	"github.com/duetrec/duet/tower"
)

// TestTrain_BeatsPopularity trains on the generated 300-item, 400-user set,
// leave-last-out, and compares Recall@10 on each user's last item (full
// ranking, history excluded) with popularity's on the same split.
// Popularity scores 0.075; the model configurations score 0.40 to 0.55
// (single worker, so the figures are exact for this code); the threshold
// leaves room for changes of initialisation or defaults. Under the race
// detector only the attention encoder runs, on a smaller budget.
func TestTrain_BeatsPopularity(t *testing.T) {
	ds := smallDataset(t)
	sp := leaveLastOut(ds)
	popR, popN := metrics(sp.test, 10, popularityScorer(ds, sp.train))
	const minRecall = 0.30
	if popR*3 > minRecall {
		t.Fatalf("popularity recall %.3f: the generated data changed; revisit the threshold", popR)
	}
	for _, tc := range []struct {
		name string
		cfg  tower.Config
	}{
		{"mean", tower.Config{Encoder: tower.EncoderMean}},
		{"recency", tower.Config{Encoder: tower.EncoderRecency}},
		{"attention", tower.Config{Encoder: tower.EncoderAttention}},
		{"attention adam negatives", tower.Config{Encoder: tower.EncoderAttention, Optimizer: "adam", Negatives: 64}},
		{"recency full softmax", tower.Config{Encoder: tower.EncoderRecency, FullSoftmax: true}},
		{"mean held-in user-id", tower.Config{Encoder: tower.EncoderMean, HeldIn: 8, UserID: true}},
		{"recency hogwild", tower.Config{Encoder: tower.EncoderRecency, Workers: 4}},
		{"mean set whole history", tower.Config{Encoder: tower.EncoderMean, Objective: tower.ObjectiveSet, WholeHistory: true, Optimizer: "adam", LR: 0.005, DisableIDDropout: true}},
		{"recency set full softmax", tower.Config{Encoder: tower.EncoderRecency, Objective: tower.ObjectiveSet, FullSoftmax: true, Optimizer: "adam", LR: 0.005}},
	} {
		if race.Enabled && tc.name != "attention" {
			continue // the race detector makes training ten times slower
		}
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Dim, cfg.Buckets = 32, 1<<12
			if cfg.Workers == 0 {
				cfg.Workers = 1
			}
			if race.Enabled {
				cfg.Epochs, cfg.HistoryLen, cfg.UserExamples = 2, 10, 10
			}
			m, err := tower.Train(context.Background(), ds, sp.train, sp.val, cfg)
			if err != nil {
				t.Fatal(err)
			}
			r, n := evalModel(m, sp.test)
			t.Logf("recall@10 %.3f ndcg@10 %.3f; popularity %.3f %.3f", r, n, popR, popN)
			if r < minRecall {
				t.Fatalf("recall@10 %.3f, want at least %.2f (popularity %.3f)", r, minRecall, popR)
			}
		})
	}
}
