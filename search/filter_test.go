package search_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/search"
)

// TestEngine_FilteredVectorSearch checks that the vector side's filter
// lists the items of a request's categories, tags and numeric ranges for
// the graph: few allowed items are scored directly (exactly, and without
// the index sampling), many are walked; string equality, which the
// catalogue does not list, still filters; and items edited after the
// catalogue was built are listed by what they hold now.
func TestEngine_FilteredVectorSearch(t *testing.T) {
	ctx := context.Background()
	const n, dim = 6000, 8
	rng := rand.New(rand.NewPCG(5, 6))
	enc := &fakeEncoder{vecs: map[string][]float32{}}
	var items []content.Item
	for i := range n {
		it := content.Item{ID: fmt.Sprintf("i%d", i), Attributes: map[string]content.Value{"n": content.Number(float64(i))}}
		if i%100 == 0 {
			it.Categories = append(it.Categories, "rare")
		}
		if i%2 == 0 {
			it.Categories = append(it.Categories, "half")
		}
		if i%50 == 1 {
			it.Tags = []string{"odd"}
			it.Attributes["lang"] = content.String("fr")
		}
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		enc.vecs[it.ID] = v
		items = append(items, it)
	}
	h, err := index.NewHNSW(dim, index.HNSWOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cat := search.NewCatalog()
	e := search.New(search.Parts{Vectors: h, Text: &fakeText{items: map[string]content.Item{}}, Encoder: enc, Catalog: cat}, search.Options{})
	for _, it := range items {
		if err := e.ItemPut(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	// Moved into the range and out of the rare category after the puts.
	moved := items[4000]
	moved.Attributes = map[string]content.Value{"n": content.Number(105)}
	moved.Categories = nil
	if err := e.ItemPut(ctx, moved); err != nil {
		t.Fatal(err)
	}
	current := map[string]content.Item{}
	for _, it := range items {
		current[it.ID] = it
	}
	current[moved.ID] = moved

	in := func(f search.Filters, it content.Item) bool {
		ok := len(f.Categories) == 0 || slices.ContainsFunc(it.Categories, func(c string) bool { return slices.Contains(f.Categories, c) })
		ok = ok && (len(f.Tags) == 0 || slices.ContainsFunc(it.Tags, func(c string) bool { return slices.Contains(f.Tags, c) }))
		for _, a := range f.Attributes {
			v, has := it.Attributes[a.Key]
			switch {
			case !has:
				ok = false
			case a.Equals != nil:
				ok = ok && v == *a.Equals
			default:
				ok = ok && v.IsNum && (a.Min == nil || v.Num >= *a.Min) && (a.Max == nil || v.Num <= *a.Max)
			}
		}
		return ok
	}
	fr := content.String("fr")
	for _, c := range []struct {
		name string
		f    search.Filters
		walk bool
	}{
		{"rare category", search.Filters{Categories: []string{"rare"}}, false},
		{"range", search.Filters{Attributes: []search.AttrFilter{{Key: "n", Min: f64(100), Max: f64(140)}}}, false},
		{"tag and string equality", search.Filters{Tags: []string{"odd"}, Attributes: []search.AttrFilter{{Key: "lang", Equals: &fr}}}, false},
		{"half and a range", search.Filters{Categories: []string{"half"}, Attributes: []search.AttrFilter{{Key: "n", Min: f64(0)}}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.FilterStats()
			var hits, want float64
			for q := range 20 {
				id := items[q*37].ID
				r, err := e.Similar(ctx, id, search.Request{K: 10, Filters: c.f})
				if err != nil {
					t.Fatal(err)
				}
				qv := enc.ItemVector(current[id])
				var truth []search.Scored
				for _, it := range current {
					if it.ID != id && in(c.f, it) {
						truth = append(truth, search.Scored{ID: it.ID, Score: float64(vec.Dot(qv, enc.ItemVector(it)))})
					}
				}
				slices.SortFunc(truth, func(a, b search.Scored) int {
					if a.Score > b.Score {
						return -1
					}
					if a.Score < b.Score {
						return 1
					}
					return 0
				})
				top := map[string]bool{}
				for _, s := range truth[:min(10, len(truth))] {
					top[s.ID] = true
				}
				want += float64(len(top))
				for _, hit := range r.Hits {
					if !in(c.f, current[hit.ID]) {
						t.Fatalf("hit %s does not pass the filters", hit.ID)
					}
					if top[hit.ID] {
						hits++
					}
				}
			}
			after := h.FilterStats()
			t.Logf("recall@10 %.3f; walks %d, scans %d, full scans %d", hits/want, after.Walks-before.Walks, after.Scans-before.Scans, after.FullScans-before.FullScans)
			if c.walk {
				if after.Walks-before.Walks != 20 || hits/want < 0.9 {
					t.Errorf("want 20 walks with recall ≥ 0.9")
				}
				return
			}
			if after.Scans-before.Scans != 20 || hits != want {
				t.Errorf("want 20 exact scans of the listed items")
			}
		})
	}
	// The moved item is found by the range it moved into, and no longer
	// by its old category.
	r, err := e.Similar(ctx, items[0].ID, search.Request{K: 100, Filters: search.Filters{Attributes: []search.AttrFilter{{Key: "n", Min: f64(105), Max: f64(105)}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(r); got != "i105,i4000" && got != "i4000,i105" {
		t.Errorf("n = 105: got %s, want i105 and i4000", got)
	}
	r, err = e.Similar(ctx, items[0].ID, search.Request{K: 100, Filters: search.Filters{Categories: []string{"rare"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hits) != n/100-2 { // less the query and the moved item
		t.Errorf("rare: %d hits, want %d", len(r.Hits), n/100-2)
	}
}
