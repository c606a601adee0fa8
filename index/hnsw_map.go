package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"
)

// An HNSW file of version 2 keeps the arrays a search reads (vectors,
// codes, scales, layer-0 lists) as they lie in memory, each section at a
// multiple of pageAlign bytes, so that a load from a file maps them
// instead of decoding them: a 1M-vector index is ready once its ids are
// read and its checksum and links are checked, and the arrays share the
// page cache. The mappings are private: the index's own writes (live
// edits) stay in its memory and never reach the file. Each is followed by
// zeroed memory the array can grow into, so the first adds after a load
// do not copy the array to the heap. The vectors are checked through
// reads of the file, not through their mapping (coldSection): where
// searches run on the codes, the index's resident memory is its codes and
// lists, and the vectors are read from the file by what asks for one
// (Vector, Save, Rebuild, and an add that outgrows the room, which copies
// the array to the heap).
const pageAlign = 4096

// section returns the next n bytes of the input, little-endian elements
// of size bytes, as memory the index keeps in the machine's order,
// followed by room bytes of zeroed capacity where they are mapped: mapped
// from the file where the input is a file the platform can map (and the
// machine is little-endian), read into the heap otherwise. A mapping is
// added to maps, for Close.
func (d *decoder) section(n, size, room int, maps *[][]byte) []byte {
	if d.err != nil || n == 0 {
		return nil
	}
	if d.mappable(n) {
		if mem, b, err := mapSection(d.f, d.base+d.off, n, room); err == nil {
			*maps = append(*maps, mem)
			d.crc.Write(b)
			d.skip(int64(n))
			return b
		}
	}
	var b []byte
	if d.fits(n) {
		b = makeHuge[byte](n)
		d.read(b)
	} else {
		// Grown as the bytes arrive: a lying header cannot make a large
		// allocation.
		for left := n; left > 0 && d.err == nil; {
			c := min(left, 1<<20)
			start := len(b)
			b = growHuge(b, c)[:start+c]
			d.read(b[start:])
			left -= c
		}
	}
	if d.err != nil {
		return nil
	}
	if !littleEndian && size == 4 {
		for i := 0; i+4 <= len(b); i += 4 {
			binary.NativeEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
		}
	}
	return b
}

// mappable reports whether the next n bytes of the input can be mapped.
func (d *decoder) mappable(n int) bool {
	return d.f != nil && littleEndian && (d.base+d.off)%pageAlign == 0 && d.fits(n)
}

// coldSection is section for an array of 32-bit elements the index keeps
// but may never read (the vectors): where it is mapped, its bytes are checksummed, and handed to check
// in chunks of a multiple of grain bytes, through reads of the file
// instead of through the mapping, so that the load leaves its pages out of
// the process's resident memory; read into the heap, it is handed to check
// whole.
func (d *decoder) coldSection(n, room, grain int, maps *[][]byte, check func([]byte)) []byte {
	var mem, b []byte
	err := errors.ErrUnsupported
	if d.err == nil && n > 0 && d.mappable(n) {
		mem, b, err = mapSection(d.f, d.base+d.off, n, room)
	}
	if err != nil {
		if b = d.section(n, 4, room, maps); b != nil {
			check(b)
		}
		return b
	}
	*maps = append(*maps, mem)
	buf := make([]byte, max(grain, (1<<20)/grain*grain))
	for at := 0; at < n; {
		c := buf[:min(len(buf), n-at)]
		if k, err := d.f.ReadAt(c, d.base+d.off+int64(at)); k < len(c) {
			d.err = fmt.Errorf("read at byte %d: %w", d.off+int64(at), err)
			return nil
		}
		d.crc.Write(c)
		check(c)
		at += len(c)
	}
	d.skip(int64(n))
	return b
}

// as views the bytes of b, capacity included, as elements of T.
func as[T int8 | int32 | float32](b []byte) []T {
	if cap(b) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(T(0)))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), cap(b)/size)[:len(b)/size]
}
