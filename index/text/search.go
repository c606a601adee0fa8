package text

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/duetrec/duet/content"
)

// Limits on a Query. They bound the work one query can ask for.
const (
	MaxK            = 1000
	MaxOffset       = 10_000
	MaxQueryBytes   = 1 << 10
	MaxFacetSize    = 1000
	MaxFilterValues = 100 // per list of categories or tags, and of ranges
)

// Boosts of the fields free text is matched against: a word in the title
// says more about an item than the same word in its description.
const (
	boostTitle       = 2.0
	boostDescription = 1.0
	boostLabels      = 1.0
)

// matchFields are the fields free text is matched against, in the order
// the query names them (which is the order their scores are summed in).
var matchFields = [...]struct {
	name  string
	boost float64
}{{fieldTitle, boostTitle}, {fieldDescription, boostDescription}, {fieldLabels, boostLabels}}

// Query is a search of the text index.
type Query struct {
	// Text is matched, analysed like the index (lowercased, stemmed, stop
	// words dropped), against titles, descriptions, tags and categories;
	// an item matches if any word does, and ranks by BM25 (title words
	// weigh double). Text of stop words alone matches nothing. Empty or
	// blank text browses: every item passing Filter matches, in id order,
	// with score 0.
	Text string
	// Filter restricts the matches without changing their scores.
	Filter Filter
	// K is the number of hits to return, 1 to MaxK; Offset skips that
	// many first, 0 to MaxOffset.
	K, Offset int
	// FacetSize, if positive, asks for counts of the FacetSize most
	// frequent categories and tags among all matches.
	FacetSize int
	// SkipTotal says the caller wants the hits but not Total. A search of
	// free text alone (no filter or facets) may then pass over
	// items that cannot make the page, and Total counts only the matches
	// it scored: a lower bound. The hits and their scores are the same.
	SkipTotal bool
	// Prefix matches the last word of Text, unless a space or punctuation
	// ends it, also as the beginning of longer words (as-you-type): the
	// ten commonest terms it begins join the query at half a word's
	// weight.
	Prefix bool
	// Typos lets a word that is in no matched field match the commonest
	// terms a few edits away instead (at most three, at half a word's
	// weight per edit); the zero value allows none (DefaultTypos is
	// Meilisearch's rule).
	Typos Typos
	// Vocabulary, when not nil, is the editors' synonyms and stop words
	// the text is read with (see NewVocabulary): words that are stop words
	// are dropped unless nothing else is left, and each phrase of a
	// synonym set brings in the terms of its synonyms, which weigh what
	// the words they stand for weigh.
	Vocabulary *Vocabulary
}

// Filter restricts a search. Every part that is set must hold.
type Filter struct {
	// Categories and Tags match an item holding any of them, exactly.
	Categories []string
	Tags       []string
	// Attributes match an item whose attribute of each key equals the
	// value: strings exactly, numbers numerically.
	Attributes map[string]content.Value
	// Ranges match an item whose numeric attribute lies in every range.
	Ranges []Range
}

// Range is a range of a numeric attribute, bounds included; a nil
// bound leaves that side open.
type Range struct {
	Attribute string
	Min, Max  *float64
}

func (f *Filter) empty() bool {
	return len(f.Categories) == 0 && len(f.Tags) == 0 && len(f.Attributes) == 0 && len(f.Ranges) == 0
}

// Hit is one item found.
type Hit struct {
	ID    string
	Score float64
}

// Result is the answer to a Query.
type Result struct {
	Hits []Hit
	// Total is the number of matching items, of which Hits is a page.
	Total uint64
	// Categories and Tags count the matching items holding each of the
	// most frequent categories and tags, when facets were asked for.
	Categories map[string]int
	Tags       map[string]int
}

// Validate reports what is wrong with the query, as an error matching
// ErrInvalidQuery.
func (q *Query) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidQuery, fmt.Sprintf(format, args...))
	}
	switch {
	case len(q.Text) > MaxQueryBytes:
		return bad("text is %d bytes, more than %d", len(q.Text), MaxQueryBytes)
	case !utf8.ValidString(q.Text):
		return bad("text is not valid UTF-8")
	case q.K < 1 || q.K > MaxK:
		return bad("K is %d, want 1 to %d", q.K, MaxK)
	case q.Offset < 0 || q.Offset > MaxOffset:
		return bad("offset is %d, want 0 to %d", q.Offset, MaxOffset)
	case q.FacetSize < 0 || q.FacetSize > MaxFacetSize:
		return bad("facet size is %d, want 0 to %d", q.FacetSize, MaxFacetSize)
	}
	if err := q.Typos.Validate(); err != nil {
		return err
	}
	f := &q.Filter
	for _, l := range []struct {
		name   string
		values []string
	}{{"categories", f.Categories}, {"tags", f.Tags}} {
		if len(l.values) > MaxFilterValues {
			return bad("filter has %d %s, more than %d", len(l.values), l.name, MaxFilterValues)
		}
		for _, v := range l.values {
			if v == "" || len(v) > content.MaxLabelBytes {
				return bad("filter %s value %q is empty or longer than %d bytes", l.name, textClip(v), content.MaxLabelBytes)
			}
		}
	}
	if len(f.Attributes) > content.MaxAttributes {
		return bad("filter has %d attributes, more than %d", len(f.Attributes), content.MaxAttributes)
	}
	for k, v := range f.Attributes {
		if err := checkAttrKey(k); err != nil {
			return bad("filter attribute: %v", err)
		}
		if v.IsNum && (math.IsNaN(v.Num) || math.IsInf(v.Num, 0)) {
			return bad("filter attribute %q: %v is not a finite number", k, v.Num)
		}
		if !v.IsNum && len(v.Str) > content.MaxAttrValueBytes {
			return bad("filter attribute %q: value is %d bytes, more than %d", k, len(v.Str), content.MaxAttrValueBytes)
		}
	}
	if len(f.Ranges) > MaxFilterValues {
		return bad("filter has %d ranges, more than %d", len(f.Ranges), MaxFilterValues)
	}
	for _, r := range f.Ranges {
		if err := checkAttrKey(r.Attribute); err != nil {
			return bad("filter range: %v", err)
		}
		if r.Min == nil && r.Max == nil {
			return bad("filter range on %q has no bound", r.Attribute)
		}
		for _, b := range []*float64{r.Min, r.Max} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				return bad("filter range on %q: bound %v is not a finite number", r.Attribute, *b)
			}
		}
		if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
			return bad("filter range on %q: min %v is more than max %v", r.Attribute, *r.Min, *r.Max)
		}
	}
	return nil
}

func checkAttrKey(k string) error {
	if k == "" || len(k) > content.MaxLabelBytes {
		return fmt.Errorf("key %q is empty or longer than %d bytes", textClip(k), content.MaxLabelBytes)
	}
	return nil
}

// Search runs a query. It fails with an error matching ErrInvalidQuery if
// q does not validate, and with ErrClosed after Close. It is safe to
// call concurrently with every other method and sees every edit whose
// Upsert or Delete has returned.
func (t *Index) Search(ctx context.Context, q Query) (Result, error) {
	if err := q.Validate(); err != nil {
		return Result{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return Result{}, ErrClosed
	}
	fail := func(err error) (Result, error) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Result{}, ctxErr
		}
		return Result{}, fmt.Errorf("text search: %w", err)
	}
	var terms []queryTerm
	if plainMatch(&q) || q.expandable() && strings.TrimSpace(q.Text) != "" {
		r, err := t.reader()
		if err != nil {
			return fail(err)
		}
		var x expansion
		x, err = t.queryTerms(ctx, readerDict{r}, &q)
		terms = x.terms
		if err == nil && plainMatch(&q) {
			var res Result
			var ok bool
			if res, ok, err = t.matchIn(ctx, r, &q, terms); err == nil && ok {
				r.Close()
				return res, nil
			}
		}
		r.Close()
		if err != nil {
			return fail(err)
		}
	}
	res, err := t.idx.SearchInContext(ctx, textRequest(&q, terms))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Result{}, ctxErr
		}
		return Result{}, fmt.Errorf("text search: %w", err)
	}
	out := Result{Total: res.Total, Hits: make([]Hit, len(res.Hits))}
	for i, h := range res.Hits {
		out.Hits[i] = Hit{ID: h.ID, Score: h.Score}
	}
	if q.FacetSize > 0 {
		out.Categories = facetCounts(res.Facets[fieldCategories])
		out.Tags = facetCounts(res.Facets[fieldTags])
	}
	return out, nil
}

// textRequest turns a validated query into a Bleve request. Free text
// becomes a disjunction over the analysed fields of match queries, or with
// expansions (terms, from queryTerms) of disjunctions of the terms, each
// boosted by its weight; the filter becomes a conjunction of exact term
// and numeric range queries put in the Boolean query's filter clause,
// which restricts the matches without scoring them.
func textRequest(q *Query, terms []queryTerm) *bleve.SearchRequest {
	var match query.Query
	if strings.TrimSpace(q.Text) != "" {
		var anyField []query.Query
		for _, f := range matchFields {
			if !q.expandable() {
				m := query.NewMatchQuery(q.Text)
				m.SetField(f.name)
				m.Analyzer = en.AnalyzerName
				m.SetBoost(f.boost)
				anyField = append(anyField, m)
				continue
			}
			// What the match query would make of the terms: a
			// disjunction of term queries.
			tqs := make([]query.Query, len(terms))
			for i, qt := range terms {
				tq := query.NewTermQuery(qt.term)
				tq.SetField(f.name)
				tq.SetBoost(f.boost * qt.weight)
				tqs[i] = tq
			}
			d := query.NewDisjunctionQuery(tqs)
			d.SetMin(1)
			anyField = append(anyField, d)
		}
		match = query.NewDisjunctionQuery(anyField)
	}
	filter := filterQuery(&q.Filter)

	var root query.Query
	switch {
	case filter == nil && match == nil:
		root = query.NewMatchAllQuery()
	case filter == nil:
		root = match
	default:
		b := query.NewBooleanQuery(nil, nil, nil)
		if match != nil {
			b.AddMust(match)
		}
		b.AddFilter(filter)
		root = b
	}

	req := bleve.NewSearchRequestOptions(root, q.K, q.Offset, false)
	if match == nil {
		// Every match would score the same: skip scoring, and page in a
		// stable order.
		req.Score = "none"
		req.SortBy([]string{"_id"})
	}
	if q.FacetSize > 0 {
		req.AddFacet(fieldCategories, bleve.NewFacetRequest(fieldCategories, q.FacetSize))
		req.AddFacet(fieldTags, bleve.NewFacetRequest(fieldTags, q.FacetSize))
	}
	return req
}

// filterQuery returns the conjunction of the filter's parts, or nil.
func filterQuery(f *Filter) query.Query {
	if f.empty() {
		return nil
	}
	var all []query.Query
	anyOf := func(field string, values []string) {
		if len(values) == 0 {
			return
		}
		terms := make([]query.Query, len(values))
		for i, v := range values {
			tq := query.NewTermQuery(v)
			tq.SetField(field)
			terms[i] = tq
		}
		all = append(all, query.NewDisjunctionQuery(terms))
	}
	anyOf(fieldCategories, f.Categories)
	anyOf(fieldTags, f.Tags)

	keys := make([]string, 0, len(f.Attributes))
	for k := range f.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same filter, the same query
	incl := true
	for _, k := range keys {
		v := f.Attributes[k]
		if v.IsNum {
			n := v.Num
			rq := query.NewNumericRangeInclusiveQuery(&n, &n, &incl, &incl)
			rq.SetField(attrNumField(k))
			all = append(all, rq)
		} else {
			tq := query.NewTermQuery(v.Str)
			tq.SetField(attrStrField(k))
			all = append(all, tq)
		}
	}
	for _, r := range f.Ranges {
		rq := query.NewNumericRangeInclusiveQuery(r.Min, r.Max, &incl, &incl)
		rq.SetField(attrNumField(r.Attribute))
		all = append(all, rq)
	}
	if len(all) == 1 {
		return all[0]
	}
	return query.NewConjunctionQuery(all)
}

func facetCounts(fr *search.FacetResult) map[string]int {
	counts := map[string]int{}
	if fr == nil {
		return counts
	}
	for _, tf := range fr.Terms.Terms() {
		counts[tf.Term] = tf.Count
	}
	return counts
}
