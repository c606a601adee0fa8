package tower

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"unsafe"

	"github.com/klauspost/compress/zstd"
)

// The model file:
//
//	magic     8 bytes  "DUETTWR1"
//	version   uint32   little-endian; 1, or 2 for a model of several members
//	hdrLen    uint32   length of the header
//	header    JSON     fileHeader: the config and the sizes of the body
//	bodyLen   uint64   length of the compressed body
//	body      zstd     the vocabularies, item features and weights
//	crc       uint32   CRC-32C (Castagnoli) of every byte before it
//
// The body, before compression, holds in order: the item ids, the category
// vocabulary and the user ids (each a uvarint count, then uvarint-length
// strings), every catalog item's features (uvarint token count, tokens,
// uvarint category count, categories), then the weight tables in
// params.all order, each a uvarint count of float32 values in
// little-endian IEEE 754. A version 2 file (Config.Members > 1) holds one
// such set of tables per member, in order; a model of one member is
// written as version 1, which every reader reads.

const (
	modelMagic          = "DUETTWR1"
	modelVersion        = 1
	modelVersionMembers = 2

	maxHeaderLen = 1 << 20
	maxBodyLen   = 1 << 36
	maxItems     = 1 << 28
	maxStringLen = 1 << 16
)

type fileHeader struct {
	Config     Config `json:"config"`
	Items      int    `json:"items"`
	Categories int    `json:"categories"`
	Users      int    `json:"users"`
	RawLen     int64  `json:"raw_len"` // body length before compression
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Save writes the model to w in the model file format. The item ids, the
// category vocabulary and the cached item features travel with the weights,
// so a loaded model maps catalog ids to its id embeddings by itself.
func (m *Model) Save(w io.Writer) error {
	raw := m.appendBody(nil)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	body := enc.EncodeAll(raw, nil)
	enc.Close()
	hdr, err := json.Marshal(fileHeader{Config: m.Config(), Items: len(m.items), Categories: len(m.cats), Users: len(m.users), RawLen: int64(len(raw))})
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	var head []byte
	head = append(head, modelMagic...)
	version := uint32(modelVersion)
	if m.members != nil {
		version = modelVersionMembers
	}
	head = binary.LittleEndian.AppendUint32(head, version)
	head = binary.LittleEndian.AppendUint32(head, uint32(len(hdr)))
	head = append(head, hdr...)
	head = binary.LittleEndian.AppendUint64(head, uint64(len(body)))
	crc := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, body)
	for _, b := range [][]byte{head, body, binary.LittleEndian.AppendUint32(nil, crc)} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("save model: %w", err)
		}
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (m *Model) appendBody(b []byte) []byte {
	for _, list := range [][]string{m.items, m.cats, m.users} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, s := range list {
			b = appendString(b, s)
		}
	}
	for i := range m.feats {
		f := &m.feats[i]
		for _, ids := range [][]int32{f.toks, f.cats} {
			b = binary.AppendUvarint(b, uint64(len(ids)))
			for _, x := range ids {
				b = binary.AppendUvarint(b, uint64(x))
			}
		}
	}
	members := m.members
	if members == nil {
		members = []*Model{m}
	}
	for _, mm := range members {
		for _, p := range mm.p.all() {
			b = binary.AppendUvarint(b, uint64(len(*p)))
			for _, x := range *p {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
			}
		}
	}
	return b
}

// Load reads a model written by Save. A file that is truncated, corrupt or
// not a model file gives an error wrapping ErrBadModel; a file of another
// format version, one wrapping ErrModelVersion.
func Load(r io.Reader) (*Model, error) {
	m, err := load(r)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	if m.members == nil {
		m.tabulateItemSums()
	}
	for _, mm := range m.members {
		mm.tabulateItemSums()
	}
	return m, nil
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadModel}, args...)...)
}

func load(r io.Reader) (*Model, error) {
	var pre [16]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, bad("reading the preamble: %v", err)
	}
	if string(pre[:8]) != modelMagic {
		return nil, bad("not a model file (magic %q)", pre[:8])
	}
	version := binary.LittleEndian.Uint32(pre[8:])
	if version != modelVersion && version != modelVersionMembers {
		return nil, fmt.Errorf("%w: version %d, this build reads %d and %d", ErrModelVersion, version, modelVersion, modelVersionMembers)
	}
	hlen := binary.LittleEndian.Uint32(pre[12:])
	if hlen > maxHeaderLen {
		return nil, bad("header length %d", hlen)
	}
	head, err := readN(r, int64(hlen)+8)
	if err != nil {
		return nil, bad("reading the header: %v", err)
	}
	blen := binary.LittleEndian.Uint64(head[hlen:])
	if blen > maxBodyLen {
		return nil, bad("body length %d", blen)
	}
	body, err := readN(r, int64(blen)+4)
	if err != nil {
		return nil, bad("reading the body: %v", err)
	}
	crc := crc32.Update(crc32.Update(crc32.Checksum(pre[:], castagnoli), castagnoli, head), castagnoli, body[:blen])
	if want := binary.LittleEndian.Uint32(body[blen:]); crc != want {
		return nil, bad("checksum %08x, file says %08x", crc, want)
	}
	body = body[:blen]

	var h fileHeader
	if err := json.Unmarshal(head[:hlen], &h); err != nil {
		return nil, bad("header: %v", err)
	}
	cfg := h.Config
	if err := cfg.validate(); err != nil {
		return nil, bad("header: %v", err)
	}
	cfg.Members = max(cfg.Members, 1)
	if (version == modelVersionMembers) != (cfg.Members > 1) {
		return nil, bad("header: version %d with %d members", version, cfg.Members)
	}
	if h.Items < 0 || h.Items > maxItems || h.Categories < 0 || h.Categories > maxItems || h.Users < 0 || h.Users > maxItems ||
		h.RawLen < 0 || h.RawLen > maxBodyLen || (!cfg.UserID && h.Users != 0) {
		return nil, bad("header: sizes %+v", h)
	}
	// The weights alone fix a lower bound on the body: a header asking for
	// more than the body holds is caught before any large allocation.
	d := int64(cfg.Dim)
	want := (int64(h.Items) + int64(cfg.Buckets) + int64(h.Categories) + int64(h.Users) + int64(cfg.HistoryLen) + 3*d + 2) * d * 4 * int64(cfg.Members)
	if h.RawLen < want {
		return nil, bad("body of %d bytes cannot hold the weights (%d)", h.RawLen, want)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max(h.RawLen+1, 8<<20))))
	if err != nil {
		return nil, bad("%v", err)
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(body, nil)
	if err != nil {
		return nil, bad("decompressing: %v", err)
	}
	if int64(len(raw)) != h.RawLen {
		return nil, bad("body is %d bytes, header says %d", len(raw), h.RawLen)
	}
	if _, err := analyzer(); err != nil {
		return nil, err
	}
	return parseBody(raw, cfg, h)
}

// readN reads exactly n bytes, growing the buffer only as data arrives so
// that a corrupt length cannot force a large allocation.
func readN(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if got != n {
		return nil, io.ErrUnexpectedEOF
	}
	return buf.Bytes(), nil
}

// bodyReader reads the uncompressed body, remembering the first error.
type bodyReader struct {
	b   []byte
	err error
}

func (br *bodyReader) uvarint(limit uint64) uint64 {
	if br.err != nil {
		return 0
	}
	v, n := binary.Uvarint(br.b)
	if n <= 0 {
		br.err = bad("truncated body")
		return 0
	}
	if v > limit {
		br.err = bad("value %d over %d", v, limit)
		return 0
	}
	br.b = br.b[n:]
	return v
}

func (br *bodyReader) strings(count int) []string {
	if n := br.uvarint(maxItems); br.err == nil && int(n) != count {
		br.err = bad("%d strings, header says %d", n, count)
	}
	if br.err != nil {
		return nil
	}
	out := make([]string, count)
	for i := range out {
		n := br.uvarint(maxStringLen)
		if br.err != nil {
			return nil
		}
		if uint64(len(br.b)) < n {
			br.err = bad("truncated body")
			return nil
		}
		out[i] = string(br.b[:n])
		br.b = br.b[n:]
	}
	return out
}

func (br *bodyReader) ids(limit int, maxCount uint64) []int32 {
	n := br.uvarint(maxCount)
	if br.err != nil || n == 0 {
		return nil
	}
	if uint64(len(br.b)) < n {
		br.err = bad("truncated body")
		return nil
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(br.uvarint(uint64(limit - 1)))
	}
	return out
}

// littleEndian is set where the machine's byte order is the file's.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func (br *bodyReader) floats(count int64) []float32 {
	n := br.uvarint(math.MaxInt64)
	if br.err == nil && int64(n) != count {
		br.err = bad("table of %d weights, want %d", n, count)
	}
	if br.err != nil {
		return nil
	}
	if int64(len(br.b)) < 4*count {
		br.err = bad("truncated body")
		return nil
	}
	out := make([]float32, count)
	if littleEndian && count > 0 {
		// The file's order is the machine's: the bytes are the floats.
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*count), br.b)
	} else {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(br.b[4*i:]))
		}
	}
	br.b = br.b[4*count:]
	return out
}

func parseBody(raw []byte, cfg Config, h fileHeader) (*Model, error) {
	br := &bodyReader{b: raw}
	m := &Model{cfg: cfg}
	m.items = br.strings(h.Items)
	m.cats = br.strings(h.Categories)
	m.users = br.strings(h.Users)
	if br.err != nil {
		return nil, br.err
	}
	m.feats = make([]features, h.Items)
	for i := range m.feats {
		m.feats[i].toks = br.ids(cfg.Buckets, maxItemTokens)
		m.feats[i].cats = br.ids(max(h.Categories, 1), 1<<16)
		if br.err != nil {
			return nil, br.err
		}
		if h.Categories == 0 && len(m.feats[i].cats) > 0 {
			return nil, bad("item %d has categories, the vocabulary is empty", i)
		}
	}
	d := int64(cfg.Dim)
	sizes := []int64{int64(h.Items) * d, int64(cfg.Buckets) * d, int64(h.Categories) * d, int64(h.Users) * d,
		int64(cfg.HistoryLen) * d, d * d, d * d, d, d * d, d}
	ps := make([]params, cfg.Members)
	for j := range ps {
		for k, t := range ps[j].all() {
			*t = br.floats(sizes[k])
		}
		if h.Users == 0 {
			ps[j].user = nil
		}
	}
	if br.err != nil {
		return nil, br.err
	}
	if len(br.b) != 0 {
		return nil, bad("%d bytes after the weights", len(br.b))
	}
	m.itemIndex = make(map[string]int32, len(m.items))
	for i, id := range m.items {
		m.itemIndex[id] = int32(i)
	}
	m.catIndex = make(map[string]int32, len(m.cats))
	for i, c := range m.cats {
		m.catIndex[c] = int32(i)
	}
	if cfg.UserID {
		m.userIndex = make(map[string]int32, len(m.users))
		for i, u := range m.users {
			m.userIndex[u] = int32(i)
		}
	}
	if cfg.Members == 1 {
		m.p = ps[0]
		return m, nil
	}
	m.members = make([]*Model, cfg.Members)
	for k := range m.members {
		m.members[k] = m.member(k)
		m.members[k].p = ps[k]
	}
	return m, nil
}

// LoadFile reads the model file at path (see Load).
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Load(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}
