package search

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/vec"
)

// VectorIndex is the vector index as the engine uses it; index.HNSW and
// index.Exact satisfy it.
type VectorIndex interface {
	Search(ctx context.Context, v []float32, k int, filter index.Filter) ([]index.Result, error)
	// Vector returns the stored (unit) vector of an item.
	Vector(id string) ([]float32, bool)
	// Similarity is the inner product of an item's stored vector with v,
	// without a copy of the stored vector.
	Similarity(id string, v []float32) (float32, bool)
	// Dim is the dimension of the vectors.
	Dim() int
	Upsert(id string, v []float32) error
	Delete(id string) error
}

// TextIndex is the text index as the engine uses it; text.Index satisfies it.
type TextIndex interface {
	Search(ctx context.Context, q text.Query) (text.Result, error)
	Upsert(ctx context.Context, it content.Item) error
	Delete(ctx context.Context, id string) error
}

// Encoder puts items, users and text in the vector space; the two-tower
// model behind it. Vectors it returns are the caller's to keep.
type Encoder interface {
	// ItemVector embeds an item, known to the model or new.
	ItemVector(it content.Item) []float32
	// QueryVector embeds free text; false when no word of it is known.
	QueryVector(text string) ([]float32, bool)
	// UserVector embeds a history (oldest first); false when it is empty.
	UserVector(history []content.Item) ([]float32, bool)
}

// History reads a user's latest events, oldest first.
type History interface {
	UserEvents(ctx context.Context, userID string, n int) ([]content.Event, error)
}

// NeighbourIndex is the item-to-item collaborative list as the engine uses
// it; index.Neighbours and index.Factored satisfy it.
type NeighbourIndex interface {
	// RecommendWeighted returns the k items with the highest summed
	// weight from the history items' lists, history[i]'s list scaled by
	// weights[i] (1 when weights is nil).
	RecommendWeighted(ctx context.Context, history []string, weights []float32, k int, filter index.Filter) ([]index.Result, error)
}

// ItemWriter is a vector index that keeps each item's text beside its
// vector, as a remote index does, taking both in one write: live edits go
// to it alone, and the text index (the same records, searched by words)
// is not written.
type ItemWriter interface {
	PutItem(ctx context.Context, it content.Item, v []float32) error
	// DeleteItem removes an item; one the index does not hold is no
	// error.
	DeleteItem(ctx context.Context, id string) error
}

// Parts are what an engine searches and how it reads users. Vectors,
// Encoder, History and Catalog are required; Text (keyword search),
// Neighbours (the collaborative sources of recommendations), CF (the
// collaborative model that scores SourceCF's whole history exactly,
// where Neighbours keep each item's strongest weights; without it SourceCF
// sums Neighbours), Sequence (the sequence source's lists: what users
// went on to) and Nearby (the nearby and session sources' lists: what
// users met close to each item) may be nil.
type Parts struct {
	Vectors    VectorIndex
	Text       TextIndex
	Encoder    Encoder
	History    History
	Catalog    *Catalog
	Neighbours NeighbourIndex
	CF         NeighbourIndex
	Sequence   NeighbourIndex
	Nearby     NeighbourIndex
}

// Options tunes an Engine. Zero fields take the defaults in their comments.
type Options struct {
	// HistoryLen is how many of the user's latest events the user vector
	// reads; default 50.
	HistoryLen int
	// SeenLen is how many of the user's latest events exclude-seen drops
	// and Recommend reads (its collaborative lists sum them all); default
	// MaxHistory.
	SeenLen int
	// Because is how many history items explain a user-driven hit; default 3.
	Because int
	// Sources weighs the candidate lists of Recommend by source name
	// (SourceTower, SourceCF, SourcePopular); default DefaultSources. A
	// source weighed 0, or without its part, is not asked.
	Sources map[string]float64
	// SourceFusion is how Recommend fuses its lists when the request does
	// not say: FusionRelative (the default) or FusionRRF.
	SourceFusion Fusion
	// RecentLen is how many of the user's latest items SourceRecent
	// reads; default 10.
	RecentLen int
}

// Engine answers search and recommendation requests. It is safe for
// concurrent use, and its live-update methods keep it in step with the
// store while it serves.
type Engine struct {
	vectors VectorIndex
	text    TextIndex
	enc     Encoder
	hist    History
	cat     *Catalog
	cf      NeighbourIndex // SourceCF's: Parts.CF, else Parts.Neighbours
	sess    NeighbourIndex // SourceSession's: Parts.Nearby, else Parts.Neighbours
	seq     NeighbourIndex
	near    NeighbourIndex
	opts    Options
}

// New returns an engine over the given parts.
func New(p Parts, opts Options) *Engine {
	if opts.HistoryLen <= 0 {
		opts.HistoryLen = 50
	}
	if opts.SeenLen <= 0 {
		opts.SeenLen = MaxHistory
	}
	if opts.Because <= 0 {
		opts.Because = 3
	}
	if opts.Sources == nil {
		opts.Sources = DefaultSources
	}
	if opts.RecentLen <= 0 {
		opts.RecentLen = 10
	}
	if opts.SourceFusion == "" {
		opts.SourceFusion = FusionRelative
	}
	cf, sess := p.CF, p.Nearby
	if cf == nil {
		cf = p.Neighbours
	}
	if sess == nil {
		// A snapshot from before the nearby lists.
		sess = p.Neighbours
	}
	return &Engine{vectors: p.Vectors, text: p.Text, enc: p.Encoder, hist: p.History, cat: p.Catalog, cf: cf, sess: sess, seq: p.Sequence, near: p.Nearby, opts: opts}
}

// Catalog returns the engine's catalog.
func (e *Engine) Catalog() *Catalog { return e.cat }

// Hit is one result.
type Hit struct {
	ID      string        `json:"id"`
	Score   float64       `json:"score"`
	Item    *content.Item `json:"item,omitempty"`
	Explain *Explanation  `json:"explain,omitempty"`
	// Highlights, with Request.Highlight, holds the title with the
	// query's words in <mark> and a snippet of the description around
	// them, escaped for HTML (text.Highlighter.Fragments), by field;
	// absent for a hit whose text holds none of them.
	Highlights map[string]string `json:"highlights,omitempty"`
}

// Explanation says where a hit's score came from.
type Explanation struct {
	// Source of the vector list: "user", "query", "blend", "item" (similar
	// items) or "popular" when there was nothing to personalise with;
	// "sources" for recommendations, which Sources details.
	Source      string    `json:"source"`
	Vector      float64   `json:"vector"`
	VectorRank  int       `json:"vector_rank"` // 1-based; 0 when not in the vector list
	Keyword     float64   `json:"keyword"`
	KeywordRank int       `json:"keyword_rank"`
	Fused       float64   `json:"fused"`
	Because     []Because `json:"because,omitempty"`
	// Sources, for recommendations, names the candidate lists that
	// proposed the hit and where each ranked it.
	Sources []SourceRank `json:"sources,omitempty"`
	// Matched, for a search with words, lists the terms of the query's
	// Reading that the hit's title, description, tags or categories hold:
	// a synonym's terms say so, with their set.
	Matched []text.Term `json:"matched,omitempty"`
}

// Because names a history item close to a user-driven hit.
type Because struct {
	ID         string  `json:"id"`
	Title      string  `json:"title,omitempty"`
	Similarity float64 `json:"similarity"`
}

// Result is the answer to a request.
type Result struct {
	Hits   []Hit   `json:"hits"`
	Mode   Mode    `json:"mode"`
	Fusion Fusion  `json:"fusion"`
	Source string  `json:"source"`
	Timing Timings `json:"timing"`
	// Total is how many hits Search had to page through: the candidates
	// its lists fetched, filtered and fused. TotalExact says it is every
	// match: a keyword search whose list did not fill its window. Otherwise
	// it is a lower bound (a vector list has no end of matches).
	Total      int  `json:"total"`
	TotalExact bool `json:"total_exact"`
	// Facets holds, for each facet the request names, the commonest
	// values among the Total candidates (filtered, fused and capped, so
	// of both lists in hybrid mode; every match when TotalExact) with how
	// many of them hold each, most first.
	Facets map[string][]FacetCount `json:"facets,omitempty"`
	// Reading, with Request.Explain and words, is how the keyword side
	// read them: each term searched for and why (typed, a typo's
	// correction, a completion, a synonym and its set), and the words
	// dropped as stop words.
	Reading *text.Reading `json:"reading,omitempty"`
	// Unfinished, when the last word of the query is being typed (Prefix,
	// no space after it, no word of the index's dictionary), is how many
	// items hold a word it begins: the vector list was drawn from them
	// alone.
	Unfinished int `json:"unfinished,omitempty"`
	// Degraded, when set, says what the answer had to do without: the
	// user's history when the store holding it could not be reached
	// (content.ErrUnavailable), so it is not personalised.
	Degraded string `json:"degraded,omitempty"`
}

// noHistory is Result.Degraded when the user's history could not be read.
const noHistory = "the user's history could not be read (the store is unavailable): not personalised"

// userEvents reads the user's latest n events. A store that cannot be
// reached is no failure of the request, which goes on without them (and
// says so in degraded): an answer not personalised beats none.
func (e *Engine) userEvents(ctx context.Context, user string, n int) (evs []content.Event, degraded string, err error) {
	evs, err = e.hist.UserEvents(ctx, user, n)
	if errors.Is(err, content.ErrUnavailable) {
		return nil, noHistory, nil
	}
	return evs, "", err
}

// FacetCount is how many candidates hold a value.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Timings splits a request's time by stage.
type Timings struct {
	User    time.Duration `json:"user_ns"`    // history read and user vector
	Query   time.Duration `json:"query_ns"`   // query vector
	ANN     time.Duration `json:"ann_ns"`     // vector search and re-scoring; the wait for the items a word being typed begins
	Keyword time.Duration `json:"keyword_ns"` // text search
	Fusion  time.Duration `json:"fusion_ns"`
	Rerank  time.Duration `json:"rerank_ns"` // MMR, category cap, explanations
	Total   time.Duration `json:"total_ns"`
}

// Search answers a request. Nothing known about the user and no query is
// not an error: the answer is the popular items.
func (e *Engine) Search(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	if err := e.checkAttributes(&req); err != nil {
		return nil, err
	}
	res := &Result{Mode: req.Mode, Fusion: req.Fusion}

	// A filter alone does not make a keyword list: Bleve would browse the
	// matches in id order, unscored, and fusion would rank that order.
	// Filters already apply to the vector and popular lists.
	var text *textCall
	if e.text != nil && (req.Query != "" && req.Mode != ModeVector || req.Mode == ModeKeyword) {
		text = e.startText(ctx, &req)
		// Whatever happens here, the text search is over when Search
		// returns.
		defer text.wait()
	}
	var unfinished *unfinishedCall
	if tn, ok := e.text.(textNarrower); ok && req.Prefix && req.Query != "" && req.Mode != ModeKeyword && req.Vector == nil {
		if limit := min(maxUnfinished, e.cat.Len()/4); limit > 0 {
			// A request that fails early stops the listing rather than
			// waiting for it.
			uctx, cancel := context.WithCancel(ctx)
			unfinished = startUnfinished(uctx, tn, req.textQuery(), limit)
			defer unfinished.wait()
			defer cancel()
		}
	}

	// The user: history, what to exclude, the user vector.
	var hist []*content.Item
	var seen map[string]bool
	var uv []float32
	if req.UserID != "" {
		t := time.Now()
		n := e.opts.HistoryLen
		if req.ExcludeSeen {
			n = max(n, e.opts.SeenLen)
			seen = map[string]bool{}
		}
		evs, degraded, err := e.userEvents(ctx, req.UserID, n)
		if err != nil {
			return nil, fmt.Errorf("search: history of %q: %w", req.UserID, err)
		}
		res.Degraded = degraded
		for i, ev := range evs {
			if seen != nil {
				seen[ev.ItemID] = true
			}
			if i < len(evs)-e.opts.HistoryLen {
				continue // older than the user vector reads
			}
			if it, ok := e.cat.Item(ev.ItemID); ok {
				hist = append(hist, it)
			}
		}
		if req.Mode != ModeKeyword && len(hist) > 0 {
			items := make([]content.Item, len(hist))
			for i, it := range hist {
				items[i] = *it
			}
			uv, _ = e.enc.UserVector(items)
		}
		res.Timing.User = time.Since(t)
	}
	if len(seen) == 0 {
		seen = nil
	}
	allow := e.allowFunc(&req, seen)

	var qv []float32
	switch {
	case req.Vector != nil:
		if d := e.vectors.Dim(); len(req.Vector) != d {
			return nil, invalid("vector has %d components, the model's dimension is %d", len(req.Vector), d)
		}
		qv = append([]float32(nil), req.Vector...)
		if vec.Normalize(qv) == 0 {
			return nil, invalid("vector is too small to normalise")
		}
	case req.Query != "" && req.Mode != ModeKeyword:
		t := time.Now()
		qv, _ = e.enc.QueryVector(e.queryText(ctx, &req))
		res.Timing.Query = time.Since(t)
	}
	v, source := blend(uv, qv, *req.UserWeight)
	res.Source = source

	// A word being typed is a part of a word, which the query vector
	// cannot read: the vector list is drawn from the items holding a
	// word it begins, and the keyword list, which searches only its
	// commonest completions, a guess at the word, counts for half.
	var narrow *unfinishedFilter
	kwWeight := 1.0
	if unfinished != nil && v != nil {
		t := time.Now()
		unfinished.wait()
		if unfinished.err != nil {
			return nil, fmt.Errorf("search: the word being typed: %w", unfinished.err)
		}
		if unfinished.ok {
			narrow, kwWeight, res.Unfinished = newUnfinishedFilter(e.cat, unfinished.ids, allow), unfinishedKeywordWeight, len(unfinished.ids)
		}
		res.Timing.ANN += time.Since(t)
	}

	var vecList, kwList []Scored
	if v != nil {
		t := time.Now()
		// Without filters or exclusions the index is searched unfiltered,
		// which spares it a catalog look-up per node it visits. An item
		// deleted from the catalog a moment ago, and not yet from the
		// index, can then be found: finish drops it.
		var filter index.Filter
		switch {
		case narrow != nil:
			filter = narrow
		case allow != nil:
			filter = e.itemFilter(&req, allow, seen)
		}
		hits, err := e.vectors.Search(ctx, v, req.Window, filter)
		if err != nil {
			return nil, fmt.Errorf("search: vector index: %w", err)
		}
		vecList = make([]Scored, len(hits))
		for i, h := range hits {
			vecList[i] = Scored{ID: h.ID, Score: float64(h.Score)}
		}
		res.Timing.ANN += time.Since(t)
	}
	if text != nil {
		var err error
		if kwList, err = text.list(e.cat, allow); err != nil {
			return nil, err
		}
		res.Timing.Keyword = text.took
	}

	t := time.Now()
	var cands []fused
	switch {
	case req.Mode == ModeVector:
		cands = fuse(vecList, nil, nil, req.Fusion, 1, req.RRFK, 1)
	case req.Mode == ModeKeyword:
		cands = fuse(nil, kwList, nil, req.Fusion, 0, req.RRFK, 1)
	default:
		// Keyword hits the vector list missed still get a personal score:
		// their own vector against the user's.
		var sim func(string) (float64, bool)
		if v != nil {
			sim = func(id string) (float64, bool) {
				if narrow != nil && !narrow.holds(id) {
					return 0, false // not where the vector list was drawn from
				}
				s, ok := e.vectors.Similarity(id, v)
				return float64(s), ok
			}
		}
		cands = fuse(vecList, kwList, sim, req.Fusion, *req.Alpha, req.RRFK, kwWeight)
	}
	if len(vecList) == 0 && len(kwList) == 0 && req.Query == "" {
		// Nothing to go on: the popular items, filtered.
		res.Source = "popular"
		cands = fuse(nil, e.cat.Popular(req.Window, allow), nil, FusionWeighted, 0, req.RRFK, 1)
	}
	res.Timing.Fusion = time.Since(t)

	if req.Sort != nil {
		e.sortBy(cands, req.Sort)
	}
	res.TotalExact = req.Mode == ModeKeyword && text != nil && len(text.res.Hits) < text.k

	t = time.Now()
	res.Hits, res.Total, res.Facets = e.finish(cands, &req, res.Source, hist)
	recycle(cands) // the hits hold copies
	if err := e.readWords(ctx, &req, res); err != nil {
		return nil, err
	}
	res.Timing.Rerank = time.Since(t)
	res.Timing.Total = time.Since(start)
	return res, nil
}

// checkAttributes refuses a request that sorts by or counts an attribute
// no item holds (as a number, to sort by): a misspelt key would otherwise
// sort nothing or count nothing, silently.
func (e *Engine) checkAttributes(req *Request) error {
	if req.Sort != nil {
		if key, ok := strings.CutPrefix(req.Sort.Field, SortAttrPrefix); ok && !e.cat.HasNumber(key) {
			return invalid("sort: no item has a number attribute %q", clip(key))
		}
	}
	for _, f := range req.Facets {
		if key, ok := strings.CutPrefix(f, FacetAttrPrefix); ok && !e.cat.HasAttribute(key) {
			return invalid("facet: no item has an attribute %q", clip(key))
		}
	}
	return nil
}

// sortBy orders the candidates by the sort key, stably: relevance, their
// order, breaks ties, and candidates without the value go last.
func (e *Engine) sortBy(cands []fused, by *SortBy) {
	key, isAttr := strings.CutPrefix(by.Field, SortAttrPrefix)
	value := func(id string) (float64, bool) {
		it, ok := e.cat.Item(id)
		switch {
		case !ok:
			return 0, false
		case !isAttr:
			return float64(it.CreatedAt.UnixNano()), !it.CreatedAt.IsZero()
		}
		v, ok := it.Attributes[key]
		return v.Num, ok && v.IsNum
	}
	type keyed struct {
		v  float64
		ok bool
	}
	keys := make(map[string]keyed, len(cands))
	for _, c := range cands {
		v, ok := value(c.id)
		keys[c.id] = keyed{v, ok}
	}
	slices.SortStableFunc(cands, func(a, b fused) int {
		ka, kb := keys[a.id], keys[b.id]
		switch {
		case ka.ok != kb.ok:
			if ka.ok {
				return -1
			}
			return 1
		case !ka.ok:
			return 0
		case by.Desc:
			return cmp.Compare(kb.v, ka.v)
		}
		return cmp.Compare(ka.v, kb.v)
	})
}

// textHighlighter is a TextIndex that can mark a query's words in items
// (text.Index does).
type textHighlighter interface {
	Highlighter(ctx context.Context, q text.Query) (*text.Highlighter, error)
}

// readWords says how the keyword side read the query's words, when the
// request asks for it and has words: with Highlight, every hit's
// Highlights, whichever list found it; with Explain, the result's Reading
// and the terms each hit holds.
func (e *Engine) readWords(ctx context.Context, req *Request, res *Result) error {
	th, ok := e.text.(textHighlighter)
	if !req.Highlight && !req.Explain || !ok || strings.TrimSpace(req.Query) == "" {
		return nil
	}
	h, err := th.Highlighter(ctx, req.textQuery())
	if err != nil {
		if errors.Is(err, text.ErrInvalidQuery) {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		return fmt.Errorf("search: highlight: %w", err)
	}
	if req.Explain {
		r := h.Reading()
		res.Reading = &r
	}
	for i := range res.Hits {
		hit := &res.Hits[i]
		if req.Highlight {
			hit.Highlights = h.Fragments(hit.Item)
		}
		if hit.Explain != nil {
			hit.Explain.Matched = h.Matched(hit.Item)
		}
	}
	return nil
}

// Similar returns items near an item's vector, with the request's filters
// and paging; Query, UserID and Mode are ignored.
func (e *Engine) Similar(ctx context.Context, itemID string, req Request) (*Result, error) {
	start := time.Now()
	req.Query, req.UserID, req.Mode = "", "", ModeVector
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	if _, ok := e.cat.Item(itemID); !ok {
		return nil, fmt.Errorf("similar to %q: %w", itemID, ErrNotFound)
	}
	v, ok := e.vectors.Vector(itemID)
	if !ok {
		return nil, fmt.Errorf("similar to %q: %w", itemID, ErrNotFound)
	}
	exclude := map[string]bool{itemID: true}
	allow := e.allowFunc(&req, exclude)
	t := time.Now()
	hits, err := e.vectors.Search(ctx, v, req.Window, e.itemFilter(&req, allow, exclude))
	if err != nil {
		return nil, fmt.Errorf("similar to %q: %w", itemID, err)
	}
	list := make([]Scored, len(hits))
	for i, h := range hits {
		list[i] = Scored{ID: h.ID, Score: float64(h.Score)}
	}
	res := &Result{Mode: ModeVector, Fusion: req.Fusion, Source: "item"}
	res.Timing.ANN = time.Since(t)
	t = time.Now()
	res.Hits, res.Total, _ = e.finish(fuse(list, nil, nil, req.Fusion, 1, req.RRFK, 1), &req, "item", nil)
	res.Timing.Rerank = time.Since(t)
	res.Timing.Total = time.Since(start)
	return res, nil
}

// allowFunc is the filter every candidate list passes: the request's
// filters, and not an excluded item. It is nil when every item passes.
func (e *Engine) allowFunc(req *Request, exclude map[string]bool) func(*content.Item) bool {
	f := req.Filters
	if len(exclude) == 0 && !f.any() {
		return nil
	}
	return func(it *content.Item) bool {
		return !exclude[it.ID] && f.match(it)
	}
}

// itemFilter is the vector side's filter of a request: Allow tests an
// item of the catalog with allow; Conditions states the request's filters
// for an index that filters on its own side (a remote one, which cannot
// ask the catalog about each item it visits) and leaves the rest, such as
// exclude-seen, to Allow. When the filters name categories, tags or a
// numeric range it is a listedFilter.
type itemFilter struct {
	cat   *Catalog
	allow func(*content.Item) bool
	cond  text.Filter
}

// itemFilter returns the vector side's filter of a request whose items
// must pass allow: its filters, and not one of exclude.
func (e *Engine) itemFilter(req *Request, allow func(*content.Item) bool, exclude map[string]bool) index.Filter {
	return newItemFilter(e.cat, &req.Filters, allow, exclude)
}

func newItemFilter(cat *Catalog, filters *Filters, allow func(*content.Item) bool, exclude map[string]bool) index.Filter {
	f := &itemFilter{cat: cat, allow: allow, cond: filters.conditions()}
	if filters.listable() {
		return &listedFilter{itemFilter: f, filters: filters, exclude: exclude}
	}
	return f
}

// VectorFilter returns the filter a search's vector side takes for the
// given filters (and no exclusions) over the catalog: what a benchmark of
// filtered vector search measures.
func (c *Catalog) VectorFilter(f Filters) (index.Filter, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	return newItemFilter(c, &f, f.match, nil), nil
}

func (f *itemFilter) Allow(id string) bool {
	it, ok := f.cat.Item(id)
	return ok && f.allow(it)
}

// Conditions returns the request's filters as the text index takes them.
func (f *itemFilter) Conditions() text.Filter { return f.cond }

// listedFilter is an itemFilter that lists the items it allows from the
// catalog's postings (index.ListedFilter), so that the vector index knows
// how many may pass without sampling and scores them directly when they
// are few. The listing is planned on first use, so that an index that
// never asks costs nothing; the items listed are checked as they are
// listed, with the item at hand.
type listedFilter struct {
	*itemFilter
	filters *Filters
	exclude map[string]bool
	once    sync.Once
	l       listing
	n       int
}

func (f *listedFilter) plan() {
	f.once.Do(func() { f.l, f.n = f.cat.plan(f.filters) })
}

// Len returns how many items the listing holds, a bound on how many pass.
func (f *listedFilter) Len() int {
	f.plan()
	return f.n
}

// Listed yields the listed items that pass, with their catalog slots as
// hints.
func (f *listedFilter) Listed() iter.Seq2[string, int32] {
	f.plan()
	items := f.cat.listed(f.l, f.filters, f.exclude)
	return func(yield func(string, int32) bool) {
		for _, it := range items {
			if !yield(it.id, it.slot) {
				return
			}
		}
	}
}

// Narrowing by a word being typed is given up past maxUnfinished items
// holding the words it begins, or a quarter of the catalogue. Each item
// listed costs look-ups by id in the catalog and the index, about a
// microsecond apiece at 100,000 items (cache misses): the bound keeps a
// request within about 2.5 ms of what it costs unnarrowed. Past a
// quarter of the catalogue the list is hardly narrowed.
const (
	maxUnfinished           = 2048
	unfinishedKeywordWeight = 0.5
)

// textNarrower is a TextIndex that lists the items a word being typed may
// be a word of (text.Index does).
type textNarrower interface {
	Unfinished(ctx context.Context, q text.Query, limit int) ([]string, bool, error)
}

// unfinishedCall is the listing of the items a word being typed may be a
// word of, made beside the rest of a request as the text search is.
type unfinishedCall struct {
	done chan struct{}
	ids  []string
	ok   bool
	err  error
}

func startUnfinished(ctx context.Context, tn textNarrower, q text.Query, limit int) *unfinishedCall {
	c := &unfinishedCall{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.ids, c.ok, c.err = tn.Unfinished(ctx, q, limit)
	}()
	return c
}

func (c *unfinishedCall) wait() { <-c.done }

// unfinishedFilter passes the items holding a word the last word typed
// begins (held) that the request's allow passes (every one when allow is
// nil). It lists them itself, with their catalog slots as hints, so the
// request's own filter is not asked: one catalog look-up an item. Their
// set is made on the first question: a search that scores the items
// listed never asks.
type unfinishedFilter struct {
	cat   *Catalog
	held  []string
	allow func(*content.Item) bool
	once  sync.Once
	set   index.AllowSet
}

func newUnfinishedFilter(cat *Catalog, held []string, allow func(*content.Item) bool) *unfinishedFilter {
	return &unfinishedFilter{cat: cat, held: held, allow: allow}
}

// holds reports whether id is one of the items held.
func (f *unfinishedFilter) holds(id string) bool {
	f.once.Do(func() { f.set = index.NewAllowSet(f.held...) })
	return f.set.Allow(id)
}

func (f *unfinishedFilter) Allow(id string) bool {
	if !f.holds(id) {
		return false
	}
	it, ok := f.cat.Item(id)
	return ok && (f.allow == nil || f.allow(it))
}

// Len returns how many items are held: a bound on how many pass.
func (f *unfinishedFilter) Len() int { return len(f.held) }

// Listed yields the held items that pass.
func (f *unfinishedFilter) Listed() iter.Seq2[string, int32] {
	return func(yield func(string, int32) bool) {
		for _, id := range f.held {
			it, slot, ok := f.cat.slotted(id)
			if ok && (f.allow == nil || f.allow(it)) && !yield(id, slot) {
				return
			}
		}
	}
}

// blend picks the vector to search with: the user's, the query's, or
// their weighted sum.
func blend(uv, qv []float32, userWeight float64) ([]float32, string) {
	switch {
	case uv != nil && qv != nil:
		b := make([]float32, len(uv))
		vec.Axpy(float32(userWeight), uv, b)
		vec.Axpy(float32(1-userWeight), qv, b)
		if vec.Normalize(b) == 0 {
			return uv, "user"
		}
		return b, "blend"
	case uv != nil:
		return uv, "user"
	case qv != nil:
		return qv, "query"
	}
	return nil, ""
}

// textCall is a text search running beside the rest of a request.
type textCall struct {
	k    int // the hits asked for: the window, within the text index's bound
	done chan struct{}
	res  text.Result
	err  error
	took time.Duration
}

// startText starts the text search of a request. It needs nothing from the
// user's history, so it runs in its own goroutine while the history is read
// and the vector index searched: on more than one core the request then
// takes about the longer of the two instead of their sum.
func (e *Engine) startText(ctx context.Context, req *Request) *textCall {
	q := req.textQuery()
	q.K, q.SkipTotal = min(req.Window, text.MaxK), true
	q.Filter = req.Filters.conditions()
	c := &textCall{k: q.K, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t := time.Now()
		c.res, c.err = e.text.Search(ctx, q)
		c.took = time.Since(t)
	}()
	return c
}

func (c *textCall) wait() { <-c.done }

// textInterpreter is a TextIndex that can say how it reads a query's
// words (text.Index does).
type textInterpreter interface {
	Interpret(ctx context.Context, q text.Query) (string, error)
}

// queryText is the text the query vector embeds: with prefixes, typos or
// a vocabulary, the words as the keyword side reads them (a typo
// corrected, a word completed, stop words dropped: an embedding takes one
// reading), else as typed.
func (e *Engine) queryText(ctx context.Context, req *Request) string {
	ti, ok := e.text.(textInterpreter)
	if !ok || !req.Prefix && req.Typos == (Typos{}) && req.Vocabulary == nil {
		return req.Query
	}
	s, err := ti.Interpret(ctx, req.textQuery())
	if err != nil || strings.TrimSpace(s) == "" {
		return req.Query // the words as typed are still a query
	}
	return s
}

// list waits for the search and returns its hits that allow accepts (all
// of them when allow is nil).
func (c *textCall) list(cat *Catalog, allow func(*content.Item) bool) ([]Scored, error) {
	c.wait()
	if err := c.err; err != nil {
		if errors.Is(err, text.ErrInvalidQuery) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		return nil, fmt.Errorf("search: text index: %w", err)
	}
	out := make([]Scored, 0, len(c.res.Hits))
	for _, h := range c.res.Hits {
		// The text index filters too; the catalog check also drops what
		// the user has seen. Items deleted a moment ago are finish's to
		// drop.
		if allow != nil {
			if it, ok := cat.Item(h.ID); !ok || !allow(it) {
				continue
			}
		}
		out = append(out, Scored{ID: h.ID, Score: h.Score})
	}
	return out, nil
}

// finish diversifies, pages and explains the fused candidates.
func (e *Engine) finish(cands []fused, req *Request, source string, hist []*content.Item) ([]Hit, int, map[string][]FacetCount) {
	if req.Diversity.MaxPerCategory > 0 {
		cands = capPerCategory(cands, req.Diversity.MaxPerCategory, func(id string) string {
			if it, ok := e.cat.Item(id); ok && len(it.Categories) > 0 {
				return it.Categories[0]
			}
			return ""
		})
	}
	total := len(cands)
	facets := e.facets(cands, req)
	need := req.Offset + req.K
	if l := req.Diversity.MMRLambda; l > 0 && l < 1 {
		cands = mmr(cands, need, l, func(a, b string) float64 {
			va, oka := e.vectors.Vector(a)
			vb, okb := e.vectors.Vector(b)
			if !oka || !okb {
				return 0
			}
			return float64(vec.Dot(va, vb))
		})
	}
	hits := make([]Hit, 0, min(req.K, max(0, len(cands)-req.Offset)))
	skip := req.Offset
	for _, c := range cands {
		if len(hits) == req.K {
			break
		}
		it, ok := e.cat.Item(c.id)
		if !ok {
			continue // deleted since the lists were made
		}
		if skip > 0 {
			skip--
			continue
		}
		h := Hit{ID: c.id, Score: c.score, Item: it}
		if req.Explain {
			h.Explain = &Explanation{
				Source: source, Vector: c.vector, VectorRank: c.vectorRank,
				Keyword: c.keyword, KeywordRank: c.keywordRank, Fused: c.score,
			}
			if source == "user" || source == "blend" {
				h.Explain.Because = e.because(c.id, hist)
			}
		}
		hits = append(hits, h)
	}
	return hits, total, facets
}

// because names the history items nearest a hit: the ones that pull the
// user vector towards it the most.
func (e *Engine) because(id string, hist []*content.Item) []Because {
	hv, ok := e.vectors.Vector(id)
	if !ok {
		return nil
	}
	var out []Because
	done := map[string]bool{}
	for _, it := range hist {
		if done[it.ID] || it.ID == id {
			continue
		}
		done[it.ID] = true
		sim, ok := e.vectors.Similarity(it.ID, hv)
		if !ok {
			continue
		}
		out = append(out, Because{ID: it.ID, Title: it.Title, Similarity: float64(sim)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Similarity > out[j].Similarity })
	return out[:min(len(out), e.opts.Because)]
}

// textCounter is a text index that keeps statistics of the catalogue's
// text itself, as a remote index scoring words as the embedded one does
// (weaviate.Text): the engine tells it of each item its catalogue takes
// (it) or drops (old), before the catalogue changes.
type textCounter interface {
	ItemChanged(old, it *content.Item) error
}

// ItemPut applies a durable item write to the live indexes: the catalog,
// the vector index (the item embedded by content, or by its trained id) and
// the text index. After it returns, the item is searchable. Its errors wrap
// the indexes' (index.ErrDimension, index.ErrZeroVector, text.ErrClosed,
// content.ErrInvalid, …); the catalog is changed only when both indexes
// took the item.
func (e *Engine) ItemPut(ctx context.Context, it content.Item) error {
	v := e.enc.ItemVector(it)
	if v == nil || isZero(v) {
		return fmt.Errorf("item %q: no vector", it.ID)
	}
	if w, ok := e.vectors.(ItemWriter); ok {
		if err := w.PutItem(ctx, it, v); err != nil {
			return fmt.Errorf("item %q: index: %w", it.ID, err)
		}
		if c, ok := e.text.(textCounter); ok {
			old, _ := e.cat.Item(it.ID)
			if err := c.ItemChanged(old, &it); err != nil {
				return fmt.Errorf("item %q: text statistics: %w", it.ID, err)
			}
		}
		e.cat.Put(it)
		return nil
	}
	if err := e.vectors.Upsert(it.ID, v); err != nil {
		return fmt.Errorf("item %q: vector index: %w", it.ID, err)
	}
	if e.text != nil {
		if err := e.text.Upsert(ctx, it); err != nil {
			return fmt.Errorf("item %q: text index: %w", it.ID, err)
		}
	}
	e.cat.Put(it)
	return nil
}

// ItemDeleted applies a durable delete to the live indexes. Deleting an
// item they do not hold is no error; the others are the text index's.
func (e *Engine) ItemDeleted(ctx context.Context, id string) error {
	if c, ok := e.text.(textCounter); ok {
		if old, ok := e.cat.Item(id); ok {
			if err := c.ItemChanged(old, nil); err != nil {
				return fmt.Errorf("delete item %q: text statistics: %w", id, err)
			}
		}
	}
	e.cat.Delete(id)
	if w, ok := e.vectors.(ItemWriter); ok {
		if err := w.DeleteItem(ctx, id); err != nil {
			return fmt.Errorf("delete item %q: index: %w", id, err)
		}
		return nil
	}
	var errs []error
	if err := e.vectors.Delete(id); err != nil && !errors.Is(err, index.ErrNotFound) {
		errs = append(errs, fmt.Errorf("vector index: %w", err))
	}
	if e.text != nil {
		if err := e.text.Delete(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("text index: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete item %q: %w", id, err)
	}
	return nil
}

// EventsAdded counts durable events towards popularity.
func (e *Engine) EventsAdded(evs []content.Event) {
	for _, ev := range evs {
		e.cat.AddPopularity(ev.ItemID, 1)
	}
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 && !math.IsNaN(float64(x)) {
			return false
		}
	}
	return true
}

// facets counts req's facets over the candidates: each value's items,
// the commonest req.FacetSize, most first, ties by value.
func (e *Engine) facets(cands []fused, req *Request) map[string][]FacetCount {
	if len(req.Facets) == 0 {
		return nil
	}
	counts := make([]map[string]int, len(req.Facets))
	for i := range counts {
		counts[i] = map[string]int{}
	}
	for _, c := range cands {
		it, ok := e.cat.Item(c.id)
		if !ok {
			continue
		}
		for i, f := range req.Facets {
			switch f {
			case FacetCategory:
				for _, v := range it.Categories {
					counts[i][v]++
				}
			case FacetTag:
				for _, v := range it.Tags {
					counts[i][v]++
				}
			default:
				if v, ok := it.Attributes[strings.TrimPrefix(f, FacetAttrPrefix)]; ok {
					counts[i][facetValue(v)]++
				}
			}
		}
	}
	out := make(map[string][]FacetCount, len(req.Facets))
	for i, f := range req.Facets {
		fc := make([]FacetCount, 0, len(counts[i]))
		for v, n := range counts[i] {
			fc = append(fc, FacetCount{v, n})
		}
		slices.SortFunc(fc, func(a, b FacetCount) int {
			if c := cmp.Compare(b.Count, a.Count); c != 0 {
				return c
			}
			return strings.Compare(a.Value, b.Value)
		})
		out[f] = fc[:min(len(fc), req.FacetSize)]
	}
	return out
}

// facetValue is an attribute's value as a facet names it: a string as it
// is, a number in its shortest form.
func facetValue(v content.Value) string {
	if v.IsNum {
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	}
	return v.Str
}
