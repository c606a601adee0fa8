package tower_test

import (
	"context"
	"slices"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// TestRecentVectorItems checks that the recent vector is the user tower
// over the latest items pooled by recency: for a model trained with the
// recency encoder, the user vector of those items alone.
func TestRecentVectorItems(t *testing.T) {
	m, ds := tinyModel(t, false)
	hist := []content.Item{ds.Items[0], ds.Items[2], {ID: "new", Title: "red boat"}, ds.Items[1]}
	got := m.RecentVectorItems(hist, 2, nil)
	want := m.UserVectorItems(hist[2:], nil)
	if !slices.Equal(got, want) {
		t.Fatalf("recent %v, want %v", got, want)
	}
	if all := m.RecentVectorItems(hist, 10, nil); !slices.Equal(all, m.UserVectorItems(hist, nil)) {
		t.Fatal("a window wider than the history is not the whole history")
	}
	// A model of another encoder pools differently from its own tower.
	mean, err := tower.Train(context.Background(), ds, nil, nil, tower.Config{Dim: 4, Buckets: 32, HistoryLen: 4, Epochs: 2, Workers: 1, Encoder: tower.EncoderMean})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(mean.RecentVectorItems(hist, 4, nil), mean.UserVectorItems(hist, nil)) {
		t.Fatal("recency pooling equals the mean model's own")
	}
}
