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
		if cfg.Objective != tower.ObjectiveSet || cfg.WholeHistory == (cfg.Encoder == tower.EncoderAttention) || !cfg.FullSoftmax {
			t.Fatalf("%+v", cfg)
		}
		// The served model drops ids (its content vectors serve new
		// items); the grid's set settings keep them.
		if served := cfg.Encoder == tower.EncoderMean && cfg.Temperature == 0.05; cfg.DisableIDDropout == served {
			t.Fatalf("%s: DisableIDDropout %v", cfg.Encoder, cfg.DisableIDDropout)
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

// TestUnseenItemsKeepContentVectors checks that an item no training history
// holds is embedded by its content alone, as an item added after training
// is, under both objectives (the full softmax makes every item a negative),
// while a trained item's vector carries its id embedding.
func TestUnseenItemsKeepContentVectors(t *testing.T) {
	ds := smallDataset(t)
	const unseen, seen = 7, 11
	train := make([][]int32, len(ds.History))
	for u, h := range ds.History {
		for _, x := range h {
			if x.Item != unseen {
				train[u] = append(train[u], x.Item)
			}
		}
	}
	for _, cfg := range []tower.Config{
		{Encoder: tower.EncoderRecency},
		tower.Served(),
	} {
		cfg.Dim, cfg.Buckets, cfg.Epochs, cfg.Workers = 8, 1<<8, 2, 1
		m, err := tower.Train(context.Background(), ds, train, nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			item int32
			same bool
		}{{unseen, true}, {seen, false}} {
			it := ds.Items[tc.item]
			fresh := it
			fresh.ID = "added-after-training"
			got, content := m.ItemVector(it, nil), m.ItemVector(fresh, nil)
			if slices.Equal(got, content) != tc.same {
				t.Errorf("%s/%s item %d: vector equals its content's: %v, want %v", cfg.Encoder, cfg.Objective, tc.item, !tc.same, tc.same)
			}
		}
	}
}

// TestConfig_ResolveSoftmax checks that the full softmax spans small
// catalogs exactly and samples negatives on large ones.
func TestConfig_ResolveSoftmax(t *testing.T) {
	for _, tc := range []struct {
		full      bool
		negatives int
		items     int
		wantFull  bool
		wantNeg   int
	}{
		{true, 0, 9742, true, 0},
		{true, 0, 12000, true, 0},
		{true, 0, 17600, false, 4096},
		{true, 500, 17600, false, 500},
		{false, 0, 17600, false, 0},
	} {
		c := tower.Config{FullSoftmax: tc.full, Negatives: tc.negatives}.ResolveSoftmax(tc.items)
		if c.FullSoftmax != tc.wantFull || c.Negatives != tc.wantNeg {
			t.Errorf("full %v negatives %d, %d items: full %v negatives %d, want %v %d", tc.full, tc.negatives, tc.items, c.FullSoftmax, c.Negatives, tc.wantFull, tc.wantNeg)
		}
	}
}
