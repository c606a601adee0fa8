package index

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	bsearcher "github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/duetrec/duet/content"
)

// Limits on a TextQuery. They bound the work one query can ask for.
const (
	MaxTextK            = 1000
	MaxTextOffset       = 10_000
	MaxTextQueryBytes   = 1 << 10
	MaxTextFacetSize    = 1000
	MaxTextFilterValues = 100 // per list of categories or tags, and of ranges
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

// ErrInvalidQuery is matched by every query that Search refuses as malformed
// or out of bounds.
var ErrInvalidQuery = errors.New("invalid query")

// TextQuery is a search of the text index.
type TextQuery struct {
	// Text is matched, analysed like the index (lowercased, stemmed, stop
	// words dropped), against titles, descriptions, tags and categories;
	// an item matches if any word does, and ranks by BM25 (title words
	// weigh double). Text of stop words alone matches nothing. Empty or
	// blank text browses: every item passing Filter matches, in id order,
	// with score 0.
	Text string
	// Filter restricts the matches without changing their scores.
	Filter TextFilter
	// K is the number of hits to return, 1 to MaxTextK; Offset skips that
	// many first, 0 to MaxTextOffset.
	K, Offset int
	// FacetSize, if positive, asks for counts of the FacetSize most
	// frequent categories and tags among all matches.
	FacetSize int
	// Highlight asks for fragments of the title and description, as HTML
	// with the matched words in <mark>. Browsing has nothing to highlight.
	Highlight bool
}

// TextFilter restricts a search. Every part that is set must hold.
type TextFilter struct {
	// Categories and Tags match an item holding any of them, exactly.
	Categories []string
	Tags       []string
	// Attributes match an item whose attribute of each key equals the
	// value: strings exactly, numbers numerically.
	Attributes map[string]content.Value
	// Ranges match an item whose numeric attribute lies in every range.
	Ranges []TextRange
}

// TextRange is a range of a numeric attribute, bounds included; a nil
// bound leaves that side open.
type TextRange struct {
	Attribute string
	Min, Max  *float64
}

func (f *TextFilter) empty() bool {
	return len(f.Categories) == 0 && len(f.Tags) == 0 && len(f.Attributes) == 0 && len(f.Ranges) == 0
}

// TextHit is one item found.
type TextHit struct {
	ID    string
	Score float64
	// Fragments maps "title" and "description" to highlighted fragments
	// when TextQuery.Highlight is set and the field matched.
	Fragments map[string][]string
}

// TextResult is the answer to a TextQuery.
type TextResult struct {
	Hits []TextHit
	// Total is the number of matching items, of which Hits is a page.
	Total uint64
	// Categories and Tags count the matching items holding each of the
	// most frequent categories and tags, when facets were asked for.
	Categories map[string]int
	Tags       map[string]int
}

// Validate reports what is wrong with the query, as an error matching
// ErrInvalidQuery.
func (q *TextQuery) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidQuery, fmt.Sprintf(format, args...))
	}
	switch {
	case len(q.Text) > MaxTextQueryBytes:
		return bad("text is %d bytes, more than %d", len(q.Text), MaxTextQueryBytes)
	case !utf8.ValidString(q.Text):
		return bad("text is not valid UTF-8")
	case q.K < 1 || q.K > MaxTextK:
		return bad("K is %d, want 1 to %d", q.K, MaxTextK)
	case q.Offset < 0 || q.Offset > MaxTextOffset:
		return bad("offset is %d, want 0 to %d", q.Offset, MaxTextOffset)
	case q.FacetSize < 0 || q.FacetSize > MaxTextFacetSize:
		return bad("facet size is %d, want 0 to %d", q.FacetSize, MaxTextFacetSize)
	}
	f := &q.Filter
	for _, l := range []struct {
		name   string
		values []string
	}{{"categories", f.Categories}, {"tags", f.Tags}} {
		if len(l.values) > MaxTextFilterValues {
			return bad("filter has %d %s, more than %d", len(l.values), l.name, MaxTextFilterValues)
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
	if len(f.Ranges) > MaxTextFilterValues {
		return bad("filter has %d ranges, more than %d", len(f.Ranges), MaxTextFilterValues)
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
// q does not validate, and with ErrTextClosed after Close. It is safe to
// call concurrently with every other method and sees every edit whose
// Upsert or Delete has returned.
func (t *Text) Search(ctx context.Context, q TextQuery) (TextResult, error) {
	if err := q.Validate(); err != nil {
		return TextResult{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return TextResult{}, ErrTextClosed
	}
	if plainMatch(&q) {
		res, ok, err := t.matchTop(ctx, &q)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return TextResult{}, ctxErr
			}
			return TextResult{}, fmt.Errorf("text search: %w", err)
		}
		if ok {
			return res, nil
		}
	}
	res, err := t.idx.SearchInContext(ctx, textRequest(&q))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return TextResult{}, ctxErr
		}
		return TextResult{}, fmt.Errorf("text search: %w", err)
	}
	out := TextResult{Total: res.Total, Hits: make([]TextHit, len(res.Hits))}
	for i, h := range res.Hits {
		out.Hits[i] = TextHit{ID: h.ID, Score: h.Score}
		if len(h.Fragments) > 0 {
			out.Hits[i].Fragments = h.Fragments
		}
	}
	if q.FacetSize > 0 {
		out.Categories = facetCounts(res.Facets[fieldCategories])
		out.Tags = facetCounts(res.Facets[fieldTags])
	}
	return out, nil
}

// textRequest turns a validated query into a Bleve request. Free text
// becomes a disjunction of match queries over the analysed fields; the
// filter becomes a conjunction of exact term and numeric range queries put
// in the Boolean query's filter clause, which restricts the matches without
// scoring them.
func textRequest(q *TextQuery) *bleve.SearchRequest {
	var match query.Query
	if strings.TrimSpace(q.Text) != "" {
		var anyField []query.Query
		for _, f := range matchFields {
			m := query.NewMatchQuery(q.Text)
			m.SetField(f.name)
			m.Analyzer = en.AnalyzerName
			m.SetBoost(f.boost)
			anyField = append(anyField, m)
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
	if q.Highlight && match != nil {
		req.Highlight = bleve.NewHighlight()
		req.Highlight.AddField(fieldTitle)
		req.Highlight.AddField(fieldDescription)
	}
	if q.FacetSize > 0 {
		req.AddFacet(fieldCategories, bleve.NewFacetRequest(fieldCategories, q.FacetSize))
		req.AddFacet(fieldTags, bleve.NewFacetRequest(fieldTags, q.FacetSize))
	}
	return req
}

// filterQuery returns the conjunction of the filter's parts, or nil.
func filterQuery(f *TextFilter) query.Query {
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

// Free text alone, the commonest query and the one hybrid search sends, is
// scored by matchTop straight from the postings rather than by running
// textRequest's query. Bleve turns every posting into a DocumentMatch that
// climbs two levels of disjunction searchers, a scorer at each level and a
// collector; on a catalogue where a common word matches a tenth of the
// items, that machinery costs several times the reading of the postings
// themselves. matchTop reads the same postings through the same index
// reader and computes Bleve's scores with Bleve's formulas, term by term
// and sum by sum in the same order, so that its hits, scores and total are
// those the query would give (the tests hold it to that). Filters,
// highlights and facets take Bleve's way.

// plainMatch reports whether q asks for nothing but free text.
func plainMatch(q *TextQuery) bool {
	return q.Filter.empty() && !q.Highlight && q.FacetSize == 0 && strings.TrimSpace(q.Text) != ""
}

// errNotScorch means the index reader is not the kind matchTop knows how to
// read; the query goes to Bleve instead.
var errNotScorch = errors.New("index reader is not scorch's")

// noDoc is the document number of an exhausted posting list.
const noDoc = math.MaxUint64

// matchLeaf is one term in one field: a term searcher of textRequest's
// query, with the scoring figures Bleve gives it.
type matchLeaf struct {
	r      bindex.TermFieldReader
	tfd    bindex.TermFieldDoc
	doc    uint64 // the current posting's document; noDoc past the end
	boost  float64
	idf    float64
	weight float64 // boost · idf · query norm
	avgLen float64 // average field length; 0 scores by tf-idf, as Bleve does
}

// next moves to the next posting.
func (l *matchLeaf) next() error {
	d, err := l.r.Next(&l.tfd)
	switch {
	case err != nil:
		return err
	case d == nil:
		l.doc = noDoc
	case len(d.ID) != 8:
		return errNotScorch
	default:
		l.doc = binary.BigEndian.Uint64(d.ID)
	}
	return nil
}

// score is the current posting's score, as Bleve's TermQueryScorer
// computes it.
func (l *matchLeaf) score() float64 {
	tf := math.Sqrt(float64(l.tfd.Freq))
	var s float64
	if l.avgLen > 0 {
		fieldLength := 1 / (l.tfd.Norm * l.tfd.Norm)
		s = l.idf * (tf * search.BM25_k1) /
			(tf + search.BM25_k1*(1-search.BM25_b+(search.BM25_b*fieldLength/l.avgLen)))
	} else {
		s = tf * l.tfd.Norm * l.idf
	}
	return s * l.weight
}

// termIDF is Bleve's inverse document frequency: BM25's when the field has
// an average length, tf-idf's otherwise.
func termIDF(avgLen float64, docs, withTerm uint64) float64 {
	if avgLen > 0 {
		return math.Log(1 + (float64(docs)-float64(withTerm)+0.5)/(float64(withTerm)+0.5))
	}
	return 1.0 + math.Log(float64(docs)/float64(withTerm+1.0))
}

// matchTop answers a plainMatch query as textRequest's would be answered:
// a disjunction over matchFields of one disjunction per field over the
// query's terms. ok is false when the query is left to Bleve: a query of
// more terms than Bleve sums in a slice (beyond that it sums them in heap
// order), or an index reader of another kind.
func (t *Text) matchTop(ctx context.Context, q *TextQuery) (res TextResult, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return TextResult{}, false, err
	}
	adv, err := t.idx.Advanced()
	if err != nil {
		return TextResult{}, false, err
	}
	r, err := adv.Reader()
	if err != nil {
		return TextResult{}, false, err
	}
	defer r.Close()
	return t.matchIn(ctx, r, q)
}

// matchIn is matchTop on the index as r sees it.
func (t *Text) matchIn(ctx context.Context, r bindex.IndexReader, q *TextQuery) (res TextResult, ok bool, err error) {
	tokens := t.en.Analyze([]byte(q.Text))
	nt := len(tokens)
	if nt > bsearcher.DisjunctionHeapTakeover {
		return TextResult{}, false, nil
	}
	if nt == 0 {
		// Stop words only: every field's query matches nothing.
		return TextResult{Hits: []TextHit{}}, true, nil
	}
	br, isBM25 := r.(bindex.BM25Reader)
	if !isBM25 {
		return TextResult{}, false, nil
	}
	docs, err := r.DocCount()
	if err != nil || docs == 0 {
		return TextResult{Hits: []TextHit{}}, err == nil, err
	}

	leaves := make([]matchLeaf, 0, len(matchFields)*nt)
	defer func() {
		for i := range leaves {
			leaves[i].r.Close()
		}
	}()
	type field struct {
		leaves []matchLeaf
		count  uint64
	}
	fields := make([]field, len(matchFields))
	for i, f := range matchFields {
		card, err := br.FieldCardinality(f.name)
		if err != nil {
			return TextResult{}, false, err
		}
		avg := math.Ceil(float64(card) / float64(docs))
		for _, tok := range tokens {
			tr, err := r.TermFieldReader(ctx, tok.Term, f.name, true, true, false)
			if err != nil {
				return TextResult{}, false, err
			}
			leaves = append(leaves, matchLeaf{r: tr, boost: f.boost, avgLen: avg, idf: termIDF(avg, docs, tr.Count())})
			fields[i].count += tr.Count()
		}
		fields[i].leaves = leaves[i*nt : (i+1)*nt]
	}
	// A disjunction searcher orders its children by their counts of
	// postings, fewest first, and sums weights and scores in that order.
	// Bleve sorts at most a dozen children by insertion, so stably.
	ordered := make([]matchLeaf, 0, len(leaves))
	slices.SortStableFunc(fields, func(a, b field) int { return cmp.Compare(a.count, b.count) })
	for _, f := range fields {
		slices.SortStableFunc(f.leaves, func(a, b matchLeaf) int { return cmp.Compare(a.r.Count(), b.r.Count()) })
		ordered = append(ordered, f.leaves...)
	}
	leaves = ordered
	// The query norm is over the squared weights of every term searcher,
	// summed per field and then over the fields.
	var sumSq float64
	for f := range matchFields {
		var fieldSq float64
		for _, l := range leaves[f*nt : (f+1)*nt] {
			w := l.boost * l.idf
			fieldSq += w * w
		}
		sumSq += fieldSq
	}
	norm := 1.0 / math.Sqrt(sumSq)
	for i := range leaves {
		l := &leaves[i]
		l.weight = l.boost * l.idf * norm
		if err := l.next(); err != nil {
			return TextResult{}, false, notScorch(err)
		}
	}

	top := matchHeap{size: q.K + q.Offset}
	var total uint64
	for {
		doc := uint64(noDoc)
		for i := range leaves {
			doc = min(doc, leaves[i].doc)
		}
		if doc == noDoc {
			break
		}
		if total++; total%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return TextResult{}, false, err
			}
		}
		// Each level scores the sum of its matching children times the
		// share of its children that match.
		var sum float64
		matched := 0
		for f := range matchFields {
			var fieldSum float64
			terms := 0
			for i := f * nt; i < (f+1)*nt; i++ {
				l := &leaves[i]
				if l.doc != doc {
					continue
				}
				fieldSum += l.score()
				terms++
				if err := l.next(); err != nil {
					return TextResult{}, false, notScorch(err)
				}
			}
			if terms > 0 {
				sum += fieldSum * (float64(terms) / float64(nt))
				matched++
			}
		}
		top.push(matchHit{doc: doc, score: sum * (float64(matched) / float64(len(matchFields)))})
	}

	hits := top.sorted()
	hits = hits[min(q.Offset, len(hits)):]
	res = TextResult{Total: total, Hits: make([]TextHit, len(hits))}
	id := make(bindex.IndexInternalID, 8)
	for i, h := range hits {
		binary.BigEndian.PutUint64(id, h.doc)
		ext, err := r.ExternalID(id)
		if err != nil {
			return TextResult{}, false, err
		}
		res.Hits[i] = TextHit{ID: ext, Score: h.score}
	}
	return res, true, nil
}

// notScorch turns errNotScorch into a hand-over to Bleve (a nil error with
// ok false); other errors stay errors.
func notScorch(err error) error {
	if errors.Is(err, errNotScorch) {
		return nil
	}
	return err
}

// matchHit is a scored document.
type matchHit struct {
	doc   uint64
	score float64
}

// better reports whether a ranks before b: Bleve's order, score first and
// then the earlier document.
func (a matchHit) better(b matchHit) bool {
	return a.score > b.score || a.score == b.score && a.doc < b.doc
}

// matchHeap keeps the size best hits pushed, the worst of them at the root.
type matchHeap struct {
	size int
	h    []matchHit
}

func (m *matchHeap) push(x matchHit) {
	if len(m.h) < m.size {
		m.h = append(m.h, x)
		for i := len(m.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !m.h[p].better(m.h[i]) {
				break
			}
			m.h[p], m.h[i] = m.h[i], m.h[p]
			i = p
		}
		return
	}
	if !x.better(m.h[0]) {
		return
	}
	m.h[0] = x
	for i := 0; ; {
		w, l, r := i, 2*i+1, 2*i+2
		if l < len(m.h) && m.h[w].better(m.h[l]) {
			w = l
		}
		if r < len(m.h) && m.h[w].better(m.h[r]) {
			w = r
		}
		if w == i {
			return
		}
		m.h[i], m.h[w] = m.h[w], m.h[i]
		i = w
	}
}

// sorted returns the hits kept, best first.
func (m *matchHeap) sorted() []matchHit {
	sort.Slice(m.h, func(i, j int) bool { return m.h[i].better(m.h[j]) })
	return m.h
}
