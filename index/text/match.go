package text

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/duetrec/duet/internal/topk"
)

// Free text alone, the commonest query and the one hybrid search sends, is
// scored by matchTop straight from the postings rather than by running
// textRequest's query. Bleve turns every posting into a DocumentMatch that
// climbs two levels of disjunction searchers, a scorer at each level and a
// collector; on a catalogue where a common word matches a tenth of the
// items, that machinery costs several times the reading of the postings
// themselves. matchTop reads the same postings through the same index
// reader and computes Bleve's scores with Bleve's formulas, term by term
// and sum by sum in the same order, so that its hits, scores and total are
// those the query would give (the tests hold it to that). Filters and
// facets take Bleve's way.
//
// A term's postings are read once per index segment: decoded into arrays
// (documents, frequencies, norms, and the scores they give before the
// query's weight for the current idf), they are kept within a memory
// budget, and the walk over them is a merge of plain arrays. An edit adds
// a small segment and marks documents of the others deleted: the lists of
// the others stay, their scores are recomputed once for the new idf.

// plainMatch reports whether q asks for nothing but free text.
func plainMatch(q *Query) bool {
	return q.Filter.empty() && q.FacetSize == 0 && strings.TrimSpace(q.Text) != ""
}

// errNotScorch means the index reader is not the kind matchTop knows how to
// read; the query goes to Bleve instead.
var errNotScorch = errors.New("index reader is not scorch's")

// noDoc is the document number of an exhausted posting list.
const noDoc = math.MaxUint64

// defaultPostingsCache is the default of Options.PostingsCache: a
// generated catalogue of 100,000 items holds about 40 MB of postings in
// the fields free text is matched against.
const defaultPostingsCache = 64 << 20

// segList is one term's postings in one field of one index segment, as
// the segment holds them, deletions not applied. A segment never changes
// (edits add segments and mark documents of old ones deleted; merges
// replace segments with new ones), so its lists stay true for as long as
// any index snapshot holds it.
type segList struct {
	docs  []uint32 // document numbers in the segment, increasing
	freqs []uint32
	norms []float32 // Bleve's norms are float32s widened
	// scores holds the postings' scores before the query's weight for
	// the idf and average field length last asked for: those change
	// with every edit, the postings do not.
	scores atomic.Pointer[segScores]
	// live is the count of postings a deletion set leaves, for the set
	// last asked about: a snapshot's sets never change, and counting
	// takes a search per deleted document.
	live atomic.Pointer[segLive]
}

type segLive struct {
	deleted *roaring.Bitmap
	n       uint64
}

// liveCount is how many of the list's documents deleted does not hold:
// the count of documents with the term that Bleve's reader gives for the
// segment.
func (l *segList) liveCount(deleted *roaring.Bitmap) uint64 {
	if c := l.live.Load(); c != nil && c.deleted == deleted {
		return c.n
	}
	n := liveCount(l.docs, deleted)
	l.live.Store(&segLive{deleted, n})
	return n
}

// segScores are a segList's scores for one idf and average length.
type segScores struct {
	idf, avgLen float64
	s           []float64
	best        float64
}

func (l *segList) size() int { return 96 + 20*len(l.docs) }

// scored returns the list's scores for idf and avgLen, computing them
// when the last ones were for others.
func (l *segList) scored(idf, avgLen float64) *segScores {
	if sc := l.scores.Load(); sc != nil && sc.idf == idf && sc.avgLen == avgLen {
		return sc
	}
	sc := &segScores{idf: idf, avgLen: avgLen, s: make([]float64, len(l.docs))}
	for i := range l.docs {
		sc.s[i] = postingScore(uint64(l.freqs[i]), float64(l.norms[i]), idf, avgLen)
		sc.best = max(sc.best, sc.s[i])
	}
	l.scores.Store(sc)
	return sc
}

// segKey names a term in a field of a segment.
type segKey struct {
	seg         uint64
	field, term string
}

// docKey names a document of a segment: the segment's id in the high
// half, the document's number in it in the low. One word hashes several
// times faster than a struct, and a request may look up thousands.
// Scorch numbers segments in order as it makes them, so an id past 32
// bits would take billions of them; such a segment's ids are not cached.
type docKey uint64

func docKeyOf(seg uint64, doc uint32) (docKey, bool) {
	return docKey(seg<<32 | uint64(doc)), seg <= math.MaxUint32
}

// postingsCache keeps the posting lists read lately, by segment, and the
// external ids of the documents found lately, which Bleve reads from each
// document's stored fields. Lists are forgotten oldest first beyond the
// budget; ids all at once when they would pass a quarter of it.
type postingsCache struct {
	reads atomic.Int64 // lists read from segments: the misses

	mu     sync.Mutex
	lists  map[segKey]*segList
	order  []segKey // in the order they were added, to evict the oldest
	bytes  int
	budget int
	ids    map[docKey]string
}

// idBytes is what the cache counts for an entry of ids.
const idBytes = 64

func (c *postingsCache) get(key segKey) *segList {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lists[key]
}

// put keeps l as the list of key, forgetting the oldest lists beyond the
// budget.
func (c *postingsCache) put(key segKey, l *segList) {
	if l.size() > c.budget/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lists == nil {
		c.lists = map[segKey]*segList{}
	}
	if _, ok := c.lists[key]; ok {
		return
	}
	for c.bytes+l.size() > c.budget && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.bytes -= c.lists[old].size()
		delete(c.lists, old)
	}
	c.lists[key] = l
	c.order = append(c.order, key)
	c.bytes += l.size()
}

// reset forgets everything.
func (c *postingsCache) reset() {
	c.mu.Lock()
	c.lists, c.order, c.bytes, c.ids = nil, nil, 0, nil
	c.mu.Unlock()
}

// externalIDs sets ids[i] to the external id of docs[i], read from its
// segment, through the cache where it can.
func (c *postingsCache) externalIDs(segs []*scorch.SegmentSnapshot, docs []matchHit, ids []string) error {
	var miss []int
	c.mu.Lock()
	for i, d := range docs {
		seg, local := hitDoc(d)
		key, ok := docKeyOf(segs[seg].Id(), local)
		if id, found := c.ids[key]; ok && found {
			ids[i] = id
		} else {
			miss = append(miss, i)
		}
	}
	c.mu.Unlock()
	if len(miss) == 0 {
		return nil
	}
	for _, i := range miss {
		seg, local := hitDoc(docs[i])
		id, err := segs[seg].DocID(uint64(local))
		if err != nil {
			return err
		}
		ids[i] = string(id)
	}
	if c.budget == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids == nil || (len(c.ids)+len(miss))*idBytes > c.budget/4 {
		c.ids = map[docKey]string{}
	}
	for _, i := range miss {
		seg, local := hitDoc(docs[i])
		if key, ok := docKeyOf(segs[seg].Id(), local); ok {
			c.ids[key] = ids[i]
		}
	}
	return nil
}

// postingScore is a posting's score before the query's weight, as Bleve's
// TermQueryScorer computes it: BM25 when the field has an average length,
// tf-idf otherwise.
func postingScore(freq uint64, norm, idf, avgLen float64) float64 {
	tf := math.Sqrt(float64(freq))
	if avgLen > 0 {
		fieldLength := 1 / (norm * norm)
		return idf * (tf * search.BM25_k1) /
			(tf + search.BM25_k1*(1-search.BM25_b+(search.BM25_b*fieldLength/avgLen)))
	}
	return tf * norm * idf
}

// termIDF is Bleve's inverse document frequency: BM25's when the field has
// an average length, tf-idf's otherwise.
func termIDF(avgLen float64, docs, withTerm uint64) float64 {
	if avgLen > 0 {
		return math.Log(1 + (float64(docs)-float64(withTerm)+0.5)/(float64(withTerm)+0.5))
	}
	return 1.0 + math.Log(float64(docs)/float64(withTerm+1.0))
}

// segPostings returns the list of term in field as segment ss holds it,
// from the cache or read and then cached.
func (t *Index) segPostings(ctx context.Context, ss *scorch.SegmentSnapshot, field string, term []byte) (*segList, error) {
	key := segKey{ss.Id(), field, string(term)}
	if l := t.cache.get(key); l != nil {
		return l, nil
	}
	t.cache.reads.Add(1)
	dict, err := ss.Segment().Dictionary(field)
	if err != nil {
		return nil, err
	}
	pl, err := dict.PostingsList(term, nil, nil)
	if err != nil {
		return nil, err
	}
	n := pl.Count()
	l := &segList{docs: make([]uint32, 0, n), freqs: make([]uint32, 0, n), norms: make([]float32, 0, n)}
	it := pl.Iterator(true, true, false, nil)
	for k := 1; ; k++ {
		if k%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		p, err := it.Next()
		if err != nil {
			return nil, err
		}
		if p == nil {
			break
		}
		if p.Number() > math.MaxUint32 || p.Frequency() > math.MaxUint32 {
			return nil, errNotScorch
		}
		l.docs = append(l.docs, uint32(p.Number()))
		l.freqs = append(l.freqs, uint32(p.Frequency()))
		l.norms = append(l.norms, float32(p.Norm()))
	}
	t.cache.put(key, l)
	return l, nil
}

// liveCount is how many of docs deleted does not hold.
func liveCount(docs []uint32, deleted *roaring.Bitmap) uint64 {
	n := uint64(len(docs))
	if deleted == nil || deleted.IsEmpty() || len(docs) == 0 {
		return n
	}
	it := deleted.Iterator()
	it.AdvanceIfNeeded(docs[0])
	for it.HasNext() {
		d := it.Next()
		if d > docs[len(docs)-1] {
			break
		}
		if _, found := slices.BinarySearch(docs, d); found {
			n--
		}
	}
	return n
}

// matchLeaf is one term in one field: a term searcher of textRequest's
// query, walking its posting list in one segment at a time.
type matchLeaf struct {
	lists  []*segList // by segment
	count  uint64     // live documents with the term, in all segments
	idf    float64
	avgLen float64
	boost  float64 // the field's
	weight float64 // boost · idf · query norm
	best   float64 // the highest score before weight, in all segments

	// The walk in the current segment.
	docs   []uint32
	scores []float64
	pos    int
	doc    uint64 // docs[pos]; noDoc past the end
}

// enter starts the walk in segment i.
func (l *matchLeaf) enter(i int) {
	l.docs, l.scores, l.pos = l.lists[i].docs, l.lists[i].scored(l.idf, l.avgLen).s, 0
	l.settle()
}

// seek moves to the first posting at or after doc, galloping: the next
// document proposed is usually near.
func (l *matchLeaf) seek(doc uint64) {
	docs := l.docs
	lo, step := l.pos, 1
	for lo+step < len(docs) && uint64(docs[lo+step]) < doc {
		lo += step
		step *= 2
	}
	hi := min(lo+step, len(docs))
	l.pos = lo + sort.Search(hi-lo, func(i int) bool { return uint64(docs[lo+i]) >= doc })
	l.settle()
}

// settle sets doc from pos.
func (l *matchLeaf) settle() {
	if l.pos < len(l.docs) {
		l.doc = uint64(l.docs[l.pos])
	} else {
		l.doc = noDoc
	}
}

// reader opens a reader of the index as it is now.
func (t *Index) reader() (bindex.IndexReader, error) {
	adv, err := t.idx.Advanced()
	if err != nil {
		return nil, err
	}
	return adv.Reader()
}

// matchIn answers a plainMatch query on the index as r sees it, as
// textRequest's would be answered: a disjunction over matchFields of one
// disjunction per field over the query's terms (queryTerms), each scored
// at its weight. ok is false when the query is left to Bleve: an index
// reader of another kind.
//
// Up to searcher.DisjunctionHeapTakeover terms Bleve sums a field's term
// scores in the order matchIn does, and the scores are Bleve's to the
// bit. Beyond, Bleve keeps the terms in a heap and sums in the heap's
// order; matchIn keeps its own, so a score may differ from Bleve's in its
// last bits and two hits whose scores tie within that may swap. Such
// queries are the long ones (recommendations by the words of a user's
// latest items send a few dozen terms), where MaxScore pays most.
func (t *Index) matchIn(ctx context.Context, r bindex.IndexReader, q *Query, terms []queryTerm) (res Result, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return Result{}, false, err
	}
	nt := len(terms)
	if nt == 0 {
		// Stop words only: every field's query matches nothing.
		return Result{Hits: []Hit{}}, true, nil
	}
	snap, isScorch := r.(*scorch.IndexSnapshot)
	if !isScorch {
		return Result{}, false, nil
	}
	docs, err := snap.DocCount()
	if err != nil || docs == 0 {
		return Result{Hits: []Hit{}}, err == nil, err
	}
	segs := snap.Segments()

	type field struct {
		leaves []matchLeaf
		count  uint64
	}
	leaves := make([]matchLeaf, 0, len(matchFields)*nt)
	fields := make([]field, len(matchFields))
	for i, f := range matchFields {
		card, err := snap.FieldCardinality(f.name)
		if err != nil {
			return Result{}, false, err
		}
		avg := math.Ceil(float64(card) / float64(docs))
		for _, qt := range terms {
			l := matchLeaf{lists: make([]*segList, len(segs)), boost: f.boost * qt.weight, avgLen: avg}
			for k, ss := range segs {
				sl, err := t.segPostings(ctx, ss, f.name, []byte(qt.term))
				if err != nil {
					return Result{}, false, notScorch(err)
				}
				l.lists[k] = sl
				l.count += sl.liveCount(ss.Deleted())
			}
			l.idf = termIDF(avg, docs, l.count)
			leaves = append(leaves, l)
			fields[i].count += l.count
		}
		fields[i].leaves = leaves[i*nt : (i+1)*nt]
	}
	// A disjunction searcher of at most DisjunctionHeapTakeover children
	// orders them by their counts of postings, fewest first, and sums
	// weights and scores in that order; it sorts them by insertion, so
	// stably.
	ordered := make([]matchLeaf, 0, len(leaves))
	slices.SortStableFunc(fields, func(a, b field) int { return cmp.Compare(a.count, b.count) })
	for _, f := range fields {
		slices.SortStableFunc(f.leaves, func(a, b matchLeaf) int { return cmp.Compare(a.count, b.count) })
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
		for _, sl := range l.lists {
			l.best = max(l.best, sl.scored(l.idf, l.avgLen).best)
		}
	}

	// With SkipTotal the walk is MaxScore's (Turtle and Flood): once the
	// page is full, a document whose postings all lie in the leaves of
	// lowest bound (the non-essential ones) cannot score above the page's
	// worst hit, so only the other leaves propose documents, and the
	// non-essential ones are advanced to each proposal to score it whole.
	// Their bound grows with the page's worst score as the walk goes.
	// Segments are walked in order, which is Bleve's document order.
	var top topk.KeyHeap[float64, uint64]
	top.Use(q.K+q.Offset, make([]matchHit, 0, min(q.K+q.Offset, 256)))
	var prune *matchPrune
	if q.SkipTotal {
		prune = newMatchPrune(leaves, nt)
	}
	var total uint64
	for si, ss := range segs {
		deleted := ss.Deleted()
		if deleted != nil && deleted.IsEmpty() {
			deleted = nil
		}
		for i := range leaves {
			leaves[i].enter(si)
		}
		for {
			doc := uint64(noDoc)
			for i := range leaves {
				if prune == nil || prune.essential[i] {
					doc = min(doc, leaves[i].doc)
				}
			}
			if doc == noDoc {
				break
			}
			if deleted != nil && deleted.Contains(uint32(doc)) {
				for i := range leaves {
					if l := &leaves[i]; l.doc == doc {
						l.pos++
						l.settle()
					}
				}
				continue
			}
			if total++; total%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return Result{}, false, err
				}
			}
			if prune != nil {
				for _, i := range prune.order[:prune.skipped] {
					if l := &leaves[i]; l.doc < doc {
						l.seek(doc)
					}
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
					fieldSum += l.scores[l.pos] * l.weight
					terms++
					l.pos++
					l.settle()
				}
				if terms > 0 {
					sum += fieldSum * (float64(terms) / float64(nt))
					matched++
				}
			}
			// Most documents do not make a full page: turn them away
			// before the call.
			hit := matchHit{Key: uint64(si)<<32 | uint64(uint32(doc)), Score: sum * (float64(matched) / float64(len(matchFields)))}
			if (!top.Full() || hit.Better(top.Worst())) && top.Push(hit) && prune != nil && top.Full() {
				prune.raise(top.Worst().Score)
			}
		}
	}

	hits := top.Sorted()
	hits = hits[min(q.Offset, len(hits)):]
	res = Result{Total: total, Hits: make([]Hit, len(hits))}
	for i, h := range hits {
		res.Hits[i].Score = h.Score
	}
	ids := make([]string, len(hits))
	if err := t.cache.externalIDs(segs, hits, ids); err != nil {
		return Result{}, false, err
	}
	for i, id := range ids {
		res.Hits[i].ID = id
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

// matchPrune is the state of a MaxScore walk over a query's leaves.
type matchPrune struct {
	// order lists the leaves by increasing bound; the first skipped of
	// them are non-essential.
	order   []int
	skipped int
	// bounds[p] bounds the score of a document found in no leaves but
	// order[:p]: their bounds summed and weighted by the coordination
	// factors they would earn together, which only grow with p.
	bounds    []float64
	essential []bool
}

// newMatchPrune prepares the walk over leaves, nt to a field, in the
// order matchIn scores them.
func newMatchPrune(leaves []matchLeaf, nt int) *matchPrune {
	p := &matchPrune{
		order:     make([]int, len(leaves)),
		bounds:    make([]float64, len(leaves)+1),
		essential: make([]bool, len(leaves)),
	}
	ub := make([]float64, len(leaves))
	for i := range leaves {
		p.order[i] = i
		ub[i] = leaves[i].best * leaves[i].weight
		p.essential[i] = true
	}
	slices.SortStableFunc(p.order, func(a, b int) int { return cmp.Compare(ub[a], ub[b]) })
	sums := make([]float64, len(matchFields))
	counts := make([]int, len(matchFields))
	for k, i := range p.order {
		f := i / nt
		sums[f] += ub[i]
		counts[f]++
		var b float64
		matched := 0
		for f := range sums {
			if counts[f] > 0 {
				b += sums[f] * (float64(counts[f]) / float64(nt))
				matched++
			}
		}
		p.bounds[k+1] = b * (float64(matched) / float64(len(matchFields)))
	}
	return p
}

// raise makes non-essential every further leaf whose documents can no
// longer beat worst, the page's lowest score. A document scoring the same
// as worst loses too, coming later in document order; the margin keeps
// rounding, the bounds being summed in another order than the scores,
// from ever dropping one that would tie.
func (p *matchPrune) raise(worst float64) {
	for p.skipped < len(p.order) && p.bounds[p.skipped+1]*(1+1e-9) < worst {
		p.essential[p.order[p.skipped]] = false
		p.skipped++
	}
}

// matchHit is a scored document: the local'th of the seg'th segment, with
// seg in the key's high 32 bits and local in its low ones. Its order is
// Bleve's, score first and then the earlier document (segments number
// their documents in order).
type matchHit = topk.Keyed[float64, uint64]

// hitDoc returns the segment and the local number of h's document.
func hitDoc(h matchHit) (seg int, local uint32) { return int(h.Key >> 32), uint32(h.Key) }
