package tower

import (
	"context"
	"math"
	"testing"

	"github.com/duetrec/duet/content"
)

// TestTrain_Average checks that Config.Average returns the running average
// of the epochs' weights: single-worker training is deterministic, so the
// weights after epoch k of a three-epoch run are those of a k-epoch run.
func TestTrain_Average(t *testing.T) {
	ctx := context.Background()
	ds, train := generated(t, content.GenOptions{Items: 120, Users: 60, Seed: 3})
	cfg := Config{Dim: 8, Buckets: 1 << 10, Workers: 1, HistoryLen: 10}
	weights := func(epochs int, avg float32) [][]float32 {
		c := cfg
		c.Epochs, c.Average, c.DisableAverage = epochs, avg, avg == 0
		m, err := Train(ctx, ds, train, nil, c)
		if err != nil {
			t.Fatal(err)
		}
		return m.snapshot(nil)
	}
	const share = 0.4
	w1, w2, w3 := weights(1, 0), weights(2, 0), weights(3, 0)
	got := weights(3, share)
	moved := false
	for k := range got {
		for i := range got[k] {
			a := w1[k][i]
			a += share * (w2[k][i] - a)
			a += share * (w3[k][i] - a)
			if d := math.Abs(float64(got[k][i] - a)); d > 1e-5*(1+math.Abs(float64(a))) {
				t.Fatalf("table %d weight %d: %v, want the average %v (epochs: %v %v %v)", k, i, got[k][i], a, w1[k][i], w2[k][i], w3[k][i])
			}
			moved = moved || w3[k][i] != w1[k][i]
		}
	}
	if !moved {
		t.Fatal("the weights did not change between epochs: the test proves nothing")
	}
	if _, err := Train(ctx, ds, train, nil, Config{Average: 1.5}); err == nil {
		t.Error("Average 1.5 accepted")
	}
}
