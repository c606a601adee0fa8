package weaviate

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/vec"
)

// Conditional is a filter that also states its test as conditions a
// remote index can evaluate on its own side (the search engine's filters
// are). The conditions may accept more than Allow (exclusions, say, are
// left to it): hits are still checked with Allow.
type Conditional interface {
	index.Filter
	Conditions() text.Filter
}

// maxLimit bounds how many objects one near-vector query asks for while
// looking for k that pass a filter the collection cannot evaluate.
const maxLimit = 10_000

// lookupTimeout bounds the fetch of a vector the cache lacks (Vector and
// Similarity take no context).
const lookupTimeout = 5 * time.Second

// Index is a collection as the search engine's indexes: Vectors is its
// vector index, Text its text index; edits go through Vectors, which
// keeps an item's text and vector in one object.
type Index struct {
	col   *Collection
	dim   int
	cache vectorCache
	stats *text.Stats
}

// NewIndex returns the indexes over a collection of vectors of dimension
// dim. cacheSize bounds how many vectors it keeps for Vector and
// Similarity (default 100,000).
func NewIndex(col *Collection, dim, cacheSize int) *Index {
	if cacheSize <= 0 {
		cacheSize = 100_000
	}
	return &Index{col: col, dim: dim, cache: vectorCache{max: cacheSize, m: map[string][]float32{}}}
}

// ScoreWith has the text side rank the words it matches as the embedded
// index would over the same items, from s, the statistics of the
// collection's items: Weaviate finds the candidates (its best by BM25 in
// each field), s scores them (text.Stats). Without it Weaviate's own BM25
// ranks them. The engine keeps s in step with its catalogue's edits
// (Text.ItemChanged).
func (x *Index) ScoreWith(s *text.Stats) { x.stats = s }

// Vectors returns the vector side: it satisfies search.VectorIndex and
// search.ItemWriter.
func (x *Index) Vectors() *Vectors { return &Vectors{x} }

// Text returns the text side: it satisfies search.TextIndex.
func (x *Index) Text() *Text { return &Text{x} }

// Vectors is an Index seen as a vector index.
type Vectors struct{ x *Index }

// Dim returns the dimension of the vectors.
func (v *Vectors) Dim() int { return v.x.dim }

// Search returns up to k items filter accepts, nearest q, highest inner
// product first. The filter's conditions, when it states them
// (Conditional), are evaluated by Weaviate; Allow is applied to the hits,
// asking for more while too many fail it.
func (v *Vectors) Search(ctx context.Context, q []float32, k int, filter index.Filter) ([]index.Result, error) {
	if len(q) != v.x.dim {
		return nil, fmt.Errorf("%w: got %d, want %d", index.ErrDimension, len(q), v.x.dim)
	}
	u := append([]float32(nil), q...)
	if vec.Normalize(u) == 0 {
		return nil, index.ErrZeroVector
	}
	if l, ok := filter.(index.ListedFilter); ok && l.Len() <= index.DefaultExactCutoff {
		return v.scan(ctx, u, k, l)
	}
	var cond *text.Filter
	if c, ok := filter.(Conditional); ok {
		f := c.Conditions()
		cond = &f
	}
	limit := k
	if filter != nil {
		limit = k + k/2 + 16
	}
	for {
		hits, err := v.x.col.NearVector(ctx, u, limit, cond)
		if err != nil {
			return nil, err
		}
		out := make([]index.Result, 0, min(k, len(hits)))
		for _, h := range hits {
			v.x.cache.put(h.ID, h.Vector)
			if len(out) < k && (filter == nil || filter.Allow(h.ID)) {
				out = append(out, index.Result{ID: h.ID, Score: h.Score})
			}
		}
		if len(out) == k || len(hits) < limit || limit >= maxLimit {
			return out, nil
		}
		limit = min(limit*4, maxLimit)
	}
}

// scan scores the items a short listed filter passes directly, their
// vectors from the cache or else fetched at once: a near-vector search
// would have to step over the many items it rejects.
func (v *Vectors) scan(ctx context.Context, u []float32, k int, l index.ListedFilter) ([]index.Result, error) {
	vecs := map[string][]float32{}
	var missing []string
	for id := range l.Listed() {
		if w, ok := v.x.cache.get(id); ok {
			vecs[id] = w
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		got, err := v.x.col.Vectors(ctx, missing)
		if err != nil {
			return nil, err
		}
		for id, w := range got {
			v.x.cache.put(id, w)
			vecs[id] = w
		}
	}
	out := make([]index.Result, 0, len(vecs))
	for id, w := range vecs {
		if len(w) == len(u) {
			out = append(out, index.Result{ID: id, Score: vec.Dot(u, w)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].ID < out[j].ID
	})
	return out[:min(k, len(out))], nil
}

// Vector returns an item's stored vector, from the cache or else from
// the collection.
func (v *Vectors) Vector(id string) ([]float32, bool) {
	if u, ok := v.x.cache.get(id); ok {
		return u, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	got, err := v.x.col.Vectors(ctx, []string{id})
	if err != nil {
		return nil, false
	}
	u, ok := got[id]
	if ok {
		v.x.cache.put(id, u)
	}
	return u, ok
}

// Similarity is the inner product of an item's stored vector with q.
func (v *Vectors) Similarity(id string, q []float32) (float32, bool) {
	u, ok := v.Vector(id)
	if !ok || len(u) != len(q) {
		return 0, false
	}
	return vec.Dot(u, q), true
}

// Upsert is refused: an object holds the item's text too, which the
// engine writes with PutItem.
func (v *Vectors) Upsert(id string, _ []float32) error {
	return fmt.Errorf("%w: item %q: a Weaviate object is written whole (PutItem)", ErrRejected, id)
}

// Delete removes an item's object.
func (v *Vectors) Delete(id string) error {
	return v.DeleteItem(context.Background(), id)
}

// PutItem writes an item and its vector as one object, acknowledged by a
// quorum of replicas.
func (v *Vectors) PutItem(ctx context.Context, it content.Item, u []float32) error {
	if len(u) != v.x.dim {
		return fmt.Errorf("%w: got %d, want %d", index.ErrDimension, len(u), v.x.dim)
	}
	w := append([]float32(nil), u...)
	if vec.Normalize(w) == 0 {
		return index.ErrZeroVector
	}
	if err := v.x.col.Put(ctx, []Object{{Item: &it, Vector: w}}); err != nil {
		return err
	}
	v.x.cache.put(it.ID, w)
	return nil
}

// DeleteItem removes an item's object; one that is absent is no error.
func (v *Vectors) DeleteItem(ctx context.Context, id string) error {
	v.x.cache.drop(id)
	return v.x.col.Delete(ctx, id)
}

// Text is an Index seen as a text index.
type Text struct{ x *Index }

// candidatePool is the least number of objects Search asks for in each
// field when it ranks them itself: Weaviate's BM25 and the embedded
// index's order a field's matches differently (see text.Stats), so the
// embedded index's best are looked for deeper in Weaviate's.
const candidatePool = 100

// Search matches the query's words against titles (weighing double),
// descriptions and labels, with the query's filter. With statistics
// (ScoreWith) it reads and ranks them as the embedded index would over the
// same items: analysed, the vocabulary's stop words dropped and synonyms
// added, and with Prefix and Typos the last word completed and unknown
// words corrected from the statistics' dictionary. Without, words match
// whole (text.ReadQuery) and Weaviate's BM25 ranks. Blank text browses the
// filtered items in id order.
func (t *Text) Search(ctx context.Context, q text.Query) (text.Result, error) {
	if err := q.Validate(); err != nil {
		return text.Result{}, err
	}
	var hits []Hit
	var err error
	switch {
	case strings.TrimSpace(q.Text) == "":
		hits, err = t.x.col.Browse(ctx, q.K, q.Offset, &q.Filter)
	case t.x.stats != nil:
		hits, err = t.ranked(ctx, q)
	default:
		var h *text.Highlighter
		if h, err = text.ReadQuery(q); err != nil {
			return text.Result{}, err
		}
		var terms []string
		for _, term := range h.Reading().Terms {
			terms = append(terms, term.Term)
		}
		if hits, err = t.x.col.BM25(ctx, terms, q.K+q.Offset, &q.Filter); err == nil {
			hits = hits[min(q.Offset, len(hits)):]
		}
	}
	if err != nil {
		return text.Result{}, err
	}
	res := text.Result{Hits: make([]text.Hit, len(hits)), Total: uint64(q.Offset + len(hits))}
	for i, h := range hits {
		t.x.cache.put(h.ID, h.Vector)
		res.Hits[i] = text.Hit{ID: h.ID, Score: float64(h.Score)}
	}
	return res, nil
}

// ranked returns q's page of hits ranked by the statistics' scorer, with
// their vectors: the candidates come without them, and the page's are
// fetched at once rather than one by one when the engine asks.
func (t *Text) ranked(ctx context.Context, q text.Query) ([]Hit, error) {
	sc, err := t.x.stats.Scorer(q)
	if err != nil {
		return nil, err
	}
	hits, err := t.x.col.Matching(ctx, sc.Terms(), max(q.K+q.Offset, candidatePool), &q.Filter)
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(hits))
	for i := range hits {
		scores[i] = sc.Score(hits[i].Text)
	}
	order := make([]int, len(hits))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if scores[i] != scores[j] {
			return scores[i] > scores[j]
		}
		return hits[i].ID < hits[j].ID
	})
	page := order[min(q.Offset, len(order)):min(q.K+q.Offset, len(order))]
	out := make([]Hit, 0, len(page))
	var missing []string
	for _, i := range page {
		if scores[i] <= 0 {
			break // a candidate of another field's, holding no term here: none after it scores either
		}
		h := Hit{ID: hits[i].ID, Score: float32(scores[i])}
		if u, ok := t.x.cache.get(h.ID); ok {
			h.Vector = u
		} else {
			missing = append(missing, h.ID)
		}
		out = append(out, h)
	}
	if len(missing) > 0 {
		got, err := t.x.col.Vectors(ctx, missing)
		if err != nil {
			return nil, err
		}
		for i := range out {
			if out[i].Vector == nil {
				out[i].Vector = got[out[i].ID]
			}
		}
	}
	return out, nil
}

// Unfinished returns the items holding a word that the last word of q's
// text begins while it is typed, as text.Index.Unfinished does, read from
// the statistics' words (text.Stats.Beginning) and listed by Weaviate,
// their vectors kept for the search they narrow. ok is false where the
// embedded index's would be, and without statistics or in a collection
// published without the items' words.
func (t *Text) Unfinished(ctx context.Context, q text.Query, limit int) ([]string, bool, error) {
	if t.x.stats == nil || !t.x.col.hasProp(propWords) {
		return nil, false, nil
	}
	words, err := t.x.stats.Beginning(q, limit)
	if err != nil || len(words) == 0 {
		return nil, false, err
	}
	hits, err := t.x.col.Holding(ctx, words, limit)
	if err != nil {
		return nil, false, err
	}
	ids := make([]string, len(hits))
	for i, h := range hits {
		t.x.cache.put(h.ID, h.Vector)
		ids[i] = h.ID
	}
	return ids, len(ids) > 0, nil
}

// ItemChanged counts item it in place of old (either nil: an item added
// or deleted) in the statistics given to ScoreWith: the engine tells it
// of every item its catalogue takes or drops.
func (t *Text) ItemChanged(old, it *content.Item) error {
	if t.x.stats == nil {
		return nil
	}
	return t.x.stats.Replace(old, it)
}

// Highlighter returns the highlighter of q's words as Search reads them.
func (t *Text) Highlighter(_ context.Context, q text.Query) (*text.Highlighter, error) {
	if t.x.stats != nil {
		return t.x.stats.Highlighter(q)
	}
	return text.ReadQuery(q)
}

// Interpret returns q's text one term per word, words corrected and
// completed as Search reads them (text.Index.Interpret); without
// statistics, the text as it is.
func (t *Text) Interpret(_ context.Context, q text.Query) (string, error) {
	if t.x.stats != nil {
		return t.x.stats.Interpret(q)
	}
	return q.Text, nil
}

// Complete returns up to k of the items' words beginning with prefix, the
// commonest first (text.Index.Complete); none without statistics.
func (t *Text) Complete(_ context.Context, prefix string, k int) ([]string, error) {
	if t.x.stats == nil {
		return nil, nil
	}
	return t.x.stats.Complete(prefix, k)
}

// Upsert is refused: the engine writes objects whole through the vector
// side (PutItem).
func (t *Text) Upsert(_ context.Context, it content.Item) error {
	return fmt.Errorf("%w: item %q: a Weaviate object is written whole (PutItem)", ErrRejected, it.ID)
}

// Delete removes an item's object.
func (t *Text) Delete(ctx context.Context, id string) error {
	return (&Vectors{t.x}).DeleteItem(ctx, id)
}

// vectorCache keeps the vectors of items lately seen in answers, so that
// the engine's look-ups (a hit's similarity to the user, diversity,
// explanations) cost no round trip. When full it forgets an eighth of
// its entries, whichever the map gives first.
type vectorCache struct {
	max int
	mu  sync.RWMutex
	m   map[string][]float32
}

func (c *vectorCache) get(id string) ([]float32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[id]
	return v, ok
}

func (c *vectorCache) put(id string, v []float32) {
	if len(v) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= c.max {
		n := c.max / 8
		for k := range c.m {
			if n <= 0 {
				break
			}
			delete(c.m, k)
			n--
		}
	}
	c.m[id] = v
}

func (c *vectorCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
