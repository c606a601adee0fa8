package snapshot_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
)

// TestLoad_Format1 loads snapshots that an earlier build of Duet wrote
// (testdata/format1: 60 generated items; one with an HNSW index and a
// one-member model, one with the exact index and a two-member model) and
// checks that they answer as they did then: golden.json holds the hits
// that build gave for the same requests.
func TestLoad_Format1(t *testing.T) {
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join("testdata", "format1", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	type hit struct {
		ID    string  `json:"id"`
		Score float64 `json:"score"`
	}
	var golden map[string][][]hit
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	hist := search.StaticHistory{"u01": {{UserID: "u01", ItemID: "i03", Kind: "view"}, {UserID: "u01", ItemID: "i07", Kind: "view"}}}
	reqs := []search.Request{
		{K: 5},
		{Query: "silk lookbook", K: 5},
		{UserID: "u01", K: 5},
		{Query: "silk lookbook", UserID: "u01", K: 5},
		{Query: "silk lookbook", K: 5, Mode: search.ModeKeyword},
	}
	for name, want := range golden {
		t.Run(name, func(t *testing.T) {
			snap, err := snapshot.Load(ctx, filepath.Join("testdata", "format1", name), filepath.Join(t.TempDir(), "work"), hist, search.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			if snap.Manifest.Items != 60 || snap.Manifest.Seq != 312 {
				t.Fatalf("manifest %+v", snap.Manifest)
			}
			for i, req := range reqs {
				res, err := snap.Search(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Hits) != len(want[i]) {
					t.Fatalf("request %+v: %d hits, want %d", req, len(res.Hits), len(want[i]))
				}
				for j, h := range res.Hits {
					if h.ID != want[i][j].ID || math.Abs(h.Score-want[i][j].Score) > 1e-6 {
						t.Fatalf("request %+v, hit %d: %s %v, want %s %v", req, j, h.ID, h.Score, want[i][j].ID, want[i][j].Score)
					}
				}
			}
			// Live edits work on the old snapshot as on a new one.
			if err := snap.ItemPut(ctx, content.Item{ID: "new", Title: "silk lookbook"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
