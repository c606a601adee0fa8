package eval_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search/eval"
	"github.com/duetrec/duet/tower"
	towereval "github.com/duetrec/duet/tower/eval"
)

func TestSearch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 150, Users: 60, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	items, events := filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile)
	ds, err := tower.ReadDataset(ctx, items, events)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eval.Search(ctx, ds, towereval.SplitLast(ds), eval.SearchOptions{Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Protocol != towereval.ProtocolLast || rep.Items != 150 || rep.Queries == 0 || rep.Queries > len(ds.Users) {
		t.Fatalf("report %+v", rep)
	}
	want := map[string]bool{"keyword": true, "vector-query": true, "vector-user": true, "vector-blend": true,
		"hybrid-rrf": true, "hybrid-relative": true, "hybrid-weighted": true}
	for _, m := range rep.Modes {
		if !want[m.Name] || m.Cases != rep.Queries || m.MRR < 0 || m.MRR > m.Recall || m.Recall > 1 {
			t.Errorf("mode %+v", m)
		}
		delete(want, m.Name)
	}
	if len(want) != 0 {
		t.Fatalf("modes missing: %v", want)
	}
	path := filepath.Join(dir, "search.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Protocol string `json:"protocol"`
		Task     string `json:"task"`
		K        []int  `json:"k"`
		Queries  int    `json:"queries"`
		Models   []struct {
			Name   string  `json:"name"`
			MRR    float64 `json:"mrr@10"`
			Recall float64 `json:"recall@10"`
		} `json:"models"`
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Task != "search" || got.Protocol != "last" || len(got.K) != 1 || got.K[0] != 10 || got.Queries != rep.Queries || len(got.Models) != 7 {
		t.Fatalf("json %s", b)
	}
}
