package index_test

import (
	"context"
	"fmt"

	"github.com/duetrec/duet/index"
)

func Example_vector() {
	ctx := context.Background()
	idx, err := index.NewHNSW(3, index.HNSWOptions{Seed: 1})
	if err != nil {
		panic(err)
	}
	items := map[string][]float32{
		"jazz-1": {0.9, 0.1, 0},
		"jazz-2": {0.8, 0.3, 0.1},
		"rock-1": {0.1, 0.9, 0.2},
		"folk-1": {0.2, 0.2, 0.9},
	}
	for _, id := range []string{"jazz-1", "jazz-2", "rock-1", "folk-1"} {
		if err := idx.Add(id, items[id]); err != nil {
			panic(err)
		}
	}
	user := []float32{1, 0.2, 0}
	hits, _ := idx.Search(ctx, user, 2, nil)
	for _, h := range hits {
		fmt.Printf("%s %.3f\n", h.ID, h.Score)
	}
	// Only items the caller allows, e.g. those in stock.
	hits, _ = idx.Search(ctx, user, 2, index.NewAllowSet("rock-1", "folk-1"))
	fmt.Println(hits[0].ID)

	_, err = idx.Search(ctx, []float32{1, 2}, 2, nil)
	fmt.Println(err)
	// Output:
	// jazz-1 0.996
	// jazz-2 0.980
	// rock-1
	// hnsw search: vector has the wrong dimension: got 2, want 3
}
