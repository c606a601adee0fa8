package eval_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/weaviatetest"
	"github.com/duetrec/duet/search/eval"
	"github.com/duetrec/duet/tower"
	towereval "github.com/duetrec/duet/tower/eval"
)

func TestMain(m *testing.M) {
	code := m.Run()
	weaviatetest.StopShared()
	os.Exit(code)
}

// The benchmark asks the same snapshot with its index in Weaviate: every
// mode answered, near-vector recall against exact measured, and the
// collection dropped at the end.
func TestSearch_Weaviate(t *testing.T) {
	ctx := context.Background()
	c, err := weaviate.Open(weaviatetest.Shared(t).URL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 150, Users: 60, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	ds, err := tower.ReadDataset(ctx, filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eval.Search(ctx, ds, towereval.SplitLast(ds), eval.SearchOptions{Epochs: 2, Weaviate: c, Collection: weaviate.Options{Replicas: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Weaviate) != len(rep.Modes) || rep.Publish <= 0 {
		t.Fatalf("weaviate modes %+v, publish %v", rep.Weaviate, rep.Publish)
	}
	// 150 items: Weaviate's graph finds the exact neighbours, and the
	// vector-only modes rank as the exact index does.
	if rep.WeaviateRecall < 0.99 {
		t.Fatalf("near-vector recall@10 %.3f", rep.WeaviateRecall)
	}
	for i, m := range rep.Weaviate {
		if m.Name != rep.Modes[i].Name || m.Cases != rep.Modes[i].Cases {
			t.Fatalf("mode %+v beside %+v", m, rep.Modes[i])
		}
		if m.Name == "vector-user" && math.Abs(m.MRR-rep.Modes[i].MRR) > 1e-9 {
			t.Errorf("%s: MRR %.4f in Weaviate, %.4f embedded", m.Name, m.MRR, rep.Modes[i].MRR)
		}
	}
	if names, _ := c.Collections(ctx); len(names) != 0 {
		t.Fatalf("collections left: %v", names)
	}
}
