package index

import (
	"encoding/binary"
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
// do not copy the array to the heap. Where searches run on the codes, the
// vectors' pages are let go of once the load has checked them
// (releaseMapped): the index's resident memory is its codes and lists, and
// the vectors are read back from the file by what asks for one (Vector,
// Save, Rebuild, and an add that outgrows the room, which copies the
// array to the heap).
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
	if d.f != nil && littleEndian && (d.base+d.off)%pageAlign == 0 && d.fits(n) {
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

// as views the bytes of b, capacity included, as elements of T.
func as[T int8 | int32 | float32](b []byte) []T {
	if cap(b) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(T(0)))
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), cap(b)/size)[:len(b)/size]
}
