package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/duetrec/duet/internal/vec"
)

// saveFile saves h into a file in a test directory and returns its path
// and bytes.
func saveFile(t *testing.T, h *HNSW) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := h.Save(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "vectors.idx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

func loadFile(t *testing.T, path string) *HNSW {
	t.Helper()
	v, err := LoadFile(context.Background(), KindHNSW, path)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*HNSW)
}

// TestHNSW_MappedLoad loads an index from its file, mapped, beside the
// same file decoded from a stream: both answer every query as the saved
// index did, take the same edits (more adds than the mapped arrays have
// room for, so they move to the heap part way) with the same answers
// after, leave the file as it was, and the mapped one releases its
// memory on Close.
func TestHNSW_MappedLoad(t *testing.T) {
	ctx := context.Background()
	const dim = 64 // where the int8 walk runs, when the machine has it
	d := clusteredData(sized(3000, 1200), dim, 20, 31)
	h, _ := buildHNSW(t, d, HNSWOptions{Seed: 9, M: 8})
	for i := 0; i < d.len(); i += 17 {
		h.Delete(d.ids[i])
	}
	path, saved := saveFile(t, h)
	mapped := loadFile(t, path)
	defer mapped.Close()
	if runtime.GOOS == "linux" && len(mapped.maps) == 0 {
		t.Fatal("the index was read, not mapped")
	}
	decoded, err := LoadHNSW(ctx, bytes.NewReader(saved))
	if err != nil {
		t.Fatal(err)
	}
	if len(decoded.maps) != 0 {
		t.Fatal("a stream was mapped")
	}
	q := clusteredQueries(100, dim, 20, 31)
	same := func(stage string, want *HNSW) {
		t.Helper()
		for i := range q.len() {
			a, _ := want.Search(ctx, q.row(i), 10, nil)
			b, _ := mapped.Search(ctx, q.row(i), 10, nil)
			c, _ := decoded.Search(ctx, q.row(i), 10, nil)
			if len(a) == 0 || !slices.Equal(a, b) || !slices.Equal(a, c) {
				t.Fatalf("%s, query %d:\n saved   %v\n mapped  %v\n decoded %v", stage, i, a, b, c)
			}
		}
		if mapped.Len() != want.Len() || decoded.Len() != want.Len() {
			t.Fatalf("%s: %d and %d items, want %d", stage, mapped.Len(), decoded.Len(), want.Len())
		}
	}
	same("loaded", h)
	room := max(d.len()/4, 1024)
	for i := range room + 100 {
		v := q.row(i % q.len())
		w := slices.Clone(v)
		w[i%dim] += 0.5
		id := fmt.Sprintf("new-%d", i)
		for _, x := range []*HNSW{mapped, decoded} {
			if err := x.Add(id, w); err != nil {
				t.Fatal(err)
			}
		}
		if i%3 == 0 {
			for _, x := range []*HNSW{mapped, decoded} {
				if err := x.Upsert(d.ids[i+1], v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	same("edited", decoded)
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, saved) {
		t.Fatalf("the file changed under the mapped index (%v)", err)
	}
	var again bytes.Buffer
	if err := decoded.Save(ctx, &again); err != nil {
		t.Fatal(err)
	}
	var mappedAgain bytes.Buffer
	if err := mapped.Save(ctx, &mappedAgain); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), mappedAgain.Bytes()) {
		t.Fatal("the edited mapped index saves differently from the decoded one")
	}
	if err := mapped.Close(); err != nil {
		t.Fatal(err)
	}
	if res, err := mapped.Search(ctx, q.row(0), 10, nil); err != nil || len(res) != 0 || mapped.Len() != 0 {
		t.Fatalf("after Close: %v %v, %d items", res, err, mapped.Len())
	}
}

// TestHNSW_MappedLoadRefusesDamage damages the sections a load maps: a
// flipped byte fails the checksum, and a bad link or a non-unit vector
// with the checksum made to match fail the structural checks.
func TestHNSW_MappedLoadRefusesDamage(t *testing.T) {
	ctx := context.Background()
	d := clusteredData(500, 64, 5, 32)
	h, _ := buildHNSW(t, d, HNSWOptions{Seed: 10, M: 8})
	_, good := saveFile(t, h)
	s, err := SplitHNSW(good)
	if err != nil {
		t.Fatal(err)
	}
	// Vectors share the file's bytes; the layer-0 slots follow the two
	// rows of codes and their scales, each section page-aligned.
	vectors := cap(good) - cap(s.Vectors)
	align := func(o int) int { return (o + pageAlign - 1) / pageAlign * pageAlign }
	n := d.len()
	links := align(align(align(align(align(vectors+4*n*64)+n*64)+4*n)+n*64) + 4*n)
	reseal := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
		return b
	}
	cases := []struct {
		name   string
		damage func(b []byte) []byte
		want   string
	}{
		{"flipped vector byte", func(b []byte) []byte { b[vectors+5] ^= 0x40; return b }, "checksum"},
		{"flipped link byte", func(b []byte) []byte { b[links+9] ^= 0x40; return b }, "checksum"},
		{"link out of range", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[links+4:], uint32(d.len()+5))
			return reseal(b)
		}, "bad link"},
		{"count beyond the slot", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[links:], 99)
			return reseal(b)
		}, "capacity"},
		{"vector not unit", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[vectors:], 0x40400000) // 3.0
			return reseal(b)
		}, "unit vector"},
		{"padding not zeros", func(b []byte) []byte { b[vectors-1] = 1; return reseal(b) }, "padding"},
		{"truncated", func(b []byte) []byte { return b[:vectors+100] }, "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vectors.idx")
			if err := os.WriteFile(path, c.damage(slices.Clone(good)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadFile(ctx, KindHNSW, path)
			if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
				t.Fatalf("err %v, want ErrCorrupt mentioning %q", err, c.want)
			}
		})
	}
}

// TestHNSW_SearchesLeaveVectorsAlone checks that a loaded index whose
// searches run on the codes never reads its float32 vectors, which a load
// leaves in the file: with every vector overwritten by NaN, unfiltered
// searches, filtered walks, both kinds of scan and Similarity answer as
// before.
func TestHNSW_SearchesLeaveVectorsAlone(t *testing.T) {
	ctx := context.Background()
	const dim = 64
	d := clusteredData(sized(3000, 1200), dim, 20, 41)
	// A low cutoff and a narrow walk, so that half the items are walked
	// at either size.
	h, _ := buildHNSW(t, d, HNSWOptions{Seed: 11, M: 8, ExactCutoff: 100, EfSearch: 10})
	path, _ := saveFile(t, h)
	mapped := loadFile(t, path)
	defer mapped.Close()
	if !mapped.coarse {
		t.Skip("searches walk the float32 vectors in this build on this CPU")
	}
	few := NewAllowSet(d.ids[:50]...)
	half := FilterFunc(func(id string) bool { return id[len(id)-1]%2 == 0 })
	rare := FilterFunc(func(id string) bool { return id[len(id)-1] == '7' && id[len(id)-2] == '7' })
	filters := map[string]Filter{"none": nil, "listed, scanned": few, "half, walked": half, "rare, every node asked": rare}
	q := clusteredQueries(50, dim, 20, 41)
	answers := func() map[string][][]Result {
		out := map[string][][]Result{}
		for name, f := range filters {
			for i := range q.len() {
				res, err := mapped.Search(ctx, q.row(i), 10, f)
				if err != nil || len(res) == 0 {
					t.Fatalf("%s, query %d: %v %v", name, i, res, err)
				}
				out[name] = append(out[name], res)
			}
		}
		return out
	}
	similarities := func() []float32 {
		var out []float32
		for i := range 20 {
			sim, ok := mapped.Similarity(d.ids[i*7], q.row(i))
			if !ok {
				t.Fatalf("Similarity(%s) not found", d.ids[i*7])
			}
			out = append(out, sim)
		}
		return out
	}
	before, simBefore := answers(), similarities()
	for i, sim := range simBefore {
		if want := vec.Dot(d.row(i*7), q.row(i)); math.Abs(float64(sim-want)) > 2e-5 {
			t.Fatalf("Similarity %v, float32 inner product %v", sim, want)
		}
	}
	nan := float32(math.NaN())
	for i := range mapped.vecs {
		mapped.vecs[i] = nan
	}
	after := answers()
	if simAfter := similarities(); !slices.Equal(simBefore, simAfter) {
		t.Fatalf("Similarity read the vectors: %v, then %v", simBefore, simAfter)
	}
	for name := range filters {
		for i := range before[name] {
			if !slices.Equal(before[name][i], after[name][i]) {
				t.Fatalf("%s, query %d: the answer read the vectors:\n before %v\n after  %v", name, i, before[name][i], after[name][i])
			}
		}
	}
	st := mapped.FilterStats()
	if st.Walks == 0 || st.Scans == 0 || st.FullScans == 0 {
		t.Fatalf("not every way was taken: %+v", st)
	}
}

// TestHNSW_LoadsVersion2 loads a file of the previous format, which had
// no fine codes: they are made from the vectors, and the index answers as
// the one saved in the current format.
func TestHNSW_LoadsVersion2(t *testing.T) {
	ctx := context.Background()
	const dim = 64
	d := clusteredData(600, dim, 6, 43)
	h, _ := buildHNSW(t, d, HNSWOptions{Seed: 12, M: 8})
	path, b := saveFile(t, h)
	// Cut the fine codes and their scales out: the two sections after the
	// scales, page-aligned, as version 2 lacked them.
	s, err := SplitHNSW(b)
	if err != nil {
		t.Fatal(err)
	}
	align := func(o int) int { return (o + pageAlign - 1) / pageAlign * pageAlign }
	n := d.len()
	vectors := cap(b) - cap(s.Vectors)
	fine := align(align(align(vectors+4*n*dim)+n*dim) + 4*n)
	links := align(align(fine+n*dim) + 4*n)
	old := slices.Concat(b[:fine], b[links:])
	binary.LittleEndian.PutUint32(old[len(hnswMagic):], 2)
	binary.LittleEndian.PutUint32(old[len(old)-4:], crc32.Checksum(old[:len(old)-4], castagnoli))
	oldPath := filepath.Join(t.TempDir(), "vectors.idx")
	if err := os.WriteFile(oldPath, old, 0o644); err != nil {
		t.Fatal(err)
	}
	current, previous := loadFile(t, path), loadFile(t, oldPath)
	defer current.Close()
	defer previous.Close()
	q := clusteredQueries(50, dim, 6, 43)
	for i := range q.len() {
		a, _ := current.Search(ctx, q.row(i), 10, nil)
		b, _ := previous.Search(ctx, q.row(i), 10, nil)
		if len(a) == 0 || !slices.Equal(a, b) {
			t.Fatalf("query %d:\n version 3 %v\n version 2 %v", i, a, b)
		}
	}
	if _, err := SplitHNSW(old); err != nil {
		t.Fatalf("split version 2: %v", err)
	}
}

// TestHNSW_LoadLeavesVectorsInFile checks, from the kernel's own count of
// each mapping's resident pages, that a load whose searches run on the
// codes checks the vectors without making them resident, and that
// searches leave them so, while the codes they read are resident.
func TestHNSW_LoadLeavesVectorsInFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/smaps")
	}
	ctx := context.Background()
	const dim = 64
	d := clusteredData(sized(3000, 1200), dim, 20, 47)
	h, _ := buildHNSW(t, d, HNSWOptions{Seed: 13, M: 8})
	path, _ := saveFile(t, h)
	mapped := loadFile(t, path)
	defer mapped.Close()
	if !mapped.coarse || len(mapped.maps) == 0 {
		t.Skip("searches walk the float32 vectors, or nothing was mapped")
	}
	q := clusteredQueries(50, dim, 20, 47)
	for i := range q.len() {
		if _, err := mapped.Search(ctx, q.row(i), 10, nil); err != nil {
			t.Fatal(err)
		}
	}
	vecs, codes := residentKB(t, unsafe.Pointer(&mapped.vecs[0])), residentKB(t, unsafe.Pointer(&mapped.codes[0]))
	if vecs != 0 || codes == 0 {
		t.Fatalf("resident: vectors %d kB (want 0), codes %d kB (want some)", vecs, codes)
	}
}

// residentKB returns the Rss of the mapping of this process that starts at
// p, from /proc/self/smaps.
func residentKB(t *testing.T, p unsafe.Pointer) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("%x-", uintptr(p))
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			in = strings.HasPrefix(line, head)
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && in {
			kb, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no mapping starts at %p", p)
	return 0
}
