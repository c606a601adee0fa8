package bench_test

import (
	"context"
	"fmt"

	"github.com/duetrec/duet/tools/bench"
)

// RunANN on a small generated set: the exact scan is its own ground
// truth, and a graph searched wide enough finds nearly every neighbour.
func ExampleRunANN() {
	rep, err := bench.RunANN(context.Background(), bench.ANNOptions{
		N: 1000, NQ: 20, Dim: 16, Clusters: 5, Spread: 1.5, Seed: 1,
		Indexes: []string{"hnsw", "exact"}, M: 8, EfConstruction: 64, Ef: []int{128}, K: 10, Workers: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, row := range rep.Rows {
		fmt.Printf("%s: recall@10 at least 0.95: %t\n", row.Index, row.Recall >= 0.95)
	}
	// Output:
	// hnsw: recall@10 at least 0.95: true
	// exact: recall@10 at least 0.95: true
}
