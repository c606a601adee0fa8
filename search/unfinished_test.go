package search_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/search"
)

// TestEngine_UnfinishedWord checks a search whose last word is being
// typed: the vector list is drawn from the items holding a word it begins
// (exactly the best of them by the user's vector), keyword hits holding
// none are not scored into it, filters still hold; and a finished word,
// prefixes not asked, a keyword search, or a beginning held by more than
// a quarter of the catalogue leave the vector list whole.
func TestEngine_UnfinishedWord(t *testing.T) {
	for _, kind := range []index.Kind{index.KindExact, index.KindHNSW} {
		t.Run(string(kind), func(t *testing.T) { testUnfinishedWord(t, kind) })
	}
}

func testUnfinishedWord(t *testing.T, kind index.Kind) {
	ctx := context.Background()
	const n, dim = 200, 3 // fakeEncoder's users have three dimensions
	rng := rand.New(rand.NewPCG(7, 8))
	enc := &fakeEncoder{vecs: map[string][]float32{}}
	var items []content.Item
	for i := range n {
		words := []string{"item"}
		if i%20 == 0 {
			words = append(words, "zebra") // 10 items
		}
		if i%2 == 0 {
			words = append(words, "common") // 100: more than a quarter
		}
		if i%7 == 0 {
			words = append(words, "alpha")
		}
		it := content.Item{ID: fmt.Sprintf("i%03d", i), Title: strings.Join(words, " ")}
		if i%3 == 0 {
			it.Categories = []string{"x"}
		}
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		enc.vecs[it.ID] = v
		items = append(items, it)
	}
	var vectors search.VectorIndex
	var err error
	if kind == index.KindHNSW {
		vectors, err = index.NewHNSW(dim, index.HNSWOptions{Seed: 1})
	} else {
		vectors, err = index.NewExact(dim)
	}
	if err != nil {
		t.Fatal(err)
	}
	tx, err := text.Open(ctx, filepath.Join(t.TempDir(), "text"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	seen := []string{"i001", "i040", "i100"}
	var evs []content.Event
	for _, id := range seen {
		evs = append(evs, content.Event{UserID: "u", ItemID: id, Kind: "view"})
	}
	e := search.New(search.Parts{Vectors: vectors, Text: tx, Encoder: enc, History: search.StaticHistory{"u": evs}, Catalog: search.NewCatalog()}, search.Options{})
	for _, it := range items {
		if err := e.ItemPut(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	// A filtered search makes the catalog's postings, whose slots the
	// listing then gives the index as hints. The catalog numbered them in
	// its own order, so most are wrong here: the index must check them.
	if _, err := e.Search(ctx, search.Request{Query: "item", K: 1, Filters: search.Filters{Categories: []string{"x"}}}); err != nil {
		t.Fatal(err)
	}
	var hist []content.Item
	for _, id := range seen {
		it, _ := e.Catalog().Item(id)
		hist = append(hist, *it)
	}
	uv, _ := enc.UserVector(hist)
	holds := func(id, word string) bool {
		it, _ := e.Catalog().Item(id)
		return strings.Contains(it.Title, word)
	}
	// best returns the k items pass accepts, best first by the user's
	// vector, seen ones aside.
	best := func(k int, pass func(content.Item) bool) []string {
		var s []search.Scored
		for _, it := range items {
			if pass(it) && !slices.Contains(seen, it.ID) {
				s = append(s, search.Scored{ID: it.ID, Score: float64(vec.Dot(uv, enc.ItemVector(it)))})
			}
		}
		slices.SortFunc(s, func(a, b search.Scored) int {
			if a.Score != b.Score {
				if a.Score > b.Score {
					return -1
				}
				return 1
			}
			return strings.Compare(a.ID, b.ID)
		})
		var out []string
		for _, x := range s[:min(k, len(s))] {
			out = append(out, x.ID)
		}
		return out
	}
	ask := func(t *testing.T, req search.Request) *search.Result {
		t.Helper()
		req.UserID, req.ExcludeSeen, req.Explain = "u", true, true
		res, err := e.Search(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	hitIDs := func(res *search.Result) []string {
		var out []string
		for _, h := range res.Hits {
			out = append(out, h.ID)
		}
		return out
	}

	t.Run("vector list drawn from the items holding it", func(t *testing.T) {
		res := ask(t, search.Request{Query: "zeb", Prefix: true, Mode: search.ModeVector, K: 5})
		want := best(5, func(it content.Item) bool { return strings.Contains(it.Title, "zebra") })
		if got := hitIDs(res); !slices.Equal(got, want) || res.Unfinished != 10 {
			t.Fatalf("hits %v, unfinished %d; want %v, 10", got, res.Unfinished, want)
		}
	})
	t.Run("filters still hold", func(t *testing.T) {
		res := ask(t, search.Request{Query: "zeb", Prefix: true, Mode: search.ModeVector, K: 10, Filters: search.Filters{Categories: []string{"x"}}})
		want := best(10, func(it content.Item) bool {
			return strings.Contains(it.Title, "zebra") && slices.Contains(it.Categories, "x")
		})
		if got := hitIDs(res); !slices.Equal(got, want) || len(want) == 0 {
			t.Fatalf("hits %v, want %v", got, want)
		}
	})
	t.Run("hybrid: keyword hits holding none stay out of the vector list", func(t *testing.T) {
		res := ask(t, search.Request{Query: "alpha zeb", Prefix: true, K: 30})
		if res.Unfinished != 10 {
			t.Fatalf("unfinished %d, want 10", res.Unfinished)
		}
		others := 0
		for _, h := range res.Hits {
			inVector := h.Explain.VectorRank > 0
			if zebra := holds(h.ID, "zebra"); inVector != zebra {
				t.Errorf("%s: vector rank %d, holds zebra %v", h.ID, h.Explain.VectorRank, zebra)
			}
			if !holds(h.ID, "zebra") {
				others++
			}
		}
		if others == 0 {
			t.Fatal("no keyword hit of alpha alone: the case is not tested")
		}
	})
	for _, c := range []struct {
		name string
		req  search.Request
	}{
		{"a finished word", search.Request{Query: "zebra", Prefix: true, Mode: search.ModeVector, K: 20}},
		{"a space after it", search.Request{Query: "zeb ", Prefix: true, Mode: search.ModeVector, K: 20}},
		{"prefixes not asked", search.Request{Query: "zeb", Mode: search.ModeVector, K: 20}},
		{"more than a quarter hold it", search.Request{Query: "comm", Prefix: true, Mode: search.ModeVector, K: 20}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := ask(t, c.req)
			want := best(20, func(content.Item) bool { return true })
			if got := hitIDs(res); !slices.Equal(got, want) || res.Unfinished != 0 {
				t.Fatalf("hits %v, unfinished %d; want the whole list %v", got, res.Unfinished, want)
			}
		})
	}
	t.Run("keyword mode", func(t *testing.T) {
		res := ask(t, search.Request{Query: "zeb", Prefix: true, Mode: search.ModeKeyword, K: 20})
		if res.Unfinished != 0 || len(res.Hits) == 0 {
			t.Fatalf("unfinished %d, %d hits", res.Unfinished, len(res.Hits))
		}
	})
}
