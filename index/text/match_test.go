package text

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/collector"
	bsearcher "github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/race"
)

// bleveIn answers q as Bleve's index would (textRequest's query through
// Bleve's searchers, scorers and collector), on the index as r sees it:
// the background merger cannot renumber documents between this and the
// search compared with it.
func bleveIn(t *testing.T, tx *Index, r bindex.IndexReader, q Query) Result {
	t.Helper()
	req := textRequest(&q, termsOf(t, tx, r, &q))
	ctx := context.WithValue(context.Background(), search.GetScoringModelCallbackKey,
		search.GetScoringModelCallbackFn(func() string { return bindex.BM25Scoring }))
	s, err := req.Query.Searcher(ctx, r, tx.idx.Mapping(), search.SearcherOptions{Score: req.Score})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	coll := collector.NewTopNCollector(req.Size, req.From, req.Sort)
	if err := coll.Collect(ctx, s, r); err != nil {
		t.Fatal(err)
	}
	out := Result{Total: coll.Total(), Hits: []Hit{}}
	for _, h := range coll.Results() {
		id, err := r.ExternalID(h.IndexInternalID)
		if err != nil {
			t.Fatal(err)
		}
		out.Hits = append(out.Hits, Hit{ID: id, Score: h.Score})
	}
	return out
}

// termsOf returns q's terms on the index as r sees it.
func termsOf(t testing.TB, tx *Index, r bindex.IndexReader, q *Query) []queryTerm {
	t.Helper()
	x, err := tx.queryTerms(context.Background(), readerDict{r}, q)
	if err != nil {
		t.Fatal(err)
	}
	return x.terms
}

// matchTop is matchIn on the index as it is now.
func (t *Index) matchTop(ctx context.Context, q *Query) (Result, bool, error) {
	r, err := t.reader()
	if err != nil {
		return Result{}, false, err
	}
	defer r.Close()
	x, err := t.queryTerms(ctx, readerDict{r}, q)
	if err != nil {
		return Result{}, false, err
	}
	return t.matchIn(ctx, r, q, x.terms)
}

// GenCatalog returns the first n items of the synthetic catalog made with
// seed; the external tests use it too.
func GenCatalog(t testing.TB, n int, seed uint64) []content.Item {
	t.Helper()
	var buf bytes.Buffer
	if _, err := content.Generate(context.Background(), content.GenOptions{Items: n, Users: 10, Seed: seed}, &buf, io.Discard); err != nil {
		t.Fatal(err)
	}
	var items []content.Item
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		it, err := content.ParseItemLine(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return items
}

// TestMatchTop_SameAsBleve holds matchTop to the hits, scores and totals of
// the Bleve query it stands in for, on an index of several segments with
// deleted and replaced items, for queries of one to several words, repeated
// words, stop words, unknown words, tag words and deep pages, and words
// expanded as prefixes and corrected for typos.
func TestMatchTop_SameAsBleve(t *testing.T) {
	ctx := context.Background()
	items := GenCatalog(t, 3000, 3)
	tx := indexedText(t, items, &Options{BatchSize: 400})
	rng := rand.New(rand.NewPCG(7, 7))
	for range 40 {
		it := items[rng.IntN(len(items))]
		if rng.IntN(2) == 0 {
			if err := tx.Delete(ctx, it.ID); err != nil {
				t.Fatal(err)
			}
			continue
		}
		it.Title += " revised edition"
		if err := tx.Upsert(ctx, it); err != nil {
			t.Fatal(err)
		}
	}

	word := func() string {
		it := items[rng.IntN(len(items))]
		var words []string
		switch rng.IntN(3) {
		case 0:
			words = strings.Fields(it.Title)
		case 1:
			words = strings.Fields(strings.Trim(it.Description, "."))
		default:
			words = append(append([]string(nil), it.Tags...), it.Categories...)
		}
		if len(words) == 0 {
			return "revised"
		}
		return words[rng.IntN(len(words))]
	}
	queries := []string{"the", "the and of", "zzyzx", "zzyzx " + word(), "revised edition", "Revised, EDITION!"}
	for range 300 {
		q := word()
		for range rng.IntN(4) {
			q += " " + word()
		}
		queries = append(queries, q)
	}
	a := word()
	queries = append(queries, a+" "+a, a+" "+a+" "+word())

	// Typed in a hurry: a word cut short, a letter dropped or doubled.
	for range 100 {
		w := word()
		switch rng.IntN(3) {
		case 0:
			w = w[:1+rng.IntN(len(w))]
		case 1:
			k := rng.IntN(len(w))
			w = w[:k] + w[k+1:]
		default:
			k := rng.IntN(len(w))
			w = w[:k+1] + w[k:]
		}
		queries = append(queries, word()+" "+w)
	}

	checked, skipped := 0, 0
	for i, text := range queries {
		q := Query{Text: text, K: 1 + rng.IntN(60)}
		if i%5 == 0 {
			q.Offset = rng.IntN(200)
		}
		if i%2 == 0 {
			q.Prefix, q.Typos = true, DefaultTypos
		}
		r := matchReader(t, tx)
		got, ok, err := tx.matchIn(ctx, r, &q, termsOf(t, tx, r, &q))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if !ok {
			t.Fatalf("%q: matchTop left a plain query to Bleve", text)
		}
		want := bleveIn(t, tx, r, q)
		q.SkipTotal = true
		pruned, ok, err := tx.matchIn(ctx, r, &q, termsOf(t, tx, r, &q))
		r.Close()
		if err != nil || !ok {
			t.Fatalf("%q with SkipTotal: ok %v, err %v", text, ok, err)
		}
		if diff := matchDiff(got, want); diff != "" {
			t.Fatalf("query %q, k %d, offset %d: %s", text, q.K, q.Offset, diff)
		}
		if pruned.Total > want.Total {
			t.Fatalf("query %q with SkipTotal: total %d, more than the %d matches", text, pruned.Total, want.Total)
		}
		if pruned.Total < want.Total {
			skipped++
		}
		pruned.Total = want.Total
		if diff := matchDiff(pruned, want); diff != "" {
			t.Fatalf("query %q, k %d, offset %d, SkipTotal: %s", text, q.K, q.Offset, diff)
		}
		if len(want.Hits) > 1 {
			checked++
		}
	}
	if checked < len(queries)/2 {
		t.Fatalf("only %d of %d queries had hits to compare", checked, len(queries))
	}
	// Common words fill a page long before their postings end: SkipTotal
	// must then leave some matches unscored.
	if skipped < len(queries)/4 {
		t.Fatalf("SkipTotal passed over matches in only %d of %d queries", skipped, len(queries))
	}
}

// TestMatchTop_SameAsSearch compares Search, which takes matchTop's way,
// with Bleve's own index search, on a compacted index that no merge
// renumbers meanwhile.
func TestMatchTop_SameAsSearch(t *testing.T) {
	ctx := context.Background()
	items := GenCatalog(t, 1500, 3)
	tx := compactedText(t, items, &Options{BatchSize: 300})
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range 100 {
		words := strings.Fields(items[rng.IntN(len(items))].Title)
		q := Query{Text: words[rng.IntN(len(words))], K: 100}
		if i%2 == 0 {
			q.Text += " " + words[rng.IntN(len(words))]
		}
		got, err := tx.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		res, err := tx.idx.Search(textRequest(&q, nil))
		if err != nil {
			t.Fatal(err)
		}
		want := Result{Total: res.Total, Hits: []Hit{}}
		for _, h := range res.Hits {
			want.Hits = append(want.Hits, Hit{ID: h.ID, Score: h.Score})
		}
		if diff := matchDiff(got, want); diff != "" {
			t.Fatalf("query %q: %s", q.Text, diff)
		}
	}
}

func matchReader(t testing.TB, tx *Index) bindex.IndexReader {
	t.Helper()
	adv, err := tx.idx.Advanced()
	if err != nil {
		t.Fatal(err)
	}
	r, err := adv.Reader()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func matchDiff(got, want Result) string {
	if got.Total != want.Total {
		return fmt.Sprintf("total %d, want %d", got.Total, want.Total)
	}
	if len(got.Hits) != len(want.Hits) {
		return fmt.Sprintf("%d hits, want %d", len(got.Hits), len(want.Hits))
	}
	for i := range got.Hits {
		if got.Hits[i].ID != want.Hits[i].ID || got.Hits[i].Score != want.Hits[i].Score {
			return fmt.Sprintf("hit %d is %s (%v), want %s (%v)", i, got.Hits[i].ID, got.Hits[i].Score, want.Hits[i].ID, want.Hits[i].Score)
		}
	}
	return ""
}

// TestMatchTop_LeavesTheRestToBleve checks which queries take Bleve's way
// (filters, facets), and that a long one does not.
func TestMatchTop_LeavesTheRestToBleve(t *testing.T) {
	for _, c := range []struct {
		q    Query
		want bool
	}{
		{Query{Text: "rocket", K: 5}, true},
		{Query{Text: "  ", K: 5}, false},
		{Query{Text: "rocket", K: 5, FacetSize: 3}, false},
		{Query{Text: "rocket", K: 5, Filter: Filter{Tags: []string{"x"}}}, false},
	} {
		if got := plainMatch(&c.q); got != c.want {
			t.Errorf("plainMatch(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
	tx, err := Open(context.Background(), filepath.Join(t.TempDir(), "text"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	long := Query{Text: strings.Repeat("rocket ", 11), K: 5}
	if _, ok, err := tx.matchTop(context.Background(), &long); !ok || err != nil {
		t.Errorf("a query of 11 terms: ok %v, err %v; want matchTop to answer it", ok, err)
	}
}

// TestMatchTop_LongQueries holds matchTop to Bleve on queries of more
// terms than Bleve sums in order (the words of a few items, as the
// recommendations' content list sends): the same total, the same scores
// within rounding, and the same hits but for swaps among scores that tie
// within rounding.
func TestMatchTop_LongQueries(t *testing.T) {
	ctx := context.Background()
	items := GenCatalog(t, 3000, 4)
	tx := indexedText(t, items, &Options{BatchSize: 500})
	rng := rand.New(rand.NewPCG(11, 11))
	long := 0
	for i := range 150 {
		var words []string
		for range 1 + rng.IntN(4) {
			it := items[rng.IntN(len(items))]
			words = append(append(append(words, strings.Fields(it.Title)...), it.Categories...), it.Tags...)
		}
		q := Query{Text: strings.Join(words, " "), K: 1 + rng.IntN(60), SkipTotal: i%2 == 0}
		r := matchReader(t, tx)
		terms := termsOf(t, tx, r, &q)
		got, ok, err := tx.matchIn(ctx, r, &q, terms)
		if err != nil || !ok {
			r.Close()
			t.Fatalf("%q: ok %v, err %v", q.Text, ok, err)
		}
		// Past the page, to see the hits a tie at its end may swap in.
		wq := q
		wq.K += 10
		want := bleveIn(t, tx, r, wq)
		r.Close()
		if len(terms) > bsearcher.DisjunctionHeapTakeover {
			long++
		}
		if diff := matchNear(got, want, q.K, q.SkipTotal); diff != "" {
			t.Fatalf("query %q (%d terms), k %d: %s", q.Text, len(terms), q.K, diff)
		}
	}
	if long < 100 {
		t.Fatalf("only %d of 150 queries had more than %d terms", long, bsearcher.DisjunctionHeapTakeover)
	}
}

// matchNear compares got, a page of k hits, with want, the same query's
// hits past the page: scores equal within a relative 1e-12 rank by rank,
// and every hit of got among want's with a score within that of its own.
// Totals must be equal, or with skipTotal got's no greater.
func matchNear(got, want Result, k int, skipTotal bool) string {
	if got.Total != want.Total && (!skipTotal || got.Total > want.Total) {
		return fmt.Sprintf("total %d, want %d", got.Total, want.Total)
	}
	if len(got.Hits) != min(k, len(want.Hits)) {
		return fmt.Sprintf("%d hits, want %d", len(got.Hits), min(k, len(want.Hits)))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(math.Abs(a), math.Abs(b)) }
	for i, h := range got.Hits {
		if !near(h.Score, want.Hits[i].Score) {
			return fmt.Sprintf("hit %d scores %v, want %v", i, h.Score, want.Hits[i].Score)
		}
		found := false
		for _, w := range want.Hits {
			if w.ID == h.ID {
				found = near(w.Score, h.Score)
				break
			}
		}
		if !found {
			return fmt.Sprintf("hit %d is %s (%v), which Bleve does not rank within a tie of that", i, h.ID, h.Score)
		}
	}
	return ""
}

// BenchmarkTextMatch times free-text queries answered by Bleve's
// searchers and by matchTop, on 20,000 items: of one or two title words
// ("words"), and of the titles, categories and tags of three items, about
// twenty terms, as the recommendations' content list sends ("items").
func BenchmarkTextMatch(b *testing.B) {
	ctx := context.Background()
	items := GenCatalog(b, 20_000, 3)
	tx := compactedText(b, items, nil)
	rng := rand.New(rand.NewPCG(9, 9))
	shapes := []struct {
		name string
		text func() string
	}{
		{"words", func() string {
			words := strings.Fields(items[rng.IntN(len(items))].Title)
			text := words[rng.IntN(len(words))]
			if rng.IntN(2) == 0 {
				text += " " + words[rng.IntN(len(words))]
			}
			return text
		}},
		{"items", func() string {
			var words []string
			for range 3 {
				it := items[rng.IntN(len(items))]
				words = append(append(append(words, strings.Fields(it.Title)...), it.Categories...), it.Tags...)
			}
			return strings.Join(words, " ")
		}},
	}
	for _, shape := range shapes {
		queries := make([]Query, 256)
		for i := range queries {
			queries[i] = Query{Text: shape.text(), K: 100}
		}
		b.Run(shape.name+"/bleve", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				q := &queries[i%len(queries)]
				if _, err := tx.idx.SearchInContext(ctx, textRequest(q, nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(shape.name+"/matchTop", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, ok, err := tx.matchTop(ctx, &queries[i%len(queries)]); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run(shape.name+"/matchTop-skipTotal", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				q := queries[i%len(queries)]
				q.SkipTotal = true
				if _, ok, err := tx.matchTop(ctx, &q); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// TestMatchTop_CacheFollowsEdits interleaves queries with edits, so that
// every query after an edit reads a new index snapshot: the posting lists
// and ids kept from the previous one must not answer it. The budgets
// cover no cache, one that evicts all the time, and the default.
func TestMatchTop_CacheFollowsEdits(t *testing.T) {
	for _, c := range []struct {
		name   string
		budget int
	}{{"none", -1}, {"evicting", 40 << 10}, {"default", 0}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			items := GenCatalog(t, 1200, 4)
			tx, err := Open(ctx, filepath.Join(t.TempDir(), "text"), &Options{BatchSize: 300, PostingsCache: c.budget})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			if err := tx.IndexBatch(ctx, items); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(11, 11))
			words := strings.Fields(items[0].Title + " " + items[1].Title + " " + items[2].Description)
			rounds := 60
			if race.Enabled {
				rounds = 15 // each edit waits for a persisted segment
			}
			for round := range rounds {
				for range 3 {
					text := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
					q := Query{Text: text, K: 1 + rng.IntN(40), SkipTotal: rng.IntN(2) == 0}
					r := matchReader(t, tx)
					got, ok, err := tx.matchIn(ctx, r, &q, termsOf(t, tx, r, &q))
					if err != nil || !ok {
						t.Fatalf("%q: ok %v, err %v", text, ok, err)
					}
					want := bleveIn(t, tx, r, q)
					r.Close()
					if q.SkipTotal {
						got.Total = want.Total
					}
					if diff := matchDiff(got, want); diff != "" {
						t.Fatalf("round %d, query %q: %s", round, text, diff)
					}
				}
				it := items[rng.IntN(len(items))]
				if rng.IntN(3) == 0 {
					err = tx.Delete(ctx, it.ID)
				} else {
					// Words that the queries ask for move into titles,
					// changing their lists, counts and idf.
					it.Title = words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
					err = tx.Upsert(ctx, it)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestMatchTop_CacheOutlivesEdits checks that an edit, which adds a
// segment, leaves the lists read from the others in use: a query after it
// reads only the new segment's.
func TestMatchTop_CacheOutlivesEdits(t *testing.T) {
	ctx := context.Background()
	items := GenCatalog(t, 600, 5)
	tx := compactedText(t, items, nil)
	q := Query{Text: strings.Fields(items[0].Title)[0], K: 20, SkipTotal: true}
	search := func() Result {
		t.Helper()
		res, ok, err := tx.matchTop(ctx, &q)
		if err != nil || !ok {
			t.Fatalf("ok %v, err %v", ok, err)
		}
		return res
	}
	search()
	first := tx.cache.reads.Load() // one list per field and segment
	search()
	if got := tx.cache.reads.Load(); got != first {
		t.Fatalf("the same query again read %d lists", got-first)
	}
	edited := items[1]
	edited.Title += " revised"
	if err := tx.Upsert(ctx, edited); err != nil {
		t.Fatal(err)
	}
	res := search()
	if got := tx.cache.reads.Load() - first; got != int64(len(matchFields)) {
		t.Fatalf("after one edit the query read %d lists, want %d (the new segment's)", got, len(matchFields))
	}
	r := matchReader(t, tx)
	defer r.Close()
	want := bleveIn(t, tx, r, q)
	res.Total = want.Total
	if diff := matchDiff(res, want); diff != "" {
		t.Fatal(diff)
	}
}

// compactedText indexes items in a new text index merged into one
// segment, closed when the test ends.
func compactedText(tb testing.TB, items []content.Item, opts *Options) *Index {
	tb.Helper()
	tx := indexedText(tb, items, opts)
	if err := tx.Compact(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return tx
}

// indexedText returns an index of items in a temporary directory, closed
// when the test ends.
func indexedText(tb testing.TB, items []content.Item, opts *Options) *Index {
	tb.Helper()
	ctx := context.Background()
	tx, err := Open(ctx, filepath.Join(tb.TempDir(), "text"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tx.Close() })
	if err := tx.IndexBatch(ctx, items); err != nil {
		tb.Fatal(err)
	}
	return tx
}
