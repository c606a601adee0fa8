package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	hnswMagic   = "DUETHNSW"
	hnswVersion = 1
)

// Bits of the header's flags byte. FloatWalk was added without a version
// change: files without it read as before, and a reader that predates it
// refuses a file that sets it as corrupt rather than walk it differently.
const (
	flagDropPruned = 1 << iota
	flagFloatWalk
)

// Save writes the graph in a compact binary format: a versioned header with
// the options, the entry point, each node's id, level and tombstone, the
// vectors as raw little-endian float32, each node's neighbour lists (a
// count byte and int32 positions), and a CRC-32C. Searches continue while
// it runs; writes wait.
func (h *HNSW) Save(ctx context.Context, w io.Writer) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.mu.RLock()
	defer h.mu.RUnlock()
	if err := h.save(ctx, w); err != nil {
		return fmt.Errorf("save hnsw: %w", err)
	}
	return nil
}

func (h *HNSW) save(ctx context.Context, w io.Writer) error {
	e := newEncoder(w)
	e.write([]byte(hnswMagic))
	e.u32(hnswVersion)
	o := h.Options()
	e.u32(uint32(h.dim))
	e.u32(uint32(o.M))
	e.u32(uint32(o.EfConstruction))
	e.u32(uint32(o.EfSearch))
	e.u32(uint32(int32(o.ExactCutoff)))
	e.u64(o.Seed)
	var flags uint8
	if o.DropPruned {
		flags |= flagDropPruned
	}
	if o.FloatWalk {
		flags |= flagFloatWalk
	}
	e.u8(flags)
	n := len(h.ids)
	e.u32(uint32(n))
	ep, top, ok := h.loadTop()
	if !ok {
		ep, top = -1, 0
	}
	e.u32(uint32(ep))
	e.u8(uint8(top))
	for i, id := range h.ids {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e.str(id)
		e.u8(h.levels[i])
		if h.dead[i] {
			e.u8(1)
		} else {
			e.u8(0)
		}
	}
	e.f32s(h.vecs)
	for i := range n {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for l := 0; l <= int(h.levels[i]); l++ {
			sl := h.slot(int32(i), l)
			e.u8(uint8(sl[0]))
			e.i32s(sl[1 : 1+sl[0]])
		}
	}
	return e.finish()
}

// LoadHNSW reads an index written by HNSW.Save. Input that is truncated,
// corrupt (checksum, out-of-range ids or links, inconsistent levels) or of
// another format version is refused with an error wrapping ErrCorrupt.
func LoadHNSW(ctx context.Context, r io.Reader) (*HNSW, error) {
	h, err := loadHNSW(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("load hnsw: %w", err)
	}
	return h, nil
}

func loadHNSW(ctx context.Context, r io.Reader) (*HNSW, error) {
	d := newDecoder(r)
	d.header(hnswMagic, hnswVersion)
	dim := int(d.u32())
	var o HNSWOptions
	o.M = int(d.u32())
	o.EfConstruction = int(d.u32())
	o.EfSearch = int(d.u32())
	o.ExactCutoff = int(int32(d.u32()))
	o.Seed = d.u64()
	flags := d.u8()
	o.DropPruned = flags&flagDropPruned != 0
	o.FloatWalk = flags&flagFloatWalk != 0
	n := int(d.u32())
	ep := int32(d.u32())
	top := int(d.u8())
	if d.err != nil {
		return nil, d.err
	}
	switch {
	case checkDim(dim) != nil:
		return nil, fmt.Errorf("%w: dimension %d", ErrCorrupt, dim)
	case o.M < 2 || o.M > maxM:
		return nil, fmt.Errorf("%w: M %d", ErrCorrupt, o.M)
	case o.EfConstruction <= 0 || o.EfSearch <= 0 || o.ExactCutoff == 0:
		return nil, fmt.Errorf("%w: options %+v", ErrCorrupt, o)
	case flags&^(flagDropPruned|flagFloatWalk) != 0:
		return nil, fmt.Errorf("%w: flags %#x", ErrCorrupt, flags)
	case n < 0 || n > maxItems:
		return nil, fmt.Errorf("%w: %d nodes", ErrCorrupt, n)
	case n == 0 && ep != -1, n > 0 && (ep < 0 || int(ep) >= n), top > maxLevel:
		return nil, fmt.Errorf("%w: entry point %d at level %d of %d nodes", ErrCorrupt, ep, top, n)
	}
	h := newHNSW(dim, o, n)
	for i := 0; i < n && d.err == nil; i++ {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		id := d.str()
		level := d.u8()
		dead := d.u8()
		if d.err != nil {
			break
		}
		if int(level) > top || dead > 1 {
			d.fail("node %d: level %d (top %d), tombstone byte %d", i, level, top, dead)
			break
		}
		h.ids = append(h.ids, id)
		h.levels = append(h.levels, level)
		h.dead = append(h.dead, dead == 1)
		if dead == 1 {
			h.nDead++
			continue
		}
		if _, dup := h.pos[id]; dup {
			d.fail("duplicate id %q", id)
			break
		}
		h.pos[id] = int32(i)
	}
	// Vectors, like lists, are allocated as their bytes arrive, in
	// chunks, so that a lying header cannot make a large allocation.
	for left := n * dim; left > 0 && d.err == nil; {
		c := min(left, 1<<16)
		h.vecs = d.f32s(growHuge(h.vecs, c), c)
		left -= c
	}
	if d.err != nil {
		return nil, d.err
	}
	if n > 0 && int(h.levels[ep]) != top {
		return nil, fmt.Errorf("%w: entry point %d has level %d, header says %d", ErrCorrupt, ep, h.levels[ep], top)
	}
	// Lists are allocated as their bytes arrive, like the bulk reads.
	m := o.M
	for i := 0; i < n && d.err == nil; i++ {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		level := int(h.levels[i])
		var up []int32
		if level > 0 {
			up = make([]int32, level*(1+m))
		}
		h.upper = append(h.upper, up)
		for l := 0; l <= level && d.err == nil; l++ {
			c := int(d.u8())
			capacity := m
			if l == 0 {
				capacity = 2 * m
			}
			if c > capacity {
				d.fail("node %d level %d: %d links, capacity %d", i, l, c, capacity)
				break
			}
			var sl []int32
			if l == 0 {
				start := len(h.links0)
				h.links0 = append(growHuge(h.links0, 1+capacity), int32(c))
				h.links0 = d.i32s(h.links0, c)
				h.links0 = append(h.links0, make([]int32, capacity-c)...)
				sl = h.links0[start:]
			} else {
				sl = h.slot(int32(i), l)
				got := d.i32s(sl[1:1], c)
				sl[0] = int32(len(got))
			}
			if d.err != nil {
				break
			}
			for _, x := range sl[1 : 1+c] {
				// A link may point only to a node that exists on this level.
				if x < 0 || int(x) >= n || int(x) == i || int(h.levels[x]) < l {
					d.fail("node %d level %d: bad link %d", i, l, x)
					break
				}
			}
		}
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	for i := range n {
		if !unit(h.vec(int32(i))) {
			return nil, fmt.Errorf("%w: vector %d not a finite unit vector", ErrCorrupt, i)
		}
	}
	h.encodeAll()
	if n > 0 {
		h.storeTop(ep, top)
	}
	return h, nil
}

// hnswHeaderLen is the size of the header save writes: magic, version,
// dim, M, efConstruction, efSearch, exact cutoff, seed, flags, node count,
// entry point and top level.
const hnswHeaderLen = len(hnswMagic) + 4 + 5*4 + 8 + 1 + 4 + 4 + 1

// HNSWSections are the parts of a file HNSW.Save wrote, header and
// checksum left out.
type HNSWSections struct {
	IDs     []byte // per node: a u32 length, the id, a level and a tombstone byte
	Vectors []byte // nodes × dim little-endian float32
	Lists   []byte // per node and level: a count byte and int32 positions
}

// SplitHNSW cuts a file HNSW.Save wrote into its sections, sharing b's
// storage: for measuring how each part compresses. Only the lengths are
// read; LoadHNSW is what checks a file.
func SplitHNSW(b []byte) (HNSWSections, error) {
	var s HNSWSections
	if len(b) < hnswHeaderLen+4 || string(b[:len(hnswMagic)]) != hnswMagic {
		return s, fmt.Errorf("%w: not an HNSW file", ErrCorrupt)
	}
	dim := int(binary.LittleEndian.Uint32(b[len(hnswMagic)+4:]))
	n := int(binary.LittleEndian.Uint32(b[hnswHeaderLen-9:]))
	off := hnswHeaderLen
	for range n {
		if off+4 > len(b) {
			return s, fmt.Errorf("%w: truncated ids", ErrCorrupt)
		}
		off += 4 + int(binary.LittleEndian.Uint32(b[off:])) + 2
	}
	end := off + 4*n*dim
	if off > len(b) || end > len(b)-4 || end < off {
		return s, fmt.Errorf("%w: truncated vectors", ErrCorrupt)
	}
	s.IDs, s.Vectors, s.Lists = b[hnswHeaderLen:off], b[off:end], b[end:len(b)-4]
	return s, nil
}
