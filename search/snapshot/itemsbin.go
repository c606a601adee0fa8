package snapshot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/parallel"
)

// The catalogue's binary file, items.bin, is what a load reads fastest:
// parsing a million items' JSON took most of a 1M snapshot's load. It is
// the magic and a version, then chunks, each an item count, the length of
// its items' encoding and the length of that encoding as one zstd frame,
// then the frame; a zero count ends the file. Chunks decode in parallel.
//
// An item's encoding is its id, title and description, its tags, its
// categories (each a uvarint count of uvarint-length strings), its
// attributes in key order (a count, then a key, a kind byte, 0 for a
// string and 1 for a number, and the value: a string or a little-endian
// float64), and its two times (a length byte and time.MarshalBinary's
// bytes; length 0 for the zero time).
const (
	itemsMagic   = "DUETITMS"
	itemsVersion = 1
	// A chunk ends at chunkItems items or once it passes chunkBytes: the
	// largest item (content's limits) keeps a chunk below maxChunkBytes.
	chunkItems    = 4096
	chunkBytes    = 1 << 20
	maxChunkBytes = 4 << 20
)

// writeItemsBin writes items as items.bin.
func writeItemsBin(w io.Writer, items []content.Item) error {
	enc, err := newChunkEncoder()
	if err != nil {
		return err
	}
	defer enc.Close()
	head := append([]byte(itemsMagic), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(head[len(itemsMagic):], itemsVersion)
	if _, err := w.Write(head); err != nil {
		return err
	}
	var raw, frame []byte
	for len(items) > 0 {
		raw = raw[:0]
		n := 0
		for n < len(items) && n < chunkItems && len(raw) < chunkBytes {
			raw = appendItem(raw, &items[n])
			n++
		}
		items = items[n:]
		frame = enc.EncodeAll(raw, frame[:0])
		var h [12]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(n))
		binary.LittleEndian.PutUint32(h[4:], uint32(len(raw)))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(frame)))
		if _, err := w.Write(h[:]); err != nil {
			return err
		}
		if _, err := w.Write(frame); err != nil {
			return err
		}
	}
	_, err = w.Write(make([]byte, 4))
	return err
}

// newChunkEncoder returns the compressor of items.bin's chunks.
func newChunkEncoder() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	tb, err := t.MarshalBinary()
	if err != nil || len(tb) > math.MaxUint8 {
		// Only a zone offset that is not a whole minute fails; the
		// store's times are UTC.
		tb, _ = t.UTC().MarshalBinary()
	}
	return append(append(b, byte(len(tb))), tb...)
}

func appendItem(b []byte, it *content.Item) []byte {
	b = appendString(b, it.ID)
	b = appendString(b, it.Title)
	b = appendString(b, it.Description)
	b = appendStrings(b, it.Tags)
	b = appendStrings(b, it.Categories)
	b = binary.AppendUvarint(b, uint64(len(it.Attributes)))
	for _, k := range sortedKeys(it.Attributes) {
		v := it.Attributes[k]
		b = appendString(b, k)
		if v.IsNum {
			b = binary.LittleEndian.AppendUint64(append(b, 1), math.Float64bits(v.Num))
		} else {
			b = appendString(append(b, 0), v.Str)
		}
	}
	b = appendTime(b, it.CreatedAt)
	return appendTime(b, it.UpdatedAt)
}

// chunkRef is where a chunk of items.bin lies.
type chunkRef struct {
	count int
	raw   int
	frame []byte
}

// readItemsBin reads items.bin at path: the items of each chunk, in file
// order, each one validated.
func readItemsBin(ctx context.Context, path string) ([][]content.Item, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadSnapshot, fileItemsBin, fmt.Sprintf(format, args...))
	}
	if len(b) < len(itemsMagic)+4 || string(b[:len(itemsMagic)]) != itemsMagic {
		return nil, bad("not an items file")
	}
	if v := binary.LittleEndian.Uint32(b[len(itemsMagic):]); v != itemsVersion {
		return nil, bad("version %d, want %d", v, itemsVersion)
	}
	var chunks []chunkRef
	for off := len(itemsMagic) + 4; ; {
		if len(b)-off < 4 {
			return nil, bad("truncated")
		}
		count := int(binary.LittleEndian.Uint32(b[off:]))
		if count == 0 {
			if off+4 != len(b) {
				return nil, bad("%d bytes after the end", len(b)-off-4)
			}
			break
		}
		if len(b)-off < 12 {
			return nil, bad("truncated")
		}
		raw := int(binary.LittleEndian.Uint32(b[off+4:]))
		size := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 12
		switch {
		case count > chunkItems || raw > maxChunkBytes || raw < count:
			return nil, bad("chunk %d: %d items in %d bytes", len(chunks), count, raw)
		case size > len(b)-off:
			return nil, bad("truncated")
		}
		chunks = append(chunks, chunkRef{count, raw, b[off : off+size]})
		off += size
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(parallel.Workers(0, len(chunks))), zstd.WithDecoderMaxMemory(maxChunkBytes))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	out := make([][]content.Item, len(chunks))
	err = parallel.For(ctx, len(chunks), 0, func(_, i int) error {
		c := chunks[i]
		raw, err := dec.DecodeAll(c.frame, make([]byte, 0, c.raw))
		if err != nil || len(raw) != c.raw {
			return bad("chunk %d does not decompress to its %d bytes", i, c.raw)
		}
		items := make([]content.Item, c.count)
		// The items' strings are cut from the decoded chunk, which
		// nothing writes to after this: no copy of it is needed.
		r := itemReader{s: unsafe.String(unsafe.SliceData(raw), len(raw))}
		for j := range items {
			r.item(&items[j])
			if r.err != nil {
				return bad("chunk %d item %d: %v", i, j, r.err)
			}
			if err := items[j].Validate(); err != nil {
				return bad("chunk %d item %d: %v", i, j, err)
			}
		}
		if len(r.s) != 0 {
			return bad("chunk %d: %d bytes after its items", i, len(r.s))
		}
		out[i] = items
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

var errShort = errors.New("truncated")

// itemReader decodes items from one chunk. Their strings are substrings
// of the chunk's: one allocation for the chunk instead of several an item.
type itemReader struct {
	s   string
	err error
}

func (r *itemReader) uvarint(max uint64) int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint([]byte(r.s[:min(len(r.s), binary.MaxVarintLen64)]))
	switch {
	case n <= 0:
		r.err = errShort
		return 0
	case v > max:
		r.err = fmt.Errorf("count or length %d, at most %d", v, max)
		return 0
	}
	r.s = r.s[n:]
	return int(v)
}

func (r *itemReader) take(n int) string {
	if r.err != nil {
		return ""
	}
	if n > len(r.s) {
		r.err = errShort
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *itemReader) str(max int) string { return r.take(r.uvarint(uint64(max))) }

func (r *itemReader) strs(maxCount, maxLen int) []string {
	n := r.uvarint(uint64(maxCount))
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.str(maxLen)
	}
	return out
}

func (r *itemReader) time() time.Time {
	var t time.Time
	n := r.take(1)
	if r.err != nil || n[0] == 0 {
		return t
	}
	b := r.take(int(n[0]))
	if r.err == nil {
		r.err = t.UnmarshalBinary([]byte(b))
	}
	return t
}

func (r *itemReader) item(it *content.Item) {
	it.ID = r.str(content.MaxIDBytes)
	it.Title = r.str(content.MaxTitleBytes)
	it.Description = r.str(content.MaxDescriptionBytes)
	it.Tags = r.strs(content.MaxTags, content.MaxLabelBytes)
	it.Categories = r.strs(content.MaxCategories, content.MaxLabelBytes)
	if n := r.uvarint(content.MaxAttributes); n > 0 {
		it.Attributes = make(map[string]content.Value, n)
		prev := ""
		for i := 0; i < n && r.err == nil; i++ {
			k := r.str(content.MaxLabelBytes)
			switch kind := r.take(1); {
			case r.err != nil:
			case i > 0 && k <= prev:
				r.err = fmt.Errorf("attribute %q out of order", k)
			case kind == "\x01":
				num := r.take(8)
				if r.err == nil {
					it.Attributes[k] = content.Number(math.Float64frombits(binary.LittleEndian.Uint64([]byte(num))))
				}
			case kind == "\x00":
				it.Attributes[k] = content.String(r.str(content.MaxAttrValueBytes))
			default:
				r.err = fmt.Errorf("attribute %q of kind %d", k, kind[0])
			}
			prev = k
		}
	}
	it.CreatedAt = r.time()
	it.UpdatedAt = r.time()
}
