package search_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/search"
)

// A small world in 3 dimensions: x is "space", y is "cooking", z is "jazz".
var world = []struct {
	item content.Item
	v    []float32
}{
	{content.Item{ID: "rocket", Title: "Rocket launch", Categories: []string{"space"}, Tags: []string{"nasa"}, Attributes: map[string]content.Value{"year": content.Number(2001)}}, []float32{1, 0.1, 0}},
	{content.Item{ID: "orbit", Title: "Orbit mechanics", Categories: []string{"space"}, Tags: []string{"physics"}, Attributes: map[string]content.Value{"year": content.Number(2010)}}, []float32{1, 0, 0.05}},
	{content.Item{ID: "comet", Title: "Comet tales", Categories: []string{"space"}, Tags: []string{"nasa"}, Attributes: map[string]content.Value{"year": content.Number(1999)}}, []float32{0.9, 0, 0.3}},
	{content.Item{ID: "bread", Title: "Bread baking", Categories: []string{"cooking"}, Tags: []string{"baking"}, Attributes: map[string]content.Value{"lang": content.String("fr")}}, []float32{0, 1, 0}},
	{content.Item{ID: "soup", Title: "Soup for space travellers", Categories: []string{"cooking"}, Tags: []string{"quick"}, Attributes: map[string]content.Value{"lang": content.String("en")}}, []float32{0.2, 1, 0}},
	{content.Item{ID: "bebop", Title: "Bebop nights", Categories: []string{"jazz"}, Tags: []string{"live"}}, []float32{0.05, 0, 1}},
}

// fakeText scores an item by how many query words its title holds.
type fakeText struct {
	mu    sync.RWMutex
	items map[string]content.Item
}

func (f *fakeText) Search(_ context.Context, q text.Query) (text.Result, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var r text.Result
	words := strings.Fields(strings.ToLower(q.Text))
	for id, it := range f.items {
		if len(q.Filter.Categories) > 0 && it.Categories[0] != q.Filter.Categories[0] {
			continue
		}
		score := 0.0
		for _, w := range words {
			if strings.Contains(strings.ToLower(it.Title), w) {
				score++
			}
		}
		if score > 0 || (len(words) == 0 && len(q.Filter.Categories) > 0) {
			r.Hits = append(r.Hits, text.Hit{ID: id, Score: score * 10})
		}
	}
	sort.Slice(r.Hits, func(i, j int) bool {
		if r.Hits[i].Score != r.Hits[j].Score {
			return r.Hits[i].Score > r.Hits[j].Score
		}
		return r.Hits[i].ID < r.Hits[j].ID
	})
	return r, nil
}
func (f *fakeText) Upsert(_ context.Context, it content.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[it.ID] = it
	return nil
}

func (f *fakeText) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.items, id)
	return nil
}

// fakeEncoder embeds known items by the table, new items and text by
// keywords, users by the mean of their items.
type fakeEncoder struct{ vecs map[string][]float32 }

func unit(v []float32) []float32 {
	out := append([]float32(nil), v...)
	vec.Normalize(out)
	return out
}

func (f *fakeEncoder) ItemVector(it content.Item) []float32 {
	if v, ok := f.vecs[it.ID]; ok {
		return unit(v)
	}
	v, _ := f.QueryVector(it.Title)
	return v
}

func (f *fakeEncoder) QueryVector(text string) ([]float32, bool) {
	v := make([]float32, 3)
	t := strings.ToLower(text)
	for word, axis := range map[string]int{"space": 0, "rocket": 0, "bread": 1, "soup": 1, "jazz": 2} {
		if strings.Contains(t, word) {
			v[axis]++
		}
	}
	if vec.Normalize(v) == 0 {
		return nil, false
	}
	return v, true
}

func (f *fakeEncoder) UserVector(hist []content.Item) ([]float32, bool) {
	if len(hist) == 0 {
		return nil, false
	}
	v := make([]float32, 3)
	for _, it := range hist {
		vec.Axpy(1, f.ItemVector(it), v)
	}
	vec.Normalize(v)
	return v, true
}

// recentEncoder is a fakeEncoder whose recent vector is the mean of the
// latest n items' alone.
type recentEncoder struct{ *fakeEncoder }

func (r recentEncoder) RecentVector(hist []content.Item, n int) ([]float32, bool) {
	return r.UserVector(hist[max(0, len(hist)-n):])
}

type fakeHistory map[string][]content.Event

// Users whose history cannot be read: one in a store that cannot be
// reached, one in a store that fails otherwise.
const (
	userUnreachable = "in-a-store-down"
	userBroken      = "in-a-broken-store"
)

func (h fakeHistory) UserEvents(_ context.Context, user string, n int) ([]content.Event, error) {
	switch user {
	case userUnreachable:
		return nil, fmt.Errorf("events of user: %w", content.ErrUnavailable)
	case userBroken:
		return nil, errors.New("corrupt event record")
	}
	evs := h[user]
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	return evs, nil
}

func newEngine(t *testing.T) (*search.Engine, *fakeText) {
	t.Helper()
	ex, err := index.NewExact(3)
	if err != nil {
		t.Fatal(err)
	}
	text := &fakeText{items: map[string]content.Item{}}
	enc := &fakeEncoder{vecs: map[string][]float32{}}
	cat := search.NewCatalog()
	for _, w := range world {
		enc.vecs[w.item.ID] = w.v
	}
	hist := fakeHistory{
		"astro": {{UserID: "astro", ItemID: "rocket", Kind: "view"}, {UserID: "astro", ItemID: "orbit", Kind: "view"}},
		"chef":  {{UserID: "chef", ItemID: "bread", Kind: "view"}},
	}
	e := search.New(search.Parts{Vectors: ex, Text: text, Encoder: enc, History: hist, Catalog: cat}, search.Options{})
	for i, w := range world {
		if err := e.ItemPut(context.Background(), w.item); err != nil {
			t.Fatal(err)
		}
		cat.AddPopularity(w.item.ID, float64(len(world)-i)) // rocket most popular
	}
	return e, text
}

func ids(r *search.Result) string {
	var s []string
	for _, h := range r.Hits {
		s = append(s, h.ID)
	}
	return strings.Join(s, ",")
}

func f64(x float64) *float64 { return &x }

func TestEngine_Search(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		req    search.Request
		want   string
		source string
	}{
		{"nothing known: popular", search.Request{K: 3}, "rocket,orbit,comet", "popular"},
		{"unknown user: popular", search.Request{UserID: "nobody", K: 2}, "rocket,orbit", "popular"},
		{"popular with a filter", search.Request{K: 2, Filters: search.Filters{Categories: []string{"cooking"}}, Mode: search.ModeVector}, "bread,soup", "popular"},
		{"user vector", search.Request{UserID: "chef", K: 2, Mode: search.ModeVector}, "bread,soup", "user"},
		// A filter alone makes no keyword list (it would be id order).
		{"user with a filter, hybrid", search.Request{UserID: "chef", K: 2, Filters: search.Filters{Categories: []string{"space"}}}, "rocket,orbit", "user"},
		{"user vector, seen excluded", search.Request{UserID: "chef", K: 2, Mode: search.ModeVector, ExcludeSeen: true}, "soup,rocket", "user"},
		{"query vector", search.Request{Query: "jazz", K: 1, Mode: search.ModeVector}, "bebop", "query"},
		{"keyword only", search.Request{Query: "soup", K: 3, Mode: search.ModeKeyword}, "soup", ""},
		// Vector list for "space": orbit .999, rocket .995, comet .949, soup .196, bebop .05, bread 0;
		// keyword list: soup only. RRF: soup 1/64+1/61 > orbit 1/61 > rocket 1/62.
		{"hybrid rrf lifts the keyword hit", search.Request{Query: "space", K: 3}, "soup,orbit,rocket", "query"},
		{"hybrid with a category filter", search.Request{Query: "space", K: 3, Filters: search.Filters{Categories: []string{"cooking"}}}, "soup,bread", "query"},
		{"numeric range", search.Request{Query: "space", K: 3, Mode: search.ModeVector, Filters: search.Filters{Attributes: []search.AttrFilter{{Key: "year", Min: f64(2000)}}}}, "orbit,rocket", "query"},
		{"tag filter", search.Request{Query: "space", K: 5, Mode: search.ModeVector, Filters: search.Filters{Tags: []string{"nasa"}}}, "rocket,comet", "query"},
		{"per-category cap", search.Request{Query: "space", K: 3, Mode: search.ModeVector, Diversity: search.Diversity{MaxPerCategory: 1}}, "orbit,soup,bebop", "query"},
		{"offset pages", search.Request{Query: "space", K: 2, Offset: 1, Mode: search.ModeVector}, "rocket,comet", "query"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := e.Search(ctx, c.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(r); got != c.want || r.Source != c.source {
				t.Fatalf("got %s (source %q), want %s (%q)", got, r.Source, c.want, c.source)
			}
			for _, h := range r.Hits {
				if h.Item == nil || h.Item.ID != h.ID {
					t.Fatalf("hit %s without its item", h.ID)
				}
			}
		})
	}
}

func TestEngine_Explain(t *testing.T) {
	e, _ := newEngine(t)
	r, err := e.Search(context.Background(), search.Request{UserID: "astro", Query: "space", K: 3, Explain: true, ExcludeSeen: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "blend" || len(r.Hits) == 0 {
		t.Fatalf("source %q, hits %s", r.Source, ids(r))
	}
	for _, h := range r.Hits {
		x := h.Explain
		if x == nil || x.Fused != h.Score {
			t.Fatalf("hit %s: explanation %+v", h.ID, x)
		}
		want := 0.0
		if x.VectorRank > 0 {
			want += 1 / (60 + float64(x.VectorRank))
		}
		if x.KeywordRank > 0 {
			want += 1 / (60 + float64(x.KeywordRank))
		}
		if math.Abs(want-h.Score) > 1e-12 {
			t.Fatalf("hit %s: fused %v, ranks give %v", h.ID, h.Score, want)
		}
		if len(x.Because) == 0 || (x.Because[0].ID != "rocket" && x.Because[0].ID != "orbit") {
			t.Fatalf("hit %s: because %+v", h.ID, x.Because)
		}
	}
	if r.Hits[0].ID == "rocket" || r.Hits[0].ID == "orbit" {
		t.Fatal("seen items not excluded")
	}
}

func TestEngine_LiveEdits(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	it := content.Item{ID: "new", Title: "Jazz rocket", Categories: []string{"jazz"}}
	if err := e.ItemPut(ctx, it); err != nil {
		t.Fatal(err)
	}
	r, _ := e.Search(ctx, search.Request{Query: "jazz rocket", K: 1, Mode: search.ModeKeyword})
	if ids(r) != "new" {
		t.Fatalf("new item not found by keyword: %s", ids(r))
	}
	r, _ = e.Search(ctx, search.Request{Query: "jazz rocket", K: 6, Mode: search.ModeVector})
	if !strings.Contains(ids(r), "new") {
		t.Fatalf("new item not found by vector: %s", ids(r))
	}
	if err := e.ItemDeleted(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	r, _ = e.Search(ctx, search.Request{Query: "jazz rocket", K: 10})
	if strings.Contains(ids(r), "new") {
		t.Fatalf("deleted item still found: %s", ids(r))
	}
}

func TestEngine_Similar(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	r, err := e.Similar(ctx, "rocket", search.Request{K: 2})
	if err != nil || ids(r) != "orbit,comet" {
		t.Fatalf("similar: %s %v", ids(r), err)
	}
	r, _ = e.Similar(ctx, "rocket", search.Request{K: 2, Filters: search.Filters{Categories: []string{"cooking"}}})
	if ids(r) != "soup,bread" {
		t.Fatalf("similar, filtered: %s", ids(r))
	}
	if _, err := e.Similar(ctx, "nope", search.Request{}); !errors.Is(err, search.ErrNotFound) {
		t.Fatalf("unknown item: %v", err)
	}
	if _, err := e.Search(ctx, search.Request{K: -1}); !errors.Is(err, search.ErrInvalidRequest) {
		t.Fatalf("bad request: %v", err)
	}
}

// An item deleted from the catalog but not yet from the indexes (a delete
// in flight) is never a hit, and pages stay contiguous around it.
func TestEngine_DeleteInFlight(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	e.Catalog().Delete("orbit")
	for _, req := range []search.Request{
		{Query: "space", K: 4},
		{Query: "space", K: 4, Mode: search.ModeVector},
		{Query: "orbit mechanics", K: 4, Mode: search.ModeKeyword},
	} {
		all, err := e.Search(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(ids(all), "orbit") {
			t.Fatalf("%+v: deleted item found: %s", req, ids(all))
		}
		var paged []string
		for off := 0; off < 4; off += 2 {
			p := req
			p.K, p.Offset = 2, off
			r, err := e.Search(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if ids(r) != "" {
				paged = append(paged, ids(r))
			}
		}
		if got := strings.Join(paged, ","); got != ids(all) {
			t.Fatalf("%+v: pages %s, one page %s", req, got, ids(all))
		}
	}
}

// failingText fails every search with its error.
type failingText struct {
	fakeText
	err error
}

func (f *failingText) Search(context.Context, text.Query) (text.Result, error) {
	return text.Result{}, f.err
}

func TestEngine_TextErrors(t *testing.T) {
	ctx := context.Background()
	ex, err := index.NewExact(3)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	for _, c := range []struct {
		err     error
		invalid bool
	}{{boom, false}, {fmt.Errorf("%w: too long", text.ErrInvalidQuery), true}} {
		text := &failingText{fakeText: fakeText{items: map[string]content.Item{}}, err: c.err}
		e := search.New(search.Parts{Vectors: ex, Text: text, Encoder: &fakeEncoder{vecs: map[string][]float32{}}, History: fakeHistory{}, Catalog: search.NewCatalog()}, search.Options{})
		_, err := e.Search(ctx, search.Request{Query: "space", K: 2})
		if !errors.Is(err, c.err) || errors.Is(err, search.ErrInvalidRequest) != c.invalid {
			t.Errorf("text index fails with %v: search error %v", c.err, err)
		}
	}
}

// Searches run concurrently with each other and with live edits (run with
// -race).
func TestEngine_Concurrent(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	reqs := []search.Request{
		{Query: "space", UserID: "astro", K: 3},
		{Query: "bread", UserID: "chef", K: 2, ExcludeSeen: true},
		{Query: "jazz", K: 2, Mode: search.ModeKeyword},
		{UserID: "astro", K: 2, Filters: search.Filters{Categories: []string{"space"}}},
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				req := reqs[(w+i)%len(reqs)]
				if _, err := e.Search(ctx, req); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			it := content.Item{ID: fmt.Sprintf("live%d", i%3), Title: "Space jazz", Categories: []string{"jazz"}}
			if err := e.ItemPut(ctx, it); err != nil {
				t.Error(err)
				return
			}
			e.EventsAdded([]content.Event{{UserID: "astro", ItemID: it.ID, Kind: "view"}})
		}
	})
	wg.Wait()
}

func TestEngine_Suggest(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	// The fake text index completes nothing; the items are the search's.
	s, err := e.Suggest(ctx, search.SuggestRequest{Query: "rocket", K: 2})
	if err != nil || len(s.Queries) != 0 || len(s.Items) == 0 || s.Items[0].ID != "rocket" || s.Items[0].Title != "Rocket launch" {
		t.Fatalf("%+v %v", s, err)
	}
	for _, req := range []search.SuggestRequest{
		{Query: ""}, {Query: "  "}, {Query: "x", K: -1}, {Query: "x", K: search.MaxSuggestions + 1}, {Query: "a\x00b"},
	} {
		if _, err := e.Suggest(ctx, req); !errors.Is(err, search.ErrInvalidRequest) {
			t.Errorf("%+v: %v", req, err)
		}
	}
}

func TestEngine_Sort(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	year := func(desc bool) *search.SortBy { return &search.SortBy{Field: "attr.year", Desc: desc} }
	tests := []struct {
		name  string
		req   search.Request
		first string // the hits' first ids, in order
	}{
		{"newest year first", search.Request{Query: "space", K: 6, Sort: year(true)}, "orbit,rocket,comet"},
		{"oldest year first", search.Request{Query: "space", K: 6, Sort: year(false)}, "comet,rocket,orbit"},
		{"paged", search.Request{Query: "space", K: 2, Offset: 1, Sort: year(true)}, "rocket,comet"},
		{"keyword matches only", search.Request{Query: "space", Mode: search.ModeKeyword, K: 6, Sort: year(false)}, "soup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.Search(ctx, tt.req)
			if err != nil || !strings.HasPrefix(ids(res), tt.first) {
				t.Fatalf("%s %v, want %s first", ids(res), err, tt.first)
			}
		})
	}
	// Without the value, relevance decides: the same order as unsorted.
	plain, _ := e.Search(ctx, search.Request{Query: "bebop soup", K: 6})
	byDate, err := e.Search(ctx, search.Request{Query: "bebop soup", K: 6, Sort: &search.SortBy{Field: search.SortCreatedAt, Desc: true}})
	if err != nil || ids(plain) != ids(byDate) {
		t.Fatalf("no dates: %s, unsorted %s (%v)", ids(byDate), ids(plain), err)
	}
	for _, by := range []search.SortBy{{Field: "attr.lang"}, {Field: "attr.nope"}, {Field: "year"}, {Field: "attr."}} {
		if _, err := e.Search(ctx, search.Request{Query: "space", Sort: &by}); !errors.Is(err, search.ErrInvalidRequest) {
			t.Errorf("sort by %q: %v", by.Field, err)
		}
	}
	if _, err := e.Search(ctx, search.Request{Query: "space", Sort: year(true), Diversity: search.Diversity{MMRLambda: 0.5}}); !errors.Is(err, search.ErrInvalidRequest) {
		t.Errorf("sort with MMR: %v", err)
	}
}

func TestEngine_Total(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	kw, err := e.Search(ctx, search.Request{Query: "space", Mode: search.ModeKeyword, K: 1})
	if err != nil || kw.Total != 1 || !kw.TotalExact || len(kw.Hits) != 1 {
		t.Fatalf("keyword: total %d, exact %v, %d hits, %v", kw.Total, kw.TotalExact, len(kw.Hits), err)
	}
	// A window the matches fill: a lower bound.
	full, err := e.Search(ctx, search.Request{Mode: search.ModeKeyword, K: 1, Window: 2, Filters: search.Filters{Categories: []string{"space"}}})
	if err != nil || full.Total < 2 || full.TotalExact {
		t.Fatalf("keyword, window full: total %d, exact %v, %v", full.Total, full.TotalExact, err)
	}
	hy, err := e.Search(ctx, search.Request{Query: "space", K: 2})
	if err != nil || hy.Total != len(world) || hy.TotalExact || len(hy.Hits) != 2 {
		t.Fatalf("hybrid: total %d, exact %v, %d hits, %v", hy.Total, hy.TotalExact, len(hy.Hits), err)
	}
}

func TestEngine_Facets(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	req := search.Request{Query: "space", K: 1, Facets: []string{"category", "tag", "attr.year"}, Filters: search.Filters{Tags: []string{"nasa", "physics", "quick"}}}
	res, err := e.Search(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// A brute count over the items the filter passes: every one is a
	// candidate (the vector list holds the whole small catalogue).
	want := map[string]map[string]int{"category": {}, "tag": {}, "attr.year": {}}
	for _, w := range world {
		if !slices.ContainsFunc(w.item.Tags, func(t string) bool { return slices.Contains(req.Filters.Tags, t) }) {
			continue
		}
		for _, c := range w.item.Categories {
			want["category"][c]++
		}
		for _, tg := range w.item.Tags {
			want["tag"][tg]++
		}
		if y, ok := w.item.Attributes["year"]; ok {
			want["attr.year"][strconv.FormatFloat(y.Num, 'g', -1, 64)]++
		}
	}
	if res.Total != 4 || len(res.Hits) != 1 || len(res.Facets) != 3 {
		t.Fatalf("total %d, %d hits, facets %v", res.Total, len(res.Hits), res.Facets)
	}
	for f, counts := range want {
		got := map[string]int{}
		for i, fc := range res.Facets[f] {
			got[fc.Value] = fc.Count
			if i > 0 && (fc.Count > res.Facets[f][i-1].Count || fc.Count == res.Facets[f][i-1].Count && fc.Value < res.Facets[f][i-1].Value) {
				t.Fatalf("%s out of order: %v", f, res.Facets[f])
			}
		}
		if !maps.Equal(got, counts) {
			t.Fatalf("%s: %v, want %v", f, got, counts)
		}
	}
	// The commonest first, FacetSize of them.
	req.FacetSize = 1
	res, err = e.Search(ctx, req)
	if err != nil || len(res.Facets["category"]) != 1 || res.Facets["category"][0] != (search.FacetCount{Value: "space", Count: 3}) {
		t.Fatalf("facet size 1: %v %v", res.Facets, err)
	}
	for _, bad := range []search.Request{
		{Query: "x", Facets: []string{"colour"}},
		{Query: "x", Facets: []string{"attr.nope"}},
		{Query: "x", Facets: []string{"attr."}},
		{Query: "x", Facets: []string{"tag", "tag"}},
		{Query: "x", Facets: []string{"tag", "category", "attr.year", "attr.lang", "attr.a", "attr.b"}},
		{Query: "x", Facets: []string{"tag"}, FacetSize: search.MaxFacetSize + 1},
	} {
		if _, err := e.Search(ctx, bad); !errors.Is(err, search.ErrInvalidRequest) {
			t.Errorf("%v, size %d: %v", bad.Facets, bad.FacetSize, err)
		}
	}
}

// A history in a store that cannot be reached makes an answer that is not
// personalised, and says so; any other failure to read it is an error.
func TestEngine_HistoryUnavailable(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	res, err := e.Search(ctx, search.Request{Query: "rocket", UserID: userUnreachable})
	if err != nil || res.Degraded == "" || len(res.Hits) == 0 {
		t.Fatalf("search: %+v, %v", res, err)
	}
	rec, err := e.Recommend(ctx, search.Request{UserID: userUnreachable})
	if err != nil || rec.Degraded == "" {
		t.Fatalf("recommend: %+v, %v", rec, err)
	}
	if res, err := e.Search(ctx, search.Request{Query: "rocket", UserID: "astro"}); err != nil || res.Degraded != "" {
		t.Fatalf("a history read: %+v, %v", res, err)
	}
	if _, err := e.Search(ctx, search.Request{Query: "rocket", UserID: userBroken}); err == nil {
		t.Fatal("a broken history answered")
	}
	if _, err := e.Recommend(ctx, search.Request{UserID: userBroken}); err == nil {
		t.Fatal("a broken history recommended")
	}
}
