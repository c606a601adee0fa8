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
