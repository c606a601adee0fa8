package text_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

func textOpen(t testing.TB, dir string) *text.Index {
	t.Helper()
	tx, err := text.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return tx
}

// textNew opens a fresh index holding items.
func textNew(t testing.TB, items []content.Item) *text.Index {
	t.Helper()
	tx := textOpen(t, filepath.Join(t.TempDir(), "text"))
	if err := tx.IndexBatch(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	return tx
}

func textSearch(t testing.TB, tx *text.Index, q text.Query) text.Result {
	t.Helper()
	if q.K == 0 {
		q.K = text.MaxK
	}
	res, err := tx.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return res
}

func textIDs(res text.Result) []string {
	out := make([]string, len(res.Hits))
	for i, h := range res.Hits {
		out[i] = h.ID
	}
	return out
}

func textSortedIDs(res text.Result) []string {
	out := textIDs(res)
	slices.Sort(out)
	return out
}

func textItem(id, title, desc string, tags, cats []string, attrs map[string]content.Value) content.Item {
	return content.Item{ID: id, Title: title, Description: desc, Tags: tags, Categories: cats, Attributes: attrs}
}

// textHandCatalog is a few items written to exercise analysis and ranking.
var textHandCatalog = []content.Item{
	textItem("a", "Rocket Science", "How engines lift a payload.", []string{"Space Opera"}, []string{"space"},
		map[string]content.Value{"year": content.Number(1999), "language": content.String("en")}),
	textItem("b", "A Cookbook", "Bake bread the way a rocket engineer would: precisely.", []string{"baking"}, []string{"cooking"},
		map[string]content.Value{"year": content.Number(2010), "language": content.String("fr")}),
	textItem("c", "Starships", "Stories of distant galaxies and the rockets that reach them.", []string{"scifi"}, []string{"fiction"},
		map[string]content.Value{"year": content.Number(2020), "language": content.String("en"), "price": content.Number(9.5)}),
	textItem("d", "Gardening Basics", "Soil, seeds and patience.", []string{"gardening"}, []string{"home"}, nil),
}

func TestIndex_Analysis(t *testing.T) {
	tx := textNew(t, textHandCatalog)
	tests := []struct {
		name, phrase string
		want         []string // ids, best first
	}{
		{"stemming plural finds singular", "rockets", []string{"a", "c", "b"}},
		{"stemming singular finds plural", "galaxy", []string{"c"}},
		{"case folded", "ROCKET", []string{"a", "c", "b"}},
		{"stop words only", "the and of", nil},
		{"no match", "submarine", nil},
		{"tag words match free phrase", "opera", []string{"a"}},
		{"category words match free phrase", "fiction", []string{"c"}},
		{"multi-word tag", "space opera", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := textSearch(t, tx, text.Query{Text: tt.phrase})
			if got := textIDs(res); !slices.Equal(got, tt.want) {
				t.Errorf("hits %v, want %v", got, tt.want)
			}
			if res.Total != uint64(len(tt.want)) {
				t.Errorf("total %d, want %d", res.Total, len(tt.want))
			}
		})
	}
}

func TestIndex_TitleRanksFirst(t *testing.T) {
	items := []content.Item{
		textItem("desc1", "Notes", "A telescope on every page, and a telescope on the cover.", nil, nil, nil),
		textItem("title", "The Telescope", "Notes on optics and mirrors for the amateur.", nil, nil, nil),
		textItem("desc2", "Journal", "Observing nights: a telescope, a chair, coffee.", nil, nil, nil),
		textItem("none", "Journal", "Observing nights: a chair, coffee.", nil, nil, nil),
	}
	tx := textNew(t, items)
	res := textSearch(t, tx, text.Query{Text: "telescopes"})
	if got := textIDs(res); len(got) != 3 || got[0] != "title" {
		t.Fatalf("hits %v, want 3 with \"title\" first", got)
	}
	for i := 1; i < len(res.Hits); i++ {
		if res.Hits[i].Score > res.Hits[i-1].Score {
			t.Errorf("hits not in score order: %+v", res.Hits)
		}
	}
}

func textPtr(f float64) *float64 { return &f }

func TestIndex_Filters(t *testing.T) {
	items := text.GenCatalog(t, 500, 1)
	tx := textNew(t, items)
	byID := map[string]content.Item{}
	for _, it := range items {
		byID[it.ID] = it
	}
	num := func(it content.Item, k string) (float64, bool) {
		v, ok := it.Attributes[k]
		return v.Num, ok && v.IsNum
	}
	tests := []struct {
		name   string
		filter text.Filter
		keep   func(content.Item) bool
	}{
		{"category", text.Filter{Categories: []string{"space"}},
			func(it content.Item) bool { return slices.Contains(it.Categories, "space") }},
		{"categories any of", text.Filter{Categories: []string{"space", "jazz"}},
			func(it content.Item) bool {
				return slices.Contains(it.Categories, "space") || slices.Contains(it.Categories, "jazz")
			}},
		{"tag", text.Filter{Tags: []string{"vegan"}},
			func(it content.Item) bool { return slices.Contains(it.Tags, "vegan") }},
		{"tags any of", text.Filter{Tags: []string{"vegan", "nasa"}},
			func(it content.Item) bool {
				return slices.Contains(it.Tags, "vegan") || slices.Contains(it.Tags, "nasa")
			}},
		{"string attribute", text.Filter{Attributes: map[string]content.Value{"language": content.String("fr")}},
			func(it content.Item) bool { return it.Attributes["language"].Str == "fr" }},
		{"number attribute", text.Filter{Attributes: map[string]content.Value{"year": content.Number(2000)}},
			func(it content.Item) bool { y, _ := num(it, "year"); return y == 2000 }},
		{"range", text.Filter{Ranges: []text.Range{{Attribute: "price", Min: textPtr(10), Max: textPtr(20)}}},
			func(it content.Item) bool { p, ok := num(it, "price"); return ok && p >= 10 && p <= 20 }},
		{"range open above", text.Filter{Ranges: []text.Range{{Attribute: "year", Min: textPtr(2020)}}},
			func(it content.Item) bool { y, ok := num(it, "year"); return ok && y >= 2020 }},
		{"range open below", text.Filter{Ranges: []text.Range{{Attribute: "year", Max: textPtr(1995)}}},
			func(it content.Item) bool { y, ok := num(it, "year"); return ok && y <= 1995 }},
		{"range bounds included", text.Filter{Ranges: []text.Range{{Attribute: "year", Min: textPtr(2001), Max: textPtr(2001)}}},
			func(it content.Item) bool { y, _ := num(it, "year"); return y == 2001 }},
		{"unknown attribute", text.Filter{Attributes: map[string]content.Value{"colour": content.String("red")}},
			func(content.Item) bool { return false }},
		{"combined", text.Filter{
			Categories: []string{"space", "cooking", "jazz"},
			Attributes: map[string]content.Value{"language": content.String("en")},
			Ranges:     []text.Range{{Attribute: "year", Min: textPtr(2000), Max: textPtr(2015)}, {Attribute: "price", Max: textPtr(30)}},
		}, func(it content.Item) bool {
			y, _ := num(it, "year")
			p, _ := num(it, "price")
			return (slices.Contains(it.Categories, "space") || slices.Contains(it.Categories, "cooking") ||
				slices.Contains(it.Categories, "jazz")) &&
				it.Attributes["language"].Str == "en" && y >= 2000 && y <= 2015 && p <= 30
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, it := range items {
				if tt.keep(it) {
					want = append(want, it.ID)
				}
			}
			slices.Sort(want)
			// Browse: the filter alone, in id order.
			res := textSearch(t, tx, text.Query{Filter: tt.filter})
			if got := textIDs(res); !slices.Equal(got, want) {
				t.Errorf("browse: %d hits, want %d\n got %v\nwant %v", len(got), len(want), got, want)
			}
			if res.Total != uint64(len(want)) {
				t.Errorf("browse: total %d, want %d", res.Total, len(want))
			}
			for _, h := range res.Hits {
				if h.Score != 0 {
					t.Fatalf("browse: %s scored %v, want 0", h.ID, h.Score)
				}
			}
			// With phrase: the phrase's hits that pass the filter, same scores.
			for _, phrase := range []string{"rocket orbit recipe", "guide"} {
				all := textSearch(t, tx, text.Query{Text: phrase})
				var wantHits []text.Hit
				for _, h := range all.Hits {
					if tt.keep(byID[h.ID]) {
						wantHits = append(wantHits, h)
					}
				}
				got := textSearch(t, tx, text.Query{Text: phrase, Filter: tt.filter})
				if len(got.Hits) != len(wantHits) {
					t.Fatalf("%q: %d hits, want %d", phrase, len(got.Hits), len(wantHits))
				}
				// Filters do not score: the same items with the same scores.
				score := map[string]float64{}
				for _, h := range got.Hits {
					score[h.ID] = h.Score
				}
				for _, h := range wantHits {
					if s, ok := score[h.ID]; !ok || math.Abs(s-h.Score) > 1e-9*h.Score {
						t.Errorf("%q: %s scores %v (found %v), want %v", phrase, h.ID, s, ok, h.Score)
					}
				}
			}
		})
	}
}

func TestIndex_Facets(t *testing.T) {
	items := text.GenCatalog(t, 500, 1)
	tx := textNew(t, items)
	byID := map[string]content.Item{}
	for _, it := range items {
		byID[it.ID] = it
	}
	count := func(hits []string) (cats, tags map[string]int) {
		cats, tags = map[string]int{}, map[string]int{}
		for _, id := range hits {
			for _, c := range byID[id].Categories {
				cats[c]++
			}
			for _, tag := range byID[id].Tags {
				tags[tag]++
			}
		}
		return cats, tags
	}
	for _, q := range []text.Query{
		{},
		{Filter: text.Filter{Categories: []string{"space"}}},
		{Text: "rocket"},
		{Text: "guide", Filter: text.Filter{Attributes: map[string]content.Value{"language": content.String("en")}}},
	} {
		t.Run(fmt.Sprintf("%q %+v", q.Text, q.Filter), func(t *testing.T) {
			q.K, q.FacetSize = text.MaxK, text.MaxFacetSize
			res := textSearch(t, tx, q)
			if res.Total != uint64(len(res.Hits)) {
				t.Fatalf("total %d but %d hits: the test needs all hits", res.Total, len(res.Hits))
			}
			wantCats, wantTags := count(textIDs(res))
			if !maps.Equal(res.Categories, wantCats) {
				t.Errorf("categories %v, want %v", res.Categories, wantCats)
			}
			if !maps.Equal(res.Tags, wantTags) {
				t.Errorf("tags %v, want %v", res.Tags, wantTags)
			}
		})
	}
	// A small facet size keeps the most frequent terms.
	res := textSearch(t, tx, text.Query{FacetSize: 3})
	wantCats, _ := count(textIDs(textSearch(t, tx, text.Query{})))
	if len(res.Categories) != 3 {
		t.Fatalf("%d categories, want 3", len(res.Categories))
	}
	counts := slices.Sorted(maps.Values(wantCats))
	for c, n := range res.Categories {
		if n != wantCats[c] || n < counts[len(counts)-3] {
			t.Errorf("category %q: count %d, want %d and among the top 3 (%v)", c, n, wantCats[c], counts)
		}
	}
	// No facets unless asked for.
	if res := textSearch(t, tx, text.Query{Text: "rocket"}); res.Categories != nil || res.Tags != nil {
		t.Errorf("facets without asking: %v %v", res.Categories, res.Tags)
	}
}

func TestIndex_Paging(t *testing.T) {
	items := text.GenCatalog(t, 200, 1)
	tx := textNew(t, items)
	for _, phrase := range []string{"", "guide notes"} {
		all := textIDs(textSearch(t, tx, text.Query{Text: phrase}))
		var paged []string
		for off := 0; off < len(all); off += 7 {
			paged = append(paged, textIDs(textSearch(t, tx, text.Query{Text: phrase, K: 7, Offset: off}))...)
		}
		if !slices.Equal(paged, all) {
			t.Errorf("%q: pages of 7 give %d ids, differing from one page of %d", phrase, len(paged), len(all))
		}
	}
}

func TestIndex_UpdateDelete(t *testing.T) {
	ctx := context.Background()
	tx := textNew(t, textHandCatalog)
	found := func(q string) []string { return textIDs(textSearch(t, tx, text.Query{Text: q})) }

	up := textHandCatalog[0]
	up.Title, up.Description = "Submarine Voyages", "Deep under the sea."
	up.Tags, up.Categories = []string{"ocean"}, []string{"travel"}
	if err := tx.Upsert(ctx, up); err != nil {
		t.Fatal(err)
	}
	if got := found("submarine"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("new title: hits %v, want [a]", got)
	}
	if got := found("science"); len(got) != 0 {
		t.Errorf("old title still found: %v", got)
	}
	if got := found("opera"); len(got) != 0 {
		t.Errorf("old tag still found: %v", got)
	}
	if got := textSortedIDs(textSearch(t, tx, text.Query{Filter: text.Filter{Categories: []string{"space"}}})); len(got) != 0 {
		t.Errorf("old category still filters: %v", got)
	}
	if got := textSortedIDs(textSearch(t, tx, text.Query{Filter: text.Filter{Categories: []string{"travel"}}})); !slices.Equal(got, []string{"a"}) {
		t.Errorf("new category: %v, want [a]", got)
	}
	if n, err := tx.Count(); err != nil || n != uint64(len(textHandCatalog)) {
		t.Errorf("count %d, %v after update, want %d", n, err, len(textHandCatalog))
	}

	if err := tx.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := found("galaxies"); len(got) != 0 {
		t.Errorf("deleted item found: %v", got)
	}
	if err := tx.Delete(ctx, "no-such-item"); err != nil {
		t.Errorf("delete of a missing item: %v", err)
	}
	if n, err := tx.Count(); err != nil || n != uint64(len(textHandCatalog)-1) {
		t.Errorf("count %d, %v after delete, want %d", n, err, len(textHandCatalog)-1)
	}
	if err := tx.Delete(ctx, ""); err == nil {
		t.Error("delete of an empty id succeeded")
	}
	if err := tx.Upsert(ctx, content.Item{ID: "bad\x00id"}); !errors.Is(err, content.ErrInvalid) {
		t.Errorf("upsert of an invalid item: %v, want content.ErrInvalid", err)
	}
	if err := tx.IndexBatch(ctx, []content.Item{textHandCatalog[3], {ID: ""}}); !errors.Is(err, content.ErrInvalid) {
		t.Errorf("index batch with an invalid item: %v, want content.ErrInvalid", err)
	}
}

// TestIndex_ConcurrentUpserts checks that every upsert from many writers is
// applied and searchable as soon as it returns, with readers running.
func TestIndex_ConcurrentUpserts(t *testing.T) {
	ctx := context.Background()
	tx := textNew(t, textHandCatalog[:1])
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				word := fmt.Sprintf("zq%dx%d", w, i) // one token, found in this item alone
				if err := tx.Upsert(ctx, textItem(id, "Live "+word, "", []string{"live"}, nil, nil)); err != nil {
					errs <- err
					return
				}
				res, err := tx.Search(ctx, text.Query{Text: word, K: 10})
				if err != nil {
					errs <- err
					return
				}
				if got := textIDs(res); !slices.Equal(got, []string{id}) {
					errs <- fmt.Errorf("%s right after its upsert: hits %v", word, got)
				}
			}
		})
	}
	// Readers run meanwhile.
	stop := make(chan struct{})
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := tx.Search(ctx, text.Query{Text: "live", K: 10, FacetSize: 5}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := tx.Count(); err != nil || n != 1+writers*each {
		t.Errorf("count %d, %v, want %d", n, err, 1+writers*each)
	}
	res := textSearch(t, tx, text.Query{Filter: text.Filter{Tags: []string{"live"}}})
	if res.Total != writers*each {
		t.Errorf("%d items tagged live, want %d", res.Total, writers*each)
	}
}

func TestIndex_CloseDrainsAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "text")
	tx, err := text.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.IndexBatch(ctx, textHandCatalog); err != nil {
		t.Fatal(err)
	}
	// Upserts race with Close: each either is applied before Close returns
	// or fails with ErrClosed.
	const n = 200
	results := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = tx.Upsert(ctx, textItem(fmt.Sprintf("late-%03d", i), "Late", "", nil, nil, nil))
		})
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := tx.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := tx.Search(ctx, text.Query{Text: "late", K: 1}); !errors.Is(err, text.ErrClosed) {
		t.Errorf("search after close: %v, want ErrClosed", err)
	}
	if err := tx.Upsert(ctx, textHandCatalog[0]); !errors.Is(err, text.ErrClosed) {
		t.Errorf("upsert after close: %v, want ErrClosed", err)
	}
	var applied []string
	for i, err := range results {
		switch {
		case err == nil:
			applied = append(applied, fmt.Sprintf("late-%03d", i))
		case !errors.Is(err, text.ErrClosed):
			t.Errorf("upsert %d: %v", i, err)
		}
	}

	tx = textOpen(t, dir)
	if n, err := tx.Count(); err != nil || n != uint64(len(textHandCatalog)+len(applied)) {
		t.Errorf("count after reopen %d, %v, want %d", n, err, len(textHandCatalog)+len(applied))
	}
	if got := textSortedIDs(textSearch(t, tx, text.Query{Text: "late"})); !slices.Equal(got, applied) {
		t.Errorf("after reopen, %d late items, want the %d applied before close", len(got), len(applied))
	}
	if got := textIDs(textSearch(t, tx, text.Query{Text: "rockets"})); !slices.Equal(got, []string{"a", "c", "b"}) {
		t.Errorf("after reopen, rockets finds %v", got)
	}
	if err := tx.Upsert(ctx, textItem("e", "Reopened", "", nil, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if got := textIDs(textSearch(t, tx, text.Query{Text: "reopened"})); !slices.Equal(got, []string{"e"}) {
		t.Errorf("upsert after reopen: hits %v", got)
	}
}

func TestIndex_InvalidQuery(t *testing.T) {
	tx := textNew(t, textHandCatalog)
	long := strings.Repeat("a", text.MaxQueryBytes+1)
	tests := []struct {
		name string
		q    text.Query
	}{
		{"K zero", text.Query{Text: "x"}},
		{"K negative", text.Query{Text: "x", K: -1}},
		{"K too large", text.Query{Text: "x", K: text.MaxK + 1}},
		{"offset negative", text.Query{Text: "x", K: 1, Offset: -1}},
		{"offset too large", text.Query{Text: "x", K: 1, Offset: text.MaxOffset + 1}},
		{"text too long", text.Query{Text: long, K: 1}},
		{"text not UTF-8", text.Query{Text: "\xff", K: 1}},
		{"facet size negative", text.Query{K: 1, FacetSize: -1}},
		{"facet size too large", text.Query{K: 1, FacetSize: text.MaxFacetSize + 1}},
		{"empty category", text.Query{K: 1, Filter: text.Filter{Categories: []string{""}}}},
		{"empty tag", text.Query{K: 1, Filter: text.Filter{Tags: []string{"a", ""}}}},
		{"too many tags", text.Query{K: 1, Filter: text.Filter{Tags: make([]string, text.MaxFilterValues+1)}}},
		{"empty attribute key", text.Query{K: 1, Filter: text.Filter{Attributes: map[string]content.Value{"": content.String("x")}}}},
		{"attribute NaN", text.Query{K: 1, Filter: text.Filter{Attributes: map[string]content.Value{"x": content.Number(math.NaN())}}}},
		{"range min above max", text.Query{K: 1, Filter: text.Filter{Ranges: []text.Range{{Attribute: "year", Min: textPtr(2), Max: textPtr(1)}}}}},
		{"range unbounded", text.Query{K: 1, Filter: text.Filter{Ranges: []text.Range{{Attribute: "year"}}}}},
		{"range no key", text.Query{K: 1, Filter: text.Filter{Ranges: []text.Range{{Min: textPtr(1)}}}}},
		{"range infinite", text.Query{K: 1, Filter: text.Filter{Ranges: []text.Range{{Attribute: "year", Max: textPtr(math.Inf(1))}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tx.Search(context.Background(), tt.q)
			if !errors.Is(err, text.ErrInvalidQuery) {
				t.Errorf("error %v, want ErrInvalidQuery", err)
			}
		})
	}
}

func TestIndex_Cancelled(t *testing.T) {
	tx := textNew(t, textHandCatalog)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tx.Upsert(ctx, textHandCatalog[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("upsert: %v, want context.Canceled", err)
	}
	if err := tx.IndexBatch(ctx, textHandCatalog); !errors.Is(err, context.Canceled) {
		t.Errorf("index batch: %v, want context.Canceled", err)
	}
	if _, err := tx.Search(ctx, text.Query{Text: "rocket", K: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("search: %v, want context.Canceled", err)
	}
	if _, err := text.Open(ctx, t.TempDir(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("open: %v, want context.Canceled", err)
	}
}

func TestIndex_Locked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "text")
	textOpen(t, dir)
	if tx, err := text.Open(context.Background(), dir, nil); !errors.Is(err, text.ErrLocked) {
		if err == nil {
			tx.Close()
		}
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

// TestIndex_IndexBatchSplits checks a bulk load spread over many Bleve
// batches, with an item given twice: the later version wins.
func TestIndex_IndexBatchSplits(t *testing.T) {
	ctx := context.Background()
	tx, err := text.Open(ctx, filepath.Join(t.TempDir(), "text"), &text.Options{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	items := text.GenCatalog(t, 50, 1)
	again := items[3]
	again.Title = "Zeppelin"
	if err := tx.IndexBatch(ctx, append(items, again)); err != nil {
		t.Fatal(err)
	}
	if n, err := tx.Count(); err != nil || n != 50 {
		t.Errorf("count %d, %v, want 50", n, err)
	}
	if got := textIDs(textSearch(t, tx, text.Query{Text: "zeppelin"})); !slices.Equal(got, []string{again.ID}) {
		t.Errorf("later version: hits %v, want [%s]", got, again.ID)
	}
	if _, err := text.Open(ctx, t.TempDir(), &text.Options{BatchSize: -1}); err == nil {
		t.Error("negative batch size accepted")
	}
}

func TestIndex_Compact(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "text")
	tx, err := text.Open(ctx, dir, &text.Options{BatchSize: 25})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	items := text.GenCatalog(t, 200, 1)
	if err := tx.IndexBatch(ctx, items); err != nil {
		t.Fatal(err)
	}
	if err := tx.Delete(ctx, items[0].ID); err != nil {
		t.Fatal(err)
	}
	queries := []text.Query{
		{Text: "rocket orbit", FacetSize: 20},
		{Text: "guide", Filter: text.Filter{Ranges: []text.Range{{Attribute: "year", Min: textPtr(2000)}}}},
		{Filter: text.Filter{Categories: []string{"jazz"}}},
	}
	var before []text.Result
	for _, q := range queries {
		before = append(before, textSearch(t, tx, q))
	}
	start := time.Now()
	if err := tx.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted in %v", time.Since(start))
	for i, q := range queries {
		after := textSearch(t, tx, q)
		// Scores may shift a little: until a merge drops it, a deleted
		// item still counts in BM25's statistics.
		if after.Total != before[i].Total || !slices.Equal(textSortedIDs(after), textSortedIDs(before[i])) ||
			!maps.Equal(after.Tags, before[i].Tags) {
			t.Errorf("%+v: results changed by compaction", q)
		}
	}
	if n, err := tx.Count(); err != nil || n != 199 {
		t.Errorf("count %d, %v, want 199", n, err)
	}
}
