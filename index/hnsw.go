package index

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/internal/vec"
)

// HNSWOptions configures an HNSW index. Zero fields take the defaults.
type HNSWOptions struct {
	// M is the number of neighbours a node keeps on the upper layers; layer
	// 0 keeps 2·M. Default 16.
	M int
	// EfConstruction is the width of the search that finds a new node's
	// neighbours. Default 200.
	EfConstruction int
	// EfSearch is the default width of a query's search of layer 0; it can
	// be changed with SetEfSearch or per query with SearchEf. Default 64.
	EfSearch int
	// ExactCutoff is the number of allowed items at or below which a
	// filtered search scores the allowed items directly. Default
	// DefaultExactCutoff; a negative value always walks the graph.
	ExactCutoff int
	// Seed drives the level generator, so that the same adds in the same
	// order build the same graph.
	Seed uint64
	// DropPruned turns off keepPrunedConnections: by default a node whose
	// heuristic selection leaves free slots fills them with the nearest
	// candidates the heuristic rejected.
	DropPruned bool
	// FloatWalk makes searches walk the graph on the float32 vectors.
	// By default, where the build has a fast kernel for it
	// (vec.FastInt8), they walk it on int8 codes of them
	// (vec.QuantizeInt8, a quarter of the bytes, which on a large index
	// keeps far more of the walk in cache) and re-score the ef nodes found
	// on those codes and a second row of int8 codes of what the first
	// leave (vec.QuantizeInt8Pair: within a few millionths of the float32
	// inner product) before taking the best k. The codes cost 2·dim+8
	// bytes a vector and are made as vectors are added or loaded. Adds
	// walk the same way and choose their links on the re-scored
	// candidates and the float32 vectors; searches never read those,
	// so that a loaded index leaves them in its file (hnsw_map.go).
	FloatWalk bool
}

func (o HNSWOptions) withDefaults() HNSWOptions {
	if o.M <= 0 {
		o.M = 16
	}
	if o.EfConstruction <= 0 {
		o.EfConstruction = 200
	}
	if o.EfSearch <= 0 {
		o.EfSearch = 64
	}
	if o.ExactCutoff == 0 {
		o.ExactCutoff = DefaultExactCutoff
	}
	return o
}

// maxM bounds M so that neighbour counts fit the format's byte and a corrupt
// header cannot ask for absurd lists.
const maxM = 127

// maxLevel bounds a node's level; with M ≥ 2 a level beyond it has
// probability below 2⁻³⁰ per node.
const maxLevel = 30

// HNSW is a Vector index on a hierarchical navigable small-world graph
// (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
// search using Hierarchical Navigable Small World graphs", 2016), with the
// heuristic neighbour selection of the paper's algorithm 4.
//
// Storage is flat: the vectors in one []float32 (and, for searches, two
// rows of int8 codes a vector in two []int8 with a scale each), layer-0 neighbour
// lists in one []int32 of fixed-size slots, upper-layer lists in one small
// []int32 per node that has them. Neighbour lists are guarded by striped
// locks, so searches run concurrently with each other and with Add, Upsert
// and Delete; only growing the arrays and Delete take the index
// exclusively, briefly.
//
// Delete leaves a tombstone: the node stays in the graph as a stepping stone
// but is never returned. Upsert is a tombstone plus an Add. Rebuild returns
// a compacted copy without the tombstones.
type HNSW struct {
	opts HNSWOptions
	dim  int
	m0   int // layer-0 list capacity
	// coarse is set when searches walk the int8 codes: unless FloatWalk,
	// where vec.FastInt8.
	coarse bool
	ml     float64
	ef     atomic.Int64 // default EfSearch

	// wmu is held shared by every write and exclusively by Save and
	// Rebuild, so that they see a graph no add is halfway through while
	// searches carry on.
	wmu sync.RWMutex

	// mu guards the array headers and the maps: taken exclusively to grow
	// them and for Delete, shared by searches and by the linking phase of
	// an add.
	mu     sync.RWMutex
	vecs   []float32
	codes  []int8    // int8 copy of vecs for the walk; nil unless coarse
	scales []float32 // scale of each node's codes
	fine   []int8    // int8 codes of what codes leave of vecs, for re-scoring
	fines  []float32 // scale of each node's fine codes
	levels []uint8
	links0 []int32   // node i's layer-0 slot at i*(1+m0): count, neighbours
	upper  [][]int32 // node i's layers 1..levels[i], each a 1+M slot; nil at level 0
	ids    []string
	pos    map[string]int32 // live ids only
	dead   []bool
	nDead  int
	rng    *rand.Rand

	// epMu serialises changes of the entry point; searches read it from
	// top without locking.
	epMu sync.Mutex
	top  atomic.Uint64 // entry<<8 | level, or emptyTop

	stripes [stripeCount]sync.Mutex
	pool    sync.Pool
	stats   filterCounters

	// maps are the file mappings a load made, for Close (hnsw_map.go).
	maps [][]byte
}

const (
	stripeCount = 1024
	emptyTop    = math.MaxUint64
)

var _ Vector = (*HNSW)(nil)

// NewHNSW returns an empty HNSW index for vectors of dimension dim.
func NewHNSW(dim int, opts HNSWOptions) (*HNSW, error) {
	if err := checkDim(dim); err != nil {
		return nil, fmt.Errorf("new hnsw index: %w", err)
	}
	opts = opts.withDefaults()
	if opts.M < 2 || opts.M > maxM {
		return nil, fmt.Errorf("new hnsw index: M %d out of range [2, %d]", opts.M, maxM)
	}
	return newHNSW(dim, opts, 0), nil
}

func newHNSW(dim int, opts HNSWOptions, n int) *HNSW {
	h := &HNSW{
		opts:   opts,
		dim:    dim,
		m0:     2 * opts.M,
		coarse: !opts.FloatWalk && vec.FastInt8(dim),
		ml:     1 / math.Log(float64(opts.M)),
		// n may come from an untrusted header: the hint is capped.
		pos: make(map[string]int32, min(n, 1<<16)),
		// The stream depends on the node count too, so that adds after a
		// Load continue deterministically instead of repeating the levels
		// of the first nodes.
		rng: rand.New(rand.NewPCG(opts.Seed, uint64(n))),
	}
	h.ef.Store(int64(opts.EfSearch))
	h.top.Store(emptyTop)
	h.pool.New = func() any { return new(searcher) }
	return h
}

// Dim returns the dimension of the vectors.
func (h *HNSW) Dim() int { return h.dim }

// Len returns the number of live items.
func (h *HNSW) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.pos)
}

// Tombstones returns the number of deleted nodes still in the graph.
func (h *HNSW) Tombstones() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.nDead
}

// Options returns the options the index was built with; EfSearch is the
// current default.
func (h *HNSW) Options() HNSWOptions {
	o := h.opts
	o.EfSearch = int(h.ef.Load())
	return o
}

// SetEfSearch sets the default search width; ef ≤ 0 restores the option's.
func (h *HNSW) SetEfSearch(ef int) {
	if ef <= 0 {
		ef = h.opts.EfSearch
	}
	h.ef.Store(int64(ef))
}

// Add inserts a unit-length copy of v under id. It is safe to call from
// several goroutines at once: building with one per core is the fast way
// to fill a large index.
func (h *HNSW) Add(id string, v []float32) error {
	if err := h.add(id, v, false); err != nil {
		return fmt.Errorf("add %q: %w", id, err)
	}
	return nil
}

// Upsert inserts v under id, tombstoning the node that held id before.
func (h *HNSW) Upsert(id string, v []float32) error {
	if err := h.add(id, v, true); err != nil {
		return fmt.Errorf("upsert %q: %w", id, err)
	}
	return nil
}

// Delete tombstones id: it is no longer returned or counted, but its node
// keeps serving as a path between its neighbours until Rebuild.
func (h *HNSW) Delete(id string) error {
	h.wmu.RLock()
	defer h.wmu.RUnlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	i, ok := h.pos[id]
	if !ok {
		return fmt.Errorf("delete %q: %w", id, ErrNotFound)
	}
	h.kill(i)
	return nil
}

// Vector returns a copy of the unit vector stored under id.
func (h *HNSW) Vector(id string) ([]float32, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	i, ok := h.pos[id]
	if !ok {
		return nil, false
	}
	return append([]float32(nil), h.vec(i)...), true
}

// Has reports whether id is in the index, without touching its vector.
func (h *HNSW) Has(id string) bool {
	h.mu.RLock()
	_, ok := h.pos[id]
	h.mu.RUnlock()
	return ok
}

// Similarity returns the inner product of id's stored unit vector with v,
// without copying the stored vector; false when id is not in the index or
// v has the wrong dimension. Where searches run on the codes, so does
// Similarity, as they re-score: a ranker asking it about hits a search
// missed gets scores of the same precision, and a loaded index's vectors
// stay in its file.
func (h *HNSW) Similarity(id string, v []float32) (float32, bool) {
	if len(v) != h.dim {
		return 0, false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	i, ok := h.pos[id]
	if !ok {
		return 0, false
	}
	if !h.coarse {
		return vec.Dot(h.vec(i), v), true
	}
	s := h.getSearcher()
	defer h.pool.Put(s)
	s.code(v)
	s.nbuf = append(s.nbuf[:0], i)
	h.rescore(s, v)
	return s.dots[0], true
}

func (h *HNSW) kill(i int32) {
	h.dead[i] = true
	h.nDead++
	delete(h.pos, h.ids[i])
}

func (h *HNSW) add(id string, v []float32, replace bool) error {
	u, err := normalized(v, h.dim)
	if err != nil {
		return err
	}
	h.wmu.RLock()
	defer h.wmu.RUnlock()

	h.mu.Lock()
	q, level, err := h.appendNode(id, u, replace)
	h.mu.Unlock()
	if err != nil {
		return err
	}

	// The node is in the arrays but nothing links to it yet; linking needs
	// only the shared lock, so searches and other adds proceed meanwhile.
	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.getSearcher()
	defer h.pool.Put(s)
	h.link(s, q, level)
	return nil
}

// appendNode puts unit vector u under id in the arrays, unlinked, and
// returns its node and level; h.mu is held for writing.
func (h *HNSW) appendNode(id string, u []float32, replace bool) (int32, int, error) {
	if len(h.ids) >= maxItems {
		return 0, 0, fmt.Errorf("index full (%d nodes)", len(h.ids))
	}
	if old, ok := h.pos[id]; ok {
		if !replace {
			return 0, 0, ErrExists
		}
		h.kill(old)
	}
	q := int32(len(h.ids))
	level := h.randomLevel()
	h.ids = append(h.ids, id)
	h.pos[id] = q
	h.vecs = append(growHuge(h.vecs, h.dim), u...)
	if h.coarse {
		h.codes = growHuge(h.codes, h.dim)[:len(h.codes)+h.dim]
		h.fine = growHuge(h.fine, h.dim)[:len(h.fine)+h.dim]
		cs, fs := vec.QuantizeInt8Pair(h.codes[len(h.codes)-h.dim:], h.fine[len(h.fine)-h.dim:], u)
		h.scales, h.fines = append(h.scales, cs), append(h.fines, fs)
	}
	h.levels = append(h.levels, uint8(level))
	h.dead = append(h.dead, false)
	h.links0 = growHuge(h.links0, 1+h.m0)[:len(h.links0)+1+h.m0]
	var up []int32
	if level > 0 {
		up = make([]int32, level*(1+h.opts.M))
	}
	h.upper = append(h.upper, up)
	return q, level, nil
}

// UpsertAll upserts ids[i] → vecs[i*Dim():(i+1)*Dim()] for every i, as
// Upsert would one at a time, with workers goroutines (0: one a core)
// linking the nodes. Concurrent Upserts serialise: each takes the arrays'
// write lock, which waits for every link under way. UpsertAll takes it
// once a batch and links the batch's nodes side by side, each against the
// graph as it stood before the batch; batches are small beside the graph
// (at most a sixty-fourth of it), so that the first nodes still find each
// other. A graph built so depends on the schedule, as any concurrent
// build's does.
func (h *HNSW) UpsertAll(ctx context.Context, ids []string, vecs []float32, workers int) error {
	if len(vecs) != len(ids)*h.dim {
		return fmt.Errorf("upsert all: %d ids and %d floats, want %d a vector: %w", len(ids), len(vecs), h.dim, ErrDimension)
	}
	// Every vector is checked before any is added; each is normalised
	// again as it is added, rather than held in a normalised copy of all
	// of them.
	unit := make([]float32, h.dim)
	for i := range ids {
		if err := normalizeInto(unit, vecs[i*h.dim:(i+1)*h.dim], h.dim); err != nil {
			return fmt.Errorf("upsert %q: %w", ids[i], err)
		}
	}
	h.wmu.RLock()
	defer h.wmu.RUnlock()
	qs := make([]int32, 0, maxLinkBatch)
	levels := make([]int, 0, maxLinkBatch)
	for lo := 0; lo < len(ids); {
		if err := ctx.Err(); err != nil {
			return err
		}
		h.mu.Lock()
		n := min(len(ids)-lo, max(1, len(h.ids)/64), maxLinkBatch)
		qs, levels = qs[:0], levels[:0]
		for i := lo; i < lo+n; i++ {
			normalizeInto(unit, vecs[i*h.dim:(i+1)*h.dim], h.dim) // checked above
			q, level, err := h.appendNode(ids[i], unit, true)
			if err != nil {
				h.mu.Unlock()
				return fmt.Errorf("upsert %q: %w", ids[i], err)
			}
			qs, levels = append(qs, q), append(levels, level)
		}
		h.mu.Unlock()
		h.mu.RLock()
		err := parallel.For(context.WithoutCancel(ctx), n, workers, func(_, i int) error {
			s := h.getSearcher()
			defer h.pool.Put(s)
			h.link(s, qs[i], levels[i])
			return nil
		})
		h.mu.RUnlock()
		if err != nil {
			return err
		}
		lo += n
	}
	return nil
}

// Grow makes room for n more nodes, so that the next n adds do not grow
// the graph's arrays again: a build that knows its size grows them once,
// where growing them a quarter at a time held the old arrays beside the
// new ones and left them to the collector. On a graph loaded from a
// file, arrays without the room are copied from the mapping into memory,
// as the first add past their room would copy them.
func (h *HNSW) Grow(n int) {
	h.wmu.RLock()
	defer h.wmu.RUnlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if n = min(n, maxItems-len(h.ids)); n <= 0 {
		return
	}
	h.vecs = growHuge(h.vecs, n*h.dim)
	if h.coarse {
		h.codes = growHuge(h.codes, n*h.dim)
		h.fine = growHuge(h.fine, n*h.dim)
		h.scales = slices.Grow(h.scales, n)
		h.fines = slices.Grow(h.fines, n)
	}
	h.links0 = growHuge(h.links0, n*(1+h.m0))
	h.ids = slices.Grow(h.ids, n)
	h.levels = slices.Grow(h.levels, n)
	h.dead = slices.Grow(h.dead, n)
	h.upper = slices.Grow(h.upper, n)
	if len(h.pos) == 0 {
		h.pos = make(map[string]int32, n)
	}
}

// maxLinkBatch bounds the nodes UpsertAll links side by side.
const maxLinkBatch = 64

// encodeAll derives both rows of codes of every vector, for a graph that
// was loaded rather than added to.
func (h *HNSW) encodeAll() {
	if !h.coarse {
		return
	}
	h.codes, h.scales, h.fine, h.fines = encodePairs(h.vecs, h.dim)
}

// encodePairs returns both rows of codes of the vectors in vecs, and their
// scales (vec.QuantizeInt8Pair).
func encodePairs(vecs []float32, dim int) (codes []int8, scales []float32, fine []int8, fines []float32) {
	codes, fine = makeHuge[int8](len(vecs)), makeHuge[int8](len(vecs))
	scales, fines = make([]float32, len(vecs)/dim), make([]float32, len(vecs)/dim)
	for i := range scales {
		o := i * dim
		scales[i], fines[i] = vec.QuantizeInt8Pair(codes[o:o+dim], fine[o:o+dim], vecs[o:o+dim])
	}
	return codes, scales, fine, fines
}

func (h *HNSW) randomLevel() int {
	// 1-Float64 is in (0, 1], so the logarithm is finite.
	l := int(-math.Log(1-h.rng.Float64()) * h.ml)
	return min(l, maxLevel)
}

func (h *HNSW) vec(i int32) []float32 {
	o := int(i) * h.dim
	return h.vecs[o : o+h.dim : o+h.dim]
}

// slot returns node i's neighbour slot on level l: a count followed by
// capacity entries. The caller holds i's stripe lock.
func (h *HNSW) slot(i int32, l int) []int32 {
	if l == 0 {
		o := int(i) * (1 + h.m0)
		return h.links0[o : o+1+h.m0]
	}
	o := (l - 1) * (1 + h.opts.M)
	return h.upper[i][o : o+1+h.opts.M]
}

func (h *HNSW) stripe(i int32) *sync.Mutex { return &h.stripes[uint32(i)%stripeCount] }

// Neighbour lists are written under their node's stripe lock but read
// without it: a search takes no lock per node it expands, which at a few
// hundred expansions a query is a large share of its time. Every entry
// and count is stored and loaded atomically, entries before the count, so
// a reader racing a writer sees, entry by entry, the old or the new value,
// and every entry below a count it can see has been written with a node of
// that level. A list seen half rewritten only makes that one expansion see
// a mix of old and new neighbours, which the visited set absorbs.

// setList stores ns as the list in slot sl. The caller holds the stripe
// lock of the slot's node.
func setList(sl []int32, ns []int32) {
	for j, x := range ns {
		atomic.StoreInt32(&sl[1+j], x)
	}
	atomic.StoreInt32(&sl[0], int32(len(ns)))
}

// listLen loads the count of slot sl; listAt loads its j-th entry.
func listLen(sl []int32) int         { return int(atomic.LoadInt32(&sl[0])) }
func listAt(sl []int32, j int) int32 { return atomic.LoadInt32(&sl[1+j]) }

func (h *HNSW) loadTop() (entry int32, level int, ok bool) {
	t := h.top.Load()
	if t == emptyTop {
		return 0, 0, false
	}
	return int32(t >> 8), int(t & 0xff), true
}

func (h *HNSW) storeTop(entry int32, level int) {
	h.top.Store(uint64(entry)<<8 | uint64(level))
}

// link connects the new node q on levels level..0 (algorithm 1 of the paper).
func (h *HNSW) link(s *searcher, q int32, level int) {
	qv := h.vec(q)
	h.epMu.Lock()
	ep, top, ok := h.loadTop()
	if !ok {
		h.storeTop(q, level)
		h.epMu.Unlock()
		return
	}
	if level > top {
		// q becomes the entry point: hold the lock until it is linked so
		// that no other add raises the top meanwhile and loses q's layers.
		defer func() {
			h.storeTop(q, level)
			h.epMu.Unlock()
		}()
	} else {
		h.epMu.Unlock()
	}

	coarse := h.coarse
	if coarse {
		s.code(qv)
	}
	s.nbuf = append(s.nbuf[:0], ep)
	h.score(s, qv, coarse)
	cur := topk.Scored{ID: ep, Score: s.dots[0]}
	for l := top; l > level; l-- {
		cur = h.greedy(s, qv, cur, l, coarse)
	}
	for l := min(level, top); l >= 0; l-- {
		h.searchLayer(s, qv, cur, h.opts.EfConstruction, l, coarse, nil)
		if coarse {
			// The walk on the coarse codes found the candidates; the
			// links are chosen on scores within a few millionths of the
			// float32 ones, as a walk on the vectors would have.
			h.rescoreResults(s, qv)
		}
		topk.SortBest(s.res)
		// Another add may already have linked to q on this level.
		cands := dropIdx(s.res, q)
		if len(cands) == 0 {
			continue
		}
		cur = cands[0]
		if coarse {
			// The next level's walk compares coarse scores.
			s.nbuf = append(s.nbuf[:0], cur.ID)
			h.score(s, qv, true)
			cur.Score = s.dots[0]
		}
		s.sel = h.selectNeighbours(s, cands, h.opts.M, s.sel)
		capacity := h.opts.M
		if l == 0 {
			capacity = h.m0
		}
		h.setOwnList(s, q, l, capacity)
		for _, e := range s.sel {
			h.addLink(s, e, q, l, capacity)
		}
	}
}

// setOwnList stores s.sel as q's list on level l. A concurrent add that
// reached q on a higher level and descended through it may already have
// linked itself to q here; overwriting would drop that link and leave the
// other node reachable from nowhere, so such links are merged in.
func (h *HNSW) setOwnList(s *searcher, q int32, l, capacity int) {
	mu := h.stripe(q)
	mu.Lock()
	defer mu.Unlock()
	sl := h.slot(q, l)
	n := int(sl[0])
	if n == 0 {
		setList(sl, s.sel)
		return
	}
	s.sel2 = append(s.sel2[:0], s.sel...)
	for _, x := range sl[1 : 1+n] {
		if !slices.Contains(s.sel, x) {
			s.sel2 = append(s.sel2, x)
		}
	}
	if len(s.sel2) > capacity {
		qv := h.vec(q)
		s.tmp = s.tmp[:0]
		for _, x := range s.sel2 {
			s.tmp = append(s.tmp, topk.Scored{ID: x, Score: vec.Dot(qv, h.vec(x))})
		}
		topk.SortBest(s.tmp)
		s.sel2 = h.selectNeighbours(s, s.tmp, capacity, s.sel2)
	}
	setList(sl, s.sel2)
}

// addLink adds q to e's list on level l, shrinking the list with the
// selection heuristic when it overflows.
func (h *HNSW) addLink(s *searcher, e, q int32, l, capacity int) {
	mu := h.stripe(e)
	mu.Lock()
	defer mu.Unlock()
	sl := h.slot(e, l)
	n := int(sl[0])
	for _, x := range sl[1 : 1+n] {
		if x == q {
			return
		}
	}
	if n < capacity {
		// Entry before count, so that a reader never counts an entry
		// not yet written.
		atomic.StoreInt32(&sl[1+n], q)
		atomic.StoreInt32(&sl[0], int32(n+1))
		return
	}
	ev := h.vec(e)
	s.tmp = s.tmp[:0]
	for _, x := range sl[1 : 1+n] {
		s.tmp = append(s.tmp, topk.Scored{ID: x, Score: vec.Dot(ev, h.vec(x))})
	}
	s.tmp = append(s.tmp, topk.Scored{ID: q, Score: vec.Dot(ev, h.vec(q))})
	topk.SortBest(s.tmp)
	s.sel2 = h.selectNeighbours(s, s.tmp, capacity, s.sel2)
	setList(sl, s.sel2)
}

// selectNeighbours is the paper's algorithm 4 without extendCandidates:
// walking the candidates nearest first, keep one only if it is nearer to the
// base than to every neighbour kept so far, which spreads the links over
// directions instead of spending them all on one cluster. Unless
// DropPruned, free slots are then filled with the nearest rejected ones.
func (h *HNSW) selectNeighbours(s *searcher, cands []topk.Scored, m int, out []int32) []int32 {
	out = out[:0]
	s.pruned = s.pruned[:0]
	for _, c := range cands {
		if len(out) >= m {
			break
		}
		cv := h.vec(c.ID)
		good := true
		for _, r := range out {
			if vec.Dot(cv, h.vec(r)) > c.Score {
				good = false
				break
			}
		}
		if good {
			out = append(out, c.ID)
		} else {
			s.pruned = append(s.pruned, c.ID)
		}
	}
	if !h.opts.DropPruned {
		for _, p := range s.pruned {
			if len(out) >= m {
				break
			}
			out = append(out, p)
		}
	}
	return out
}

// score sets s.dots to the scores of the nodes in s.nbuf against q: on
// their int8 codes if coarse (against s.q16, q's codes, which the caller
// has set), else on their vectors.
func (h *HNSW) score(s *searcher, q []float32, coarse bool) {
	s.dots = slices.Grow(s.dots[:0], len(s.nbuf))[:len(s.nbuf)]
	if coarse {
		vec.DotRowsInt8(s.q16, s.qs, h.codes, h.scales, s.nbuf, s.dots)
	} else {
		vec.DotRows(q, h.vecs, s.nbuf, s.dots)
	}
}

// rescore sets s.dots to the final scores of the nodes in s.nbuf against
// q: on both rows of codes if h.coarse (s.q16 set), so that searches
// never read the float32 vectors, else on the vectors.
func (h *HNSW) rescore(s *searcher, q []float32) {
	h.score(s, q, h.coarse)
	if !h.coarse {
		return
	}
	s.fineDots = slices.Grow(s.fineDots[:0], len(s.nbuf))[:len(s.nbuf)]
	vec.DotRowsInt8(s.q16, s.qs, h.fine, h.fines, s.nbuf, s.fineDots)
	for j, d := range s.fineDots {
		s.dots[j] += d
	}
}

// rescoreResults replaces the scores in s.res by rescore's.
func (h *HNSW) rescoreResults(s *searcher, q []float32) {
	s.nbuf = s.nbuf[:0]
	for _, r := range s.res {
		s.nbuf = append(s.nbuf, r.ID)
	}
	h.rescore(s, q)
	for j := range s.res {
		s.res[j].Score = s.dots[j]
	}
}

// greedy walks level l from cur to the node nearest q it can reach,
// scoring on the codes if coarse.
func (h *HNSW) greedy(s *searcher, q []float32, cur topk.Scored, l int, coarse bool) topk.Scored {
	for changed := true; changed; {
		changed = false
		sl := h.slot(cur.ID, l)
		s.nbuf = s.nbuf[:0]
		for j, n := 0, listLen(sl); j < n; j++ {
			s.nbuf = append(s.nbuf, listAt(sl, j))
		}
		h.score(s, q, coarse)
		for j, e := range s.nbuf {
			if sc := s.dots[j]; sc > cur.Score {
				cur, changed = topk.Scored{ID: e, Score: sc}, true
			}
		}
	}
	return cur
}

// searchLayer is the paper's algorithm 2 on level l from ep, leaving the ef
// best accepted nodes in s.res (a min-heap), scored on the codes if coarse.
// Rejected nodes are still expanded, and the walk stops only once s.res
// holds ef accepted nodes and no candidate can improve it, so a selective
// filter widens the walk instead of cutting it short.
//
// On a large graph the walk waits on memory: a candidate's list, the
// visited marks of its entries and the neighbours' vectors are each a
// round of cache misses that depends on the one before. Two candidates are
// expanded together when the second would be expanded next anyway (unless
// the first one's neighbours beat it, in which case it is expanded a
// little early), and the lists of the candidates next in line are touched
// before the neighbours are scored, so that more misses are outstanding at
// once.
func (h *HNSW) searchLayer(s *searcher, q []float32, ep topk.Scored, ef, l int, coarse bool, accept func(int32) bool) {
	h.searchLayerWithin(s, q, ep, ef, l, coarse, accept, 0)
}

// searchLayerWithin is searchLayer stopping once it has scored more than
// budget nodes (0: no limit); it reports whether it finished the walk.
func (h *HNSW) searchLayerWithin(s *searcher, q []float32, ep topk.Scored, ef, l int, coarse bool, accept func(int32) bool, budget int) bool {
	s.begin(len(h.levels))
	s.cand = append(s.cand[:0], ep)
	s.res = s.res[:0]
	s.marks[ep.ID] = s.gen
	if accept == nil || accept(ep.ID) {
		s.res = append(s.res, ep)
	}
	scored := 0
	done := func(c topk.Scored) bool { return len(s.res) >= ef && c.Score < s.res[0].Score }
	for len(s.cand) > 0 {
		var c topk.Scored
		c, s.cand = topk.MaxPop(s.cand)
		if done(c) {
			break
		}
		// Gather the unvisited neighbours, score them in one call, then
		// update the heaps, each in its own loop: with no heap work in
		// between, the loads of the neighbours' vectors overlap instead
		// of waiting on each other.
		s.nbuf = s.nbuf[:0]
		s.gather(h.slot(c.ID, l))
		if len(s.cand) > 0 && !done(s.cand[0]) {
			c, s.cand = topk.MaxPop(s.cand)
			s.gather(h.slot(c.ID, l))
		}
		if scored += len(s.nbuf); budget > 0 && scored > budget {
			return false
		}
		h.touch(s, l)
		h.score(s, q, coarse)
		for j, e := range s.nbuf {
			sc := s.dots[j]
			if len(s.res) >= ef && sc <= s.res[0].Score {
				continue
			}
			s.cand = append(s.cand, topk.Scored{ID: e, Score: sc})
			topk.MaxUp(s.cand, len(s.cand)-1)
			if accept == nil || accept(e) {
				if len(s.res) < ef {
					s.res = append(s.res, topk.Scored{ID: e, Score: sc})
					topk.MinUp(s.res, len(s.res)-1)
				} else {
					// Replace the worst in place: one sift
					// instead of a push and a pop.
					s.res[0] = topk.Scored{ID: e, Score: sc}
					topk.MinDown(s.res, 0)
				}
			}
		}
	}
	return true
}

// touch loads the first word of the lists of the three best candidates
// (the top of the heap and its children), so that their cache misses
// overlap the scoring that follows instead of stalling the next expansion:
// Go has no prefetch instruction, and a load whose value nothing waits for
// is the nearest thing. The sum goes to s.sink so that the loads are kept.
func (h *HNSW) touch(s *searcher, l int) {
	for _, c := range s.cand[:min(3, len(s.cand))] {
		s.sink += int32(listLen(h.slot(c.ID, l)))
	}
}

// Search returns the k live items nearest q among those filter accepts,
// walking layer 0 with the index's EfSearch.
func (h *HNSW) Search(ctx context.Context, q []float32, k int, filter Filter) ([]Result, error) {
	return h.SearchEf(ctx, q, k, 0, filter)
}

// filterSample is how many nodes a filter that cannot list its items is
// tried on to estimate how many items it passes.
const filterSample = 256

// The costs that choose how a filtered search runs, in the time it takes
// a walk to score one node (measured at 1M items, dimension 64, with the
// engine's catalogue filter; docs/BENCHMARKS.md "Filtered search at 1M"):
//
//   - walkScored: nodes an unfiltered walk scores per unit of ef. A walk
//     with a filter passing a share p of the items goes on until ef of
//     them are in its results: about walkScored·ef/p nodes.
//   - listedCost: scoring one item a ListedFilter lists (listing it,
//     finding its node from the hint or the id, the dot product on
//     float32).
//   - unlistedCost: asking a filter that cannot list its items about one
//     node, which a scan of every node does before its dot product.
const (
	walkScored   = 18
	listedCost   = 1.5
	unlistedCost = 1.0
)

// SearchEf is Search with a search width ef for this query (ef ≤ 0: the
// index's EfSearch; values below k are raised to k). A larger ef costs
// time and buys recall.
//
// A filtered search either walks the graph, stepping through rejected
// nodes until ef accepted ones are in its results, or scores the allowed
// items directly: every item a ListedFilter lists, or every node for other
// filters. It scans when the filter passes at most ExactCutoff items, or
// when the walk it predicts (from how many items pass: counted by a
// ListedFilter, sampled otherwise) costs more than the scan; a walk that
// goes on past the scan's cost (the items that pass lie far from the
// query, so the walk meets few of them) stops there and scans instead,
// which bounds a search at about twice the cheaper of the two.
func (h *HNSW) SearchEf(ctx context.Context, q []float32, k, ef int, filter Filter) ([]Result, error) {
	u, err := normalized(q, h.dim)
	if err != nil {
		return nil, fmt.Errorf("hnsw search: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, nil
	}
	if ef <= 0 {
		ef = int(h.ef.Load())
	}
	ef = max(ef, k)

	h.mu.RLock()
	defer h.mu.RUnlock()
	s := h.getSearcher()
	defer h.pool.Put(s)
	if h.coarse {
		s.code(u)
	}

	all := acceptAll(filter)
	listed, _ := filter.(ListedFilter)
	budget := 0
	if !all && h.opts.ExactCutoff >= 0 {
		live := len(h.pos)
		var passing int
		if listed != nil {
			passing = min(listed.Len(), live)
		} else {
			passing = h.estimatePassing(filter)
		}
		scan := float64(live) * unlistedCost
		if listed != nil {
			scan = float64(passing) * listedCost
		}
		walk := float64(walkScored*ef) * float64(live) / float64(max(passing, 1))
		if passing <= h.opts.ExactCutoff || walk > scan {
			return h.scan(ctx, s, u, k, filter, listed)
		}
		budget = max(int(scan), 1)
	}

	ep, top, ok := h.loadTop()
	if !ok {
		return nil, nil
	}
	coarse := h.coarse
	s.nbuf = append(s.nbuf[:0], ep)
	h.score(s, u, coarse)
	cur := topk.Scored{ID: ep, Score: s.dots[0]}
	for l := top; l > 0; l-- {
		cur = h.greedy(s, u, cur, l, coarse)
	}
	var accept func(int32) bool
	switch {
	case all && h.nDead == 0:
	case all:
		accept = func(i int32) bool { return !h.dead[i] }
	default:
		accept = func(i int32) bool { return !h.dead[i] && filter.Allow(h.ids[i]) }
	}
	if !h.searchLayerWithin(s, u, cur, ef, 0, coarse, accept, budget) {
		h.stats.fallbacks.Add(1)
		return h.scan(ctx, s, u, k, filter, listed)
	}
	if !all {
		h.stats.walks.Add(1)
	}
	if !coarse {
		topk.SortBest(s.res)
		return results(h.ids, s.res[:min(k, len(s.res))]), nil
	}
	// Re-score the walk's ef nodes on both rows of codes: the first
	// only had to find them.
	h.rescoreResults(s, u)
	var t topk.Heap
	t.Use(k, s.tmp)
	for _, r := range s.res {
		t.Push(r.ID, r.Score)
	}
	s.tmp = t.Sorted()
	return results(h.ids, s.tmp), nil
}

// FilterStats counts how filtered searches ran since the index was made or
// loaded.
type FilterStats struct {
	// Walks walked the graph to the end. Scans scored the items a
	// ListedFilter listed, FullScans asked a filter that cannot list its
	// items about every node; either from the start, or after a walk
	// that cost more than the scan would, which Fallbacks counts too.
	Walks, Scans, FullScans, Fallbacks uint64
}

// FilterStats returns how the filtered searches so far ran.
func (h *HNSW) FilterStats() FilterStats {
	return FilterStats{Walks: h.stats.walks.Load(), Scans: h.stats.scans.Load(), FullScans: h.stats.fullScans.Load(), Fallbacks: h.stats.fallbacks.Load()}
}

// filterCounters are FilterStats' counters.
type filterCounters struct {
	walks, scans, fullScans, fallbacks atomic.Uint64
}

// estimatePassing estimates how many live items f accepts from a sample of
// nodes spread evenly over the arrays.
func (h *HNSW) estimatePassing(f Filter) int {
	n := len(h.ids)
	live := len(h.pos)
	if live <= h.opts.ExactCutoff {
		return live
	}
	step := max(1, n/filterSample)
	tried, passed := 0, 0
	for i := 0; i < n; i += step {
		if h.dead[i] {
			continue
		}
		tried++
		if f.Allow(h.ids[i]) {
			passed++
		}
	}
	if tried == 0 {
		return 0
	}
	return int(float64(passed) / float64(tried) * float64(live))
}

// scan scores the items f allows directly, as searches re-score
// (rescore), a batch of nodes at a time: those listed, when it can list
// them, or every live node, asking the filter first.
func (h *HNSW) scan(ctx context.Context, s *searcher, u []float32, k int, f Filter, listed ListedFilter) ([]Result, error) {
	var t topk.Heap
	t.Use(k, s.tmp)
	s.nbuf = s.nbuf[:0]
	flush := func() {
		h.rescore(s, u)
		for j, i := range s.nbuf {
			t.Push(i, s.dots[j])
		}
		s.nbuf = s.nbuf[:0]
	}
	if listed != nil {
		h.stats.scans.Add(1)
		n := 0
		for id, hint := range listed.Listed() {
			if n++; n%ctxEvery == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			if i, ok := h.node(id, hint); ok {
				if s.nbuf = append(s.nbuf, i); len(s.nbuf) == scanBatch {
					flush()
				}
			}
		}
	} else {
		h.stats.fullScans.Add(1)
		for i := range h.ids {
			if i%ctxEvery == 0 && i > 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			if h.dead[i] || !f.Allow(h.ids[i]) {
				continue
			}
			if s.nbuf = append(s.nbuf, int32(i)); len(s.nbuf) == scanBatch {
				flush()
			}
		}
	}
	flush()
	s.tmp = t.Sorted()
	return results(h.ids, s.tmp), nil
}

// scanBatch is how many nodes a scan scores at a time.
const scanBatch = 256

// node returns the live node of id: at hint if it holds id there (no map
// look-up, which at a million ids costs a few cache misses), else from the
// map; h.mu is held.
func (h *HNSW) node(id string, hint int32) (int32, bool) {
	if hint >= 0 && int(hint) < len(h.ids) && !h.dead[hint] && h.ids[hint] == id {
		return hint, true
	}
	i, ok := h.pos[id]
	return i, ok
}

// Rebuild returns a new index with the live items and the same options,
// without tombstones. The receiver keeps serving meanwhile; writes to it
// wait until the copy of its items is taken.
func (h *HNSW) Rebuild(ctx context.Context) (*HNSW, error) {
	h.wmu.Lock()
	h.mu.RLock()
	var (
		ids  = make([]string, 0, len(h.pos))
		vecs = make([]float32, 0, len(h.pos)*h.dim)
	)
	for i, id := range h.ids {
		if !h.dead[i] {
			ids = append(ids, id)
			vecs = append(vecs, h.vec(int32(i))...)
		}
	}
	opts := h.Options()
	h.mu.RUnlock()
	h.wmu.Unlock()

	n, err := NewHNSW(h.dim, opts)
	if err != nil {
		return nil, fmt.Errorf("rebuild hnsw: %w", err)
	}
	if err := addParallel(ctx, n, ids, vecs, h.dim, runtime.GOMAXPROCS(0)); err != nil {
		return nil, fmt.Errorf("rebuild hnsw: %w", err)
	}
	return n, nil
}

// addParallel adds ids[i] → vecs[i*dim:] with the given number of
// goroutines, stopping at the first error or when ctx is done.
func addParallel(ctx context.Context, idx Vector, ids []string, vecs []float32, dim, workers int) error {
	return parallel.For(ctx, len(ids), max(1, workers), func(_, i int) error {
		return idx.Add(ids[i], vecs[i*dim:(i+1)*dim])
	})
}

// searcher is the scratch space of one search or add, pooled so that a
// search allocates only its results.
type searcher struct {
	// marks[i] == gen when node i is visited. A byte a node keeps the
	// array within a 2 MiB L2 cache up to about 1.5M nodes (at 1M,
	// searches with 16-bit marks were a few percent slower); the cost is
	// a clear every 255 searches.
	marks           []uint8
	gen             uint8
	sink            int32   // see touch
	q16             []int16 // the query's codes for a coarse walk
	qs              float32 // their scale
	cand, res, tmp  []topk.Scored
	nbuf, sel, sel2 []int32
	dots, fineDots  []float32
	pruned          []int32
}

func (h *HNSW) getSearcher() *searcher { return h.pool.Get().(*searcher) }

// code sets the query's codes for scoring on the index's codes.
func (s *searcher) code(q []float32) {
	s.q16 = slices.Grow(s.q16[:0], len(q))[:len(q)]
	s.qs = vec.QuantizeInt16(s.q16, q)
}

// begin starts a new visited set over n nodes: bumping the generation
// clears it without touching the array.
func (s *searcher) begin(n int) {
	if len(s.marks) < n {
		s.marks = makeHuge[uint8](n + n/4 + 64)
		s.gen = 0
	}
	s.gen++
	if s.gen == 0 {
		clear(s.marks)
		s.gen = 1
	}
}

// gather appends to s.nbuf the entries of list sl not visited yet, marking
// them. The loop has no branch on the marks, whose loads miss the cache:
// a mispredicted branch on each would make them wait on each other.
func (s *searcher) gather(sl []int32) {
	n := listLen(sl)
	k := len(s.nbuf)
	s.nbuf = slices.Grow(s.nbuf, n)[:k+n]
	gen := s.gen
	for j := range n {
		e := listAt(sl, j)
		m := &s.marks[e]
		fresh := *m != gen
		*m = gen
		s.nbuf[k] = e
		if fresh {
			k++
		}
	}
	s.nbuf = s.nbuf[:k]
}

func dropIdx(h []topk.Scored, i int32) []topk.Scored {
	for j, x := range h {
		if x.ID == i {
			return append(h[:j], h[j+1:]...)
		}
	}
	return h
}
