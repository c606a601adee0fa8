package index

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"sync"

	"github.com/coder/hnsw"

	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/internal/vec"
)

// CoderOptions configures a CoderHNSW index. Zero fields take the defaults.
type CoderOptions struct {
	// M is coder/hnsw's neighbour count. Default 16.
	M int
	// Ml is coder/hnsw's level factor (the share of nodes promoted to each
	// next layer). Default 0.25, the library's.
	Ml float64
	// EfSearch is coder/hnsw's search width, used for both construction and
	// queries (the library has one setting for both). Default 64.
	EfSearch int
	// Overfetch multiplies k for the candidates asked of coder/hnsw, which
	// are then re-scored exactly. Default 4.
	Overfetch int
	// ExactCutoff is as in HNSWOptions. Default DefaultExactCutoff.
	ExactCutoff int
	// Seed drives the library's level generator.
	Seed int64
}

func (o CoderOptions) withDefaults() CoderOptions {
	if o.M <= 0 {
		o.M = 16
	}
	if o.Ml <= 0 || o.Ml >= 1 {
		o.Ml = 0.25
	}
	if o.EfSearch <= 0 {
		o.EfSearch = 64
	}
	if o.Overfetch <= 0 {
		o.Overfetch = 4
	}
	if o.ExactCutoff == 0 {
		o.ExactCutoff = DefaultExactCutoff
	}
	return o
}

// CoderHNSW is a Vector index over github.com/coder/hnsw, kept to compare
// against and to switch to once a fixed release exists. Version 0.6.1 has
// a broken result heap (recall@10 far below HNSW's, results out of order),
// no locking between Add and Search, and panics in Search after Delete;
// the adapter works around all of it:
//
//   - the library is keyed by internal positions, never sees a key twice
//     and is never asked to Delete: deletes are tombstones here, and
//     Upsert tombstones the old position and adds a new one;
//   - an RWMutex keeps Add away from Search;
//   - candidates are over-fetched and re-scored with exact inner products
//     on the adapter's own copies of the vectors, so results are sorted
//     and scores exact;
//   - every call into the library runs under recover; a panic becomes an
//     error, and after one inside Add the index refuses further use.
//
// Save writes the vectors, not the library's graph; LoadCoderHNSW rebuilds
// the graph, since the library's importer trusts its input's counts.
type CoderHNSW struct {
	mu     sync.RWMutex
	opts   CoderOptions
	dim    int
	g      *hnsw.Graph[int32]
	vecs   []float32
	ids    []string
	pos    map[string]int32
	dead   []bool
	nDead  int
	broken error
}

var _ Vector = (*CoderHNSW)(nil)

// NewCoderHNSW returns an empty CoderHNSW index for vectors of dimension dim.
func NewCoderHNSW(dim int, opts CoderOptions) (*CoderHNSW, error) {
	if err := checkDim(dim); err != nil {
		return nil, fmt.Errorf("new coder hnsw index: %w", err)
	}
	opts = opts.withDefaults()
	g := hnsw.NewGraph[int32]()
	g.M = opts.M
	g.Ml = opts.Ml
	g.EfSearch = opts.EfSearch
	g.Distance = hnsw.CosineDistance
	g.Rng = rand.New(rand.NewSource(opts.Seed))
	return &CoderHNSW{opts: opts, dim: dim, g: g, pos: make(map[string]int32)}, nil
}

// Dim returns the dimension of the vectors.
func (c *CoderHNSW) Dim() int { return c.dim }

// Len returns the number of live items.
func (c *CoderHNSW) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pos)
}

// Add inserts a unit-length copy of v under id.
func (c *CoderHNSW) Add(id string, v []float32) error {
	if err := c.add(id, v, false); err != nil {
		return fmt.Errorf("add %q: %w", id, err)
	}
	return nil
}

// Upsert inserts v under id, tombstoning the item that held id before.
func (c *CoderHNSW) Upsert(id string, v []float32) error {
	if err := c.add(id, v, true); err != nil {
		return fmt.Errorf("upsert %q: %w", id, err)
	}
	return nil
}

func (c *CoderHNSW) add(id string, v []float32, replace bool) error {
	u, err := normalized(v, c.dim)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return c.broken
	}
	old, exists := c.pos[id]
	if exists && !replace {
		return ErrExists
	}
	if len(c.ids) >= maxItems {
		return fmt.Errorf("index full (%d nodes)", len(c.ids))
	}
	key := int32(len(c.ids))
	// The library keeps the slice it is given; hand it a copy of its own.
	if err := guard(func() { c.g.Add(hnsw.MakeNode(key, slices.Clone(u))) }); err != nil {
		c.broken = fmt.Errorf("%w: coder/hnsw failed in Add, index unusable: %v", ErrUnsupported, err)
		return c.broken
	}
	if exists {
		c.dead[old] = true
		c.nDead++
	}
	c.pos[id] = key
	c.ids = append(c.ids, id)
	c.vecs = append(c.vecs, u...)
	c.dead = append(c.dead, false)
	return nil
}

// Delete tombstones id.
func (c *CoderHNSW) Delete(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.pos[id]
	if !ok {
		return fmt.Errorf("delete %q: %w", id, ErrNotFound)
	}
	c.dead[i] = true
	c.nDead++
	delete(c.pos, id)
	return nil
}

// Vector returns a copy of the unit vector stored under id.
func (c *CoderHNSW) Vector(id string) ([]float32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.pos[id]
	if !ok {
		return nil, false
	}
	o := int(i) * c.dim
	return append([]float32(nil), c.vecs[o:o+c.dim]...), true
}

// Similarity returns the inner product of id's stored unit vector with v;
// false when id is not in the index or v has the wrong dimension.
func (c *CoderHNSW) Similarity(id string, v []float32) (float32, bool) {
	if len(v) != c.dim {
		return 0, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.pos[id]
	if !ok {
		return 0, false
	}
	o := int(i) * c.dim
	return vec.Dot(c.vecs[o:o+c.dim], v), true
}

// guard runs f and turns a panic into an error.
func guard(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	f()
	return nil
}

func (c *CoderHNSW) vec(i int32) []float32 {
	o := int(i) * c.dim
	return c.vecs[o : o+c.dim]
}

// Search asks coder/hnsw for k·Overfetch candidates (plus the tombstones)
// and returns the best k live ones filter accepts, re-scored exactly. A
// selective filter is answered by a scan, as in HNSW.
func (c *CoderHNSW) Search(ctx context.Context, q []float32, k int, filter Filter) ([]Result, error) {
	u, err := normalized(q, c.dim)
	if err != nil {
		return nil, fmt.Errorf("coder hnsw search: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.broken != nil {
		return nil, c.broken
	}
	all := acceptAll(filter)
	if !all && c.opts.ExactCutoff >= 0 {
		if listed, ok := filter.(ListedFilter); ok && listed.Len() <= c.opts.ExactCutoff {
			var t topk.Heap
			t.Reset(k)
			for id := range listed.Listed() {
				if i, ok := c.pos[id]; ok {
					t.Push(i, vec.Dot(u, c.vec(i)))
				}
			}
			return results(c.ids, t.Sorted()), nil
		}
	}
	if len(c.pos) == 0 {
		return nil, nil
	}
	want := min(min(k, len(c.ids))*c.opts.Overfetch+c.nDead, len(c.ids))
	var nodes []hnsw.Node[int32]
	if err := guard(func() { nodes = c.g.Search(u, want) }); err != nil {
		return nil, fmt.Errorf("coder hnsw search: %w: %v", ErrUnsupported, err)
	}
	var t topk.Heap
	t.Reset(k)
	for _, n := range nodes {
		i := n.Key
		if i < 0 || int(i) >= len(c.ids) || c.dead[i] || (!all && !filter.Allow(c.ids[i])) {
			continue
		}
		t.Push(i, vec.Dot(u, c.vec(i)))
	}
	return results(c.ids, t.Sorted()), nil
}

const (
	coderMagic   = "DUETCODR"
	coderVersion = 1
)

// Save writes the options, the live ids and their vectors, and a checksum.
func (c *CoderHNSW) Save(ctx context.Context, w io.Writer) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e := newEncoder(w)
	e.write([]byte(coderMagic))
	e.u32(coderVersion)
	e.u32(uint32(c.dim))
	e.u32(uint32(c.opts.M))
	e.u64(uint64(int64(c.opts.Ml * 1e9)))
	e.u32(uint32(c.opts.EfSearch))
	e.u32(uint32(c.opts.Overfetch))
	e.u32(uint32(int32(c.opts.ExactCutoff)))
	e.u64(uint64(c.opts.Seed))
	e.u64(uint64(len(c.pos)))
	for i, id := range c.ids {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !c.dead[i] {
			e.str(id)
			e.f32s(c.vec(int32(i)))
		}
	}
	if err := e.finish(); err != nil {
		return fmt.Errorf("save coder hnsw: %w", err)
	}
	return nil
}

// LoadCoderHNSW reads an index written by CoderHNSW.Save, rebuilding the
// graph from the vectors.
func LoadCoderHNSW(ctx context.Context, r io.Reader) (*CoderHNSW, error) {
	c, err := loadCoder(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("load coder hnsw: %w", err)
	}
	return c, nil
}

func loadCoder(ctx context.Context, r io.Reader) (*CoderHNSW, error) {
	d := newDecoder(r)
	d.header(coderMagic, coderVersion, coderVersion)
	dim := int(d.u32())
	var o CoderOptions
	o.M = int(d.u32())
	o.Ml = float64(int64(d.u64())) / 1e9
	o.EfSearch = int(d.u32())
	o.Overfetch = int(d.u32())
	o.ExactCutoff = int(int32(d.u32()))
	o.Seed = int64(d.u64())
	n := d.u64()
	if d.err != nil {
		return nil, d.err
	}
	if checkDim(dim) != nil || n > maxItems || o.M <= 0 || o.M > maxM || o.EfSearch <= 0 || o.Overfetch <= 0 || o.Ml <= 0 || o.Ml >= 1 {
		return nil, fmt.Errorf("%w: header dim %d, %d items, options %+v", ErrCorrupt, dim, n, o)
	}
	var (
		ids  []string
		vecs []float32
	)
	for i := uint64(0); i < n && d.err == nil; i++ {
		ids = append(ids, d.str())
		vecs = d.f32s(vecs, dim)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	c, err := NewCoderHNSW(dim, o)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if err := c.Add(id, vecs[i*dim:(i+1)*dim]); err != nil {
			return nil, fmt.Errorf("%w: item %d: %v", ErrCorrupt, i, err)
		}
	}
	return c, nil
}
