package index

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"unsafe"
)

const (
	hnswMagic = "DUETHNSW"
	// hnswVersion is the format Save writes; LoadHNSW reads it, version
	// 2, which had no fine codes (they are made at load), and version 1,
	// which had no codes and kept the lists without their unused
	// capacity, unaligned.
	hnswVersion = 3
)

// Bits of the header's flags byte. FloatWalk was added without a version
// change: files without it read as before, and a reader that predates it
// refuses a file that sets it as corrupt rather than walk it differently.
const (
	flagDropPruned = 1 << iota
	flagFloatWalk
)

// Save writes the graph in a binary format: a versioned header with the
// options, the entry point, each node's id, level and tombstone; then,
// each starting at a multiple of 4096 bytes so that a load can map it (see
// hnsw_map.go), the vectors as little-endian float32, their int8 codes,
// the codes' scales, the fine codes and their scales
// (vec.QuantizeInt8Pair), and the layer-0 neighbour slots (a count and
// 2·M int32 positions a node); the upper layers' slots; and a CRC-32C.
// Searches continue while it runs; writes wait.
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
	e.pad(pageAlign)
	e.f32s(h.vecs)
	codes, scales, fine, fines := h.codes, h.scales, h.fine, h.fines
	if !h.coarse {
		// A machine without the fast kernel writes the codes for one
		// that has it.
		codes, scales, fine, fines = encodePairs(h.vecs, h.dim)
	}
	for _, c := range []struct {
		codes  []int8
		scales []float32
	}{{codes, scales}, {fine, fines}} {
		e.pad(pageAlign)
		if len(c.codes) > 0 {
			e.write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(c.codes))), len(c.codes)))
		}
		e.pad(pageAlign)
		e.f32s(c.scales)
	}
	e.pad(pageAlign)
	e.i32s(h.links0)
	e.pad(pageAlign)
	for i := range n {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if h.levels[i] > 0 {
			e.i32s(h.upper[i])
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
	version := d.header(hnswMagic, 1, hnswVersion)
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
	if d.fits(6 * n) {
		// Every node's entry takes at least 6 bytes: n is no lie, and the
		// map is made at its size instead of growing through it.
		h.pos = make(map[string]int32, n)
		h.ids, h.levels, h.dead = make([]string, 0, n), make([]uint8, 0, n), make([]bool, 0, n)
	}
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
	if version >= 2 {
		return h, h.loadSections(ctx, d, ep, top, version)
	}
	// Vectors, like lists, are allocated as their bytes arrive, in
	// chunks, so that a lying header cannot make a large allocation.
	if d.fits(4 * n * dim) {
		h.vecs = makeHuge[float32](n * dim)[:0]
	}
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
	// Lists are allocated as their bytes arrive, like the bulk reads,
	// unless the vectors of n nodes arrived: then n is no lie.
	m := o.M
	if n > 0 && len(h.vecs) == n*dim {
		h.links0 = makeHuge[int32](n * (1 + 2*m))[:0]
	}
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

// HNSWSections are the parts of a file HNSW.Save wrote, header, padding
// and checksum left out.
type HNSWSections struct {
	IDs     []byte // per node: a u32 length, the id, a level and a tombstone byte
	Vectors []byte // nodes × dim little-endian float32
	Codes   []byte // nodes × dim int8 codes and a float32 scale each (version 2), then the fine ones (version 3)
	Lists   []byte // layer-0 slots and upper-layer slots (version 1: per node and level, a count byte and int32 positions)
}

// SplitHNSW cuts a file HNSW.Save wrote into its sections: for measuring
// how each part compresses. IDs and Vectors share b's storage. Only the
// lengths are read; LoadHNSW is what checks a file.
func SplitHNSW(b []byte) (HNSWSections, error) {
	var s HNSWSections
	if len(b) < hnswHeaderLen+4 || string(b[:len(hnswMagic)]) != hnswMagic {
		return s, fmt.Errorf("%w: not an HNSW file", ErrCorrupt)
	}
	le := binary.LittleEndian
	version := le.Uint32(b[len(hnswMagic):])
	dim := int(le.Uint32(b[len(hnswMagic)+4:]))
	m := int(le.Uint32(b[len(hnswMagic)+8:]))
	n := int(le.Uint32(b[hnswHeaderLen-9:]))
	off, upper := hnswHeaderLen, 0
	for range n {
		if off+4 > len(b) {
			return s, fmt.Errorf("%w: truncated ids", ErrCorrupt)
		}
		off += 4 + int(le.Uint32(b[off:])) + 2
		if off <= len(b) {
			upper += int(b[off-2]) * (1 + m)
		}
	}
	if off > len(b) {
		return s, fmt.Errorf("%w: truncated ids", ErrCorrupt)
	}
	s.IDs = b[hnswHeaderLen:off]
	if version == 1 {
		end := off + 4*n*dim
		if end > len(b)-4 || end < off {
			return s, fmt.Errorf("%w: truncated vectors", ErrCorrupt)
		}
		s.Vectors, s.Lists = b[off:end], b[end:len(b)-4]
		return s, nil
	}
	// Versions 2 and 3: page-aligned sections.
	sizes := []int{4 * n * dim, n * dim, 4 * n, 4 * n * (1 + 2*m), 4 * upper}
	if version >= 3 {
		sizes = slices.Insert(sizes, 3, n*dim, 4*n)
	}
	sections := make([][]byte, len(sizes))
	for i, size := range sizes {
		off = (off + pageAlign - 1) / pageAlign * pageAlign
		if size < 0 || off+size > len(b)-4 || off+size < off {
			return s, fmt.Errorf("%w: truncated section %d", ErrCorrupt, i)
		}
		sections[i] = b[off : off+size]
		off += size
	}
	last := len(sections) - 2
	s.Vectors = sections[0]
	s.Codes = slices.Concat(sections[1:last]...)
	s.Lists = slices.Concat(sections[last:]...)
	return s, nil
}

// loadSections reads the sections of a version-2 or 3 file after the ids
// into h (n nodes, entry point ep at level top), mapping what it can, and
// checks them: the checksum, every link, and that the vectors are unit
// vectors. The mapped arrays get room for a quarter more nodes. The
// vectors are checked through reads of the file (coldSection): where
// searches run on the codes, they stay in the file until something asks
// for one (the first being, for a version-2 file, the making of both rows
// of codes from them).
func (h *HNSW) loadSections(ctx context.Context, d *decoder, ep int32, top int, version uint32) (err error) {
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	n, dim, m := len(h.ids), h.dim, h.opts.M
	room := max(n/4, 1024)
	// The vectors are checked as they are read; the first that is not a
	// unit vector is the error once the checksum holds.
	bad, seen := -1, 0
	checkUnit := func(b []byte) {
		v := as[float32](b)
		for o := 0; o+dim <= len(v); o += dim {
			if bad < 0 && !unit(v[o:o+dim]) {
				bad = seen
			}
			seen++
		}
	}
	d.pad(pageAlign)
	vecs := d.coldSection(4*n*dim, 4*room*dim, 4*dim, &h.maps, checkUnit)
	d.pad(pageAlign)
	codes := d.section(n*dim, 1, room*dim, &h.maps)
	d.pad(pageAlign)
	scales := d.section(4*n, 4, 4*room, &h.maps)
	var fine, fines []byte
	if version >= 3 {
		d.pad(pageAlign)
		fine = d.section(n*dim, 1, room*dim, &h.maps)
		d.pad(pageAlign)
		fines = d.section(4*n, 4, 4*room, &h.maps)
	}
	d.pad(pageAlign)
	links0 := d.section(4*n*(1+h.m0), 4, 4*room*(1+h.m0), &h.maps)
	d.pad(pageAlign)
	upper := 0
	for _, l := range h.levels {
		upper += int(l) * (1 + m)
	}
	ups := d.i32s(nil, upper)
	if err := d.finish(); err != nil {
		return err
	}
	if bad >= 0 {
		return fmt.Errorf("%w: vector %d not a finite unit vector", ErrCorrupt, bad)
	}
	if n > 0 && int(h.levels[ep]) != top {
		return fmt.Errorf("%w: entry point %d has level %d, header says %d", ErrCorrupt, ep, h.levels[ep], top)
	}
	h.vecs, h.links0 = as[float32](vecs), as[int32](links0)
	if h.coarse {
		h.codes, h.scales = as[int8](codes), as[float32](scales)
		h.fine, h.fines = as[int8](fine), as[float32](fines)
	}
	h.upper = make([][]int32, n)
	for i, l := range h.levels {
		if l > 0 {
			k := int(l) * (1 + m)
			h.upper[i], ups = ups[:k:k], ups[k:]
		}
	}
	for i := range n {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for l := 0; l <= int(h.levels[i]); l++ {
			sl := h.slot(int32(i), l)
			if c := int(sl[0]); c < 0 || c > len(sl)-1 {
				return fmt.Errorf("%w: node %d level %d: %d links, capacity %d", ErrCorrupt, i, l, c, len(sl)-1)
			}
			for _, x := range sl[1 : 1+sl[0]] {
				// A link may point only to a node that exists on this level.
				if x < 0 || int(x) >= n || int(x) == i || int(h.levels[x]) < l {
					return fmt.Errorf("%w: node %d level %d: bad link %d", ErrCorrupt, i, l, x)
				}
			}
		}
	}
	if h.coarse && version < 3 {
		h.encodeAll()
	}
	if n > 0 {
		h.storeTop(ep, top)
	}
	return nil
}

// Close releases the memory a loaded index maps from its file; the index
// must not be used after it. An index that maps nothing (built in memory,
// or read from a stream) has nothing to release, and Close does nothing.
func (h *HNSW) Close() error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.maps) == 0 {
		return nil
	}
	var err error
	for _, mem := range h.maps {
		if uerr := unmap(mem); err == nil {
			err = uerr
		}
	}
	// What pointed into the mappings is dropped: a use after Close fails
	// on empty arrays rather than on unmapped memory.
	h.maps, h.vecs, h.codes, h.scales, h.fine, h.fines, h.links0, h.upper = nil, nil, nil, nil, nil, nil, nil, nil
	h.pos = map[string]int32{}
	h.top.Store(emptyTop)
	return err
}
