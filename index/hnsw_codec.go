package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"unsafe"
)

// The binary formats of Exact and HNSW share this framing: an 8-byte magic,
// a little-endian uint32 version, the body, and a CRC-32C of everything
// before it. The checksum lets a loader tell a damaged file from a valid one
// that merely looks odd.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type encoder struct {
	w   *bufio.Writer
	crc hash.Hash32
	err error
	buf []byte
	off int64 // bytes written
}

func newEncoder(w io.Writer) *encoder {
	return &encoder{w: bufio.NewWriterSize(w, 1<<16), crc: crc32.New(castagnoli), buf: make([]byte, 0, 1<<14)}
}

func (e *encoder) write(p []byte) {
	if e.err != nil {
		return
	}
	e.crc.Write(p)
	_, e.err = e.w.Write(p)
	e.off += int64(len(p))
}

// pad writes zeros up to the next multiple of align.
func (e *encoder) pad(align int64) {
	if n := (align - e.off%align) % align; n > 0 {
		e.write(make([]byte, n))
	}
}

func (e *encoder) u8(v uint8) { e.write([]byte{v}) }

func (e *encoder) u32(v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	e.write(b[:])
}

func (e *encoder) u64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	e.write(b[:])
}

func (e *encoder) str(s string) {
	e.u32(uint32(len(s)))
	e.write([]byte(s))
}

func (e *encoder) f32s(v []float32) {
	for len(v) > 0 {
		n := min(len(v), cap(e.buf)/4)
		b := e.buf[:4*n]
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		e.write(b)
		v = v[n:]
	}
}

func (e *encoder) i32s(v []int32) {
	for len(v) > 0 {
		n := min(len(v), cap(e.buf)/4)
		b := e.buf[:4*n]
		for i, x := range v[:n] {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
		}
		e.write(b)
		v = v[n:]
	}
}

// finish appends the checksum and flushes.
func (e *encoder) finish() error {
	if e.err != nil {
		return e.err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], e.crc.Sum32())
	if _, err := e.w.Write(b[:]); err != nil {
		return err
	}
	return e.w.Flush()
}

// decoder reads what encoder wrote. The first error sticks; every read after
// it returns zero values, so a loader can check once per section. Counts
// come from untrusted input, so bulk reads grow their slices as bytes
// arrive instead of allocating what the header claims.
type decoder struct {
	r   *bufio.Reader
	crc hash.Hash32
	err error
	buf []byte
	// left is how many bytes the input has left when it is a file, -1
	// otherwise: a count whose bytes are there can be allocated at once.
	left int64
	off  int64    // bytes read
	f    *os.File // the input, when it is a file: sections can be mapped
	base int64    // where in f the input begins
}

func newDecoder(r io.Reader) *decoder {
	d := &decoder{r: bufio.NewReaderSize(r, 1<<16), crc: crc32.New(castagnoli), buf: make([]byte, 1<<14), left: -1}
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if at, err := f.Seek(0, io.SeekCurrent); err == nil {
				d.left = st.Size() - at
				d.f, d.base = f, at
			}
		}
	}
	return d
}

// fits reports whether the input has n more bytes for certain.
func (d *decoder) fits(n int) bool { return d.left >= 0 && int64(n) <= d.left }

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) read(p []byte) bool {
	if d.err != nil {
		return false
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			d.fail("truncated")
		} else {
			d.err = err
		}
		return false
	}
	d.crc.Write(p)
	if d.left >= 0 {
		d.left -= int64(len(p))
	}
	d.off += int64(len(p))
	return true
}

// pad reads the zeros encoder.pad wrote.
func (d *decoder) pad(align int64) {
	n := (align - d.off%align) % align
	if n == 0 || d.err != nil {
		return
	}
	b := make([]byte, n)
	if d.read(b) && slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
		d.fail("padding at byte %d is not zeros", d.off-n)
	}
}

// skip moves a file's decoder n bytes on, past bytes the caller took in
// (and checksummed) by other means.
func (d *decoder) skip(n int64) {
	if d.err != nil {
		return
	}
	if !d.fits(int(n)) {
		d.fail("truncated")
		return
	}
	d.off += n
	d.left -= n
	if _, err := d.f.Seek(d.base+d.off, io.SeekStart); err != nil {
		d.err = err
		return
	}
	d.r.Reset(d.f)
}

func (d *decoder) u8() uint8 {
	var b [1]byte
	d.read(b[:])
	return b[0]
}

func (d *decoder) u32() uint32 {
	var b [4]byte
	if !d.read(b[:]) {
		return 0
	}
	return binary.LittleEndian.Uint32(b[:])
}

func (d *decoder) u64() uint64 {
	var b [8]byte
	if !d.read(b[:]) {
		return 0
	}
	return binary.LittleEndian.Uint64(b[:])
}

// maxIDLen bounds an id so that a corrupt length cannot ask for gigabytes.
const maxIDLen = 1 << 16

func (d *decoder) str() string {
	n := d.u32()
	if n > maxIDLen {
		d.fail("id of %d bytes", n)
	}
	if d.err != nil {
		return ""
	}
	b := make([]byte, n)
	d.read(b)
	return string(b)
}

// littleEndian is set where the machine's order is the formats': there,
// bulk reads land in their slices' memory directly.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bulkRead is how many elements a bulk read takes at a time, so that a
// lying count cannot make a large allocation before its bytes arrive.
const bulkRead = 1 << 16

func (d *decoder) f32s(dst []float32, n int) []float32 {
	if d.fits(4 * n) {
		dst = growHuge(dst, n)
	}
	for n > 0 && d.err == nil {
		m := min(n, bulkRead)
		start := len(dst)
		dst = slices.Grow(dst, m)[:start+m]
		if !d.words(unsafe.Pointer(&dst[start]), m) {
			return dst[:start]
		}
		n -= m
	}
	return dst
}

func (d *decoder) i32s(dst []int32, n int) []int32 {
	if d.fits(4 * n) {
		dst = growHuge(dst, n)
	}
	for n > 0 && d.err == nil {
		m := min(n, bulkRead)
		start := len(dst)
		dst = slices.Grow(dst, m)[:start+m]
		if !d.words(unsafe.Pointer(&dst[start]), m) {
			return dst[:start]
		}
		n -= m
	}
	return dst
}

// words reads n little-endian 32-bit words into the memory at p.
func (d *decoder) words(p unsafe.Pointer, n int) bool {
	b := unsafe.Slice((*byte)(p), 4*n)
	if !d.read(b) {
		return false
	}
	if !littleEndian {
		w := unsafe.Slice((*uint32)(p), n)
		for i := range w {
			w[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	return true
}

// header checks the magic and version.
// header reads the magic and a version from lo to hi, which it returns.
func (d *decoder) header(magic string, lo, hi uint32) uint32 {
	b := make([]byte, len(magic))
	if !d.read(b) {
		return 0
	}
	if string(b) != magic {
		d.fail("not a %s file (magic %q)", magic, b)
		return 0
	}
	v := d.u32()
	if d.err == nil && (v < lo || v > hi) {
		if lo == hi {
			d.fail("format version %d, want %d", v, hi)
		} else {
			d.fail("format version %d, want %d to %d", v, lo, hi)
		}
	}
	return v
}

// finish verifies the checksum.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	sum := d.crc.Sum32()
	var b [4]byte
	if _, err := io.ReadFull(d.r, b[:]); err != nil {
		return fmt.Errorf("%w: truncated checksum", ErrCorrupt)
	}
	if got := binary.LittleEndian.Uint32(b[:]); got != sum {
		return fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	return nil
}

// unit reports whether v is a finite vector of length 1 (to float32
// rounding): every index stores only such vectors, and a loaded one that is
// not would break the scores and the graph's assumptions.
func unit(v []float32) bool {
	var ss float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
		ss += f * f
	}
	return math.Abs(ss-1) < 1e-3
}
