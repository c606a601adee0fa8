package tower_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/duetrec/duet/tower"
)

// TestWholeHistory checks that a WholeHistory model reads every history
// item at inference, and a windowed one only the last HistoryLen.
func TestWholeHistory(t *testing.T) {
	ds := smallDataset(t)
	for _, whole := range []bool{false, true} {
		cfg := tower.Config{Dim: 8, Buckets: 1 << 8, HistoryLen: 3, Epochs: 1, Workers: 1, UserExamples: 5,
			Encoder: tower.EncoderMean, Objective: tower.ObjectiveSet, WholeHistory: whole}
		m, err := tower.Train(context.Background(), ds, nil, nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := []int32{0, 1, 2, 3, 4, 5}
		full, last := m.UserVector(h, nil), m.UserVector(h[3:], nil)
		if same := slices.Equal(full, last); same == whole {
			t.Errorf("WholeHistory %v: the vector of six items equals that of the last three: %v", whole, same)
		}
	}
}

func TestConfig_SetObjective(t *testing.T) {
	ds := smallDataset(t)
	for _, cfg := range []tower.Config{
		{Objective: "bag"},
		{Encoder: tower.EncoderAttention, WholeHistory: true},
		{Objective: tower.ObjectiveSet, DropFrac: 1},
	} {
		cfg.Dim, cfg.Buckets, cfg.Epochs = 4, 16, 1
		if _, err := tower.Train(context.Background(), ds, nil, nil, cfg); !errors.Is(err, tower.ErrConfig) {
			t.Errorf("%+v: error %v, want ErrConfig", cfg, err)
		}
	}
}

func TestConfig_WithSetObjective(t *testing.T) {
	ds := smallDataset(t)
	for _, cfg := range []tower.Config{
		tower.Served(),
		tower.Config{Encoder: tower.EncoderRecency}.WithSetObjective(0.1),
		tower.Config{Encoder: tower.EncoderAttention}.WithSetObjective(0.1),
	} {
		if cfg.Objective != tower.ObjectiveSet || cfg.WholeHistory == (cfg.Encoder == tower.EncoderAttention) || !cfg.DisableIDDropout || !cfg.FullSoftmax {
			t.Fatalf("%+v", cfg)
		}
		// Each trains: the settings agree with one another.
		cfg.Dim, cfg.Buckets, cfg.Epochs, cfg.Workers = 4, 16, 1, 1
		if _, err := tower.Train(context.Background(), ds, nil, nil, cfg); err != nil {
			t.Fatalf("%s: %v", cfg.Encoder, err)
		}
	}
	if c := tower.Served(); c.Encoder != tower.EncoderMean || c.Temperature != 0.05 {
		t.Fatalf("served: %+v", c)
	}
}
