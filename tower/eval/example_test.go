package eval_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/eval"
)

// Evaluate two baselines with leave-last-out on a small synthetic set.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "eval-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 300, Users: 400, Seed: 1}); err != nil {
		log.Fatal(err)
	}
	itemsPath, eventsPath := filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile)
	ds, err := tower.ReadDataset(ctx, itemsPath, eventsPath)
	if err != nil {
		log.Fatal(err)
	}

	split := eval.SplitLast(ds)
	models := []eval.Recommender{&eval.Pop{}, &eval.Random{Seed: 1}}
	rep, err := eval.Run(ctx, ds, split, models, eval.Options{K: []int{10, 50}})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range rep.Models {
		fmt.Printf("%-6s recall@10 %.3f  recall@50 %.3f\n", m.Name, m.Metrics["recall@10"], m.Metrics[eval.Key(eval.MetricRecall, 50)])
	}
	// rep.WriteJSON(w) writes the `duet eval --json` report.

	// Output:
	// pop    recall@10 0.068  recall@50 0.255
	// random recall@10 0.022  recall@50 0.170
}
