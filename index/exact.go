package index

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/internal/vec"
)

// Exact is a Vector index that answers by scoring every item: exact results,
// cost linear in the catalogue. It is the ground truth for the approximate
// indexes and the right choice for small catalogues.
//
// Vectors live in one row-major []float32. Searches run concurrently with
// each other; writes take the index exclusively.
type Exact struct {
	mu   sync.RWMutex
	dim  int
	data []float32
	ids  []string
	pos  map[string]int
}

var _ Vector = (*Exact)(nil)

// NewExact returns an empty Exact index for vectors of dimension dim.
func NewExact(dim int) (*Exact, error) {
	if err := checkDim(dim); err != nil {
		return nil, fmt.Errorf("new exact index: %w", err)
	}
	return &Exact{dim: dim, pos: make(map[string]int)}, nil
}

// Dim returns the dimension of the vectors.
func (e *Exact) Dim() int { return e.dim }

// Len returns the number of items.
func (e *Exact) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.ids)
}

// Add inserts a unit-length copy of v under id.
func (e *Exact) Add(id string, v []float32) error {
	u, err := normalized(v, e.dim)
	if err != nil {
		return fmt.Errorf("add %q: %w", id, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.pos[id]; ok {
		return fmt.Errorf("add %q: %w", id, ErrExists)
	}
	e.pos[id] = len(e.ids)
	e.ids = append(e.ids, id)
	e.data = append(e.data, u...)
	return nil
}

// Upsert inserts or replaces the vector stored under id.
func (e *Exact) Upsert(id string, v []float32) error {
	u, err := normalized(v, e.dim)
	if err != nil {
		return fmt.Errorf("upsert %q: %w", id, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if i, ok := e.pos[id]; ok {
		copy(e.data[i*e.dim:], u)
		return nil
	}
	e.pos[id] = len(e.ids)
	e.ids = append(e.ids, id)
	e.data = append(e.data, u...)
	return nil
}

// Delete removes id by moving the last row into its place.
func (e *Exact) Delete(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	i, ok := e.pos[id]
	if !ok {
		return fmt.Errorf("delete %q: %w", id, ErrNotFound)
	}
	last := len(e.ids) - 1
	if i != last {
		copy(e.data[i*e.dim:(i+1)*e.dim], e.data[last*e.dim:])
		e.ids[i] = e.ids[last]
		e.pos[e.ids[i]] = i
	}
	e.ids = e.ids[:last]
	e.data = e.data[:last*e.dim]
	delete(e.pos, id)
	return nil
}

// Vector returns a copy of the unit vector stored under id.
func (e *Exact) Vector(id string) ([]float32, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	i, ok := e.pos[id]
	if !ok {
		return nil, false
	}
	return append([]float32(nil), e.data[i*e.dim:(i+1)*e.dim]...), true
}

// Has reports whether id is in the index, without touching its vector.
func (e *Exact) Has(id string) bool {
	e.mu.RLock()
	_, ok := e.pos[id]
	e.mu.RUnlock()
	return ok
}

// Similarity returns the inner product of id's stored unit vector with v,
// without copying the stored vector; false when id is not in the index or
// v has the wrong dimension.
func (e *Exact) Similarity(id string, v []float32) (float32, bool) {
	if len(v) != e.dim {
		return 0, false
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	i, ok := e.pos[id]
	if !ok {
		return 0, false
	}
	return vec.Dot(e.data[i*e.dim:(i+1)*e.dim], v), true
}

// ctxEvery is how many items a scan scores between looks at its context.
const ctxEvery = 8192

// Search returns the k items with the highest cosine similarity to q among
// those filter accepts.
func (e *Exact) Search(ctx context.Context, q []float32, k int, filter Filter) ([]Result, error) {
	u, err := normalized(q, e.dim)
	if err != nil {
		return nil, fmt.Errorf("exact search: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if k <= 0 {
		return nil, nil
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	var t topk.Heap
	t.Use(k, make([]topk.Scored, 0, min(k, len(e.ids))))
	dim := e.dim
	if listed, ok := filter.(ListedFilter); ok && listed.Len() < len(e.ids) {
		for id, hint := range listed.Listed() {
			i, ok := int(hint), hint >= 0 && int(hint) < len(e.ids) && e.ids[hint] == id
			if !ok {
				i, ok = e.pos[id]
			}
			if ok {
				t.Push(int32(i), vec.Dot(u, e.data[i*dim:(i+1)*dim]))
			}
		}
		return results(e.ids, t.Sorted()), nil
	}
	all := acceptAll(filter)
	for i := range e.ids {
		if i%ctxEvery == 0 && i > 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		s := vec.Dot(u, e.data[i*dim:(i+1)*dim])
		if t.Full() && s <= t.Worst() {
			continue
		}
		// The filter after the score: it is asked only of the items that
		// would enter the top k, not of the whole catalogue (a filter
		// that looks the item up costs more than the dot product).
		if !all && !filter.Allow(e.ids[i]) {
			continue
		}
		t.Push(int32(i), s)
	}
	return results(e.ids, t.Sorted()), nil
}

const (
	exactMagic   = "DUETEXCT"
	exactVersion = 1
)

// Save writes the index: header, dimension, count, then each id and the
// vectors as raw little-endian float32, and a checksum.
func (e *Exact) Save(ctx context.Context, w io.Writer) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	enc := newEncoder(w)
	enc.write([]byte(exactMagic))
	enc.u32(exactVersion)
	enc.u32(uint32(e.dim))
	enc.u64(uint64(len(e.ids)))
	for i, id := range e.ids {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		enc.str(id)
	}
	enc.f32s(e.data)
	if err := enc.finish(); err != nil {
		return fmt.Errorf("save exact index: %w", err)
	}
	return nil
}

// LoadExact reads an index written by Exact.Save. Truncated or corrupt
// input is refused with an error wrapping ErrCorrupt.
func LoadExact(ctx context.Context, r io.Reader) (*Exact, error) {
	e, err := loadExact(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("load exact index: %w", err)
	}
	return e, nil
}

func loadExact(ctx context.Context, r io.Reader) (*Exact, error) {
	d := newDecoder(r)
	d.header(exactMagic, exactVersion, exactVersion)
	dim := int(d.u32())
	n := d.u64()
	if d.err != nil {
		return nil, d.err
	}
	if err := checkDim(dim); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if n > maxItems {
		return nil, fmt.Errorf("%w: %d items", ErrCorrupt, n)
	}
	e := &Exact{dim: dim, pos: make(map[string]int)}
	for i := 0; uint64(i) < n && d.err == nil; i++ {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		id := d.str()
		if _, dup := e.pos[id]; dup && d.err == nil {
			d.fail("duplicate id %q", id)
		}
		e.pos[id] = i
		e.ids = append(e.ids, id)
	}
	e.data = d.f32s(nil, int(n)*dim)
	if err := d.finish(); err != nil {
		return nil, err
	}
	for i := range e.ids {
		if !unit(e.data[i*dim : (i+1)*dim]) {
			return nil, fmt.Errorf("%w: vector %d not a finite unit vector", ErrCorrupt, i)
		}
	}
	return e, nil
}

// maxItems bounds the item count a loader accepts; internal positions are
// int32.
const maxItems = 1<<31 - 1
