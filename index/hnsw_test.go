package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/duetrec/duet/internal/race"
)

// recallSize is the catalogue size of the recall tests: what the
// acceptance criteria ask for, cut down under the race detector.
func recallSize() int { return sized(20000, 1000) }

// sized returns n, or small under the race detector.
func sized(n, small int) int {
	if race.Enabled {
		return small
	}
	return n
}

func buildHNSW(t testing.TB, d dataset, opts HNSWOptions) (*HNSW, *Exact) {
	t.Helper()
	h, err := NewHNSW(d.dim, opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	build(t, h, d)
	t.Logf("built %d×%d in %v", d.len(), d.dim, time.Since(start).Round(time.Millisecond))
	e, err := NewExact(d.dim)
	if err != nil {
		t.Fatal(err)
	}
	build(t, e, d)
	return h, e
}

// recallCase is a data set, its queries, and the search width at which a
// graph of it must reach recall@10 0.95.
type recallCase struct {
	name    string
	data, q dataset
	ef      int
}

// recallCases are the recall tests' data sets, drawn from seed: uniform
// on the sphere, and clustered.
func recallCases(seed uint64) []recallCase {
	n := recallSize()
	return []recallCase{
		{"random", randomData(n, 64, seed), randomData(sized(200, 50), 64, seed+1), 256},
		{"clustered", clusteredData(n, 64, 50, seed+2), clusteredQueries(sized(200, 50), 64, 50, seed+2), 64},
	}
}

func TestHNSW_Recall(t *testing.T) {
	for _, c := range recallCases(1) {
		// The default walk on int8 codes (the build's and the
		// searches') and the walk on the vectors must both reach the
		// recall.
		for _, fw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/floatwalk=%t", c.name, fw), func(t *testing.T) {
				h, e := buildHNSW(t, c.data, HNSWOptions{Seed: 1, FloatWalk: fw})
				for _, ef := range []int{16, 32, 64, 128, 256} {
					h.SetEfSearch(ef)
					r := recallAt(t, h, e, c.q, 10, nil)
					t.Logf("ef=%d recall@10=%.4f", ef, r)
					if ef == c.ef && r < 0.95 {
						t.Errorf("ef=%d: recall@10 %.4f < 0.95", ef, r)
					}
				}
			})
		}
	}
}

// TestHNSW_FilteredRecall checks filters passing 1%, 10% and 50% of the
// items, both with the default exact cutoff and with the graph walk forced.
func TestHNSW_FilteredRecall(t *testing.T) {
	n := recallSize()
	d := clusteredData(n, 64, 50, 5)
	q := clusteredQueries(sized(100, 30), 64, 50, 5)
	h, e := buildHNSW(t, d, HNSWOptions{Seed: 2})
	for _, pct := range []int{1, 10, 50} {
		set := AllowSet{}
		for i, id := range d.ids {
			if (i*7919)%100 < pct {
				set[id] = struct{}{}
			}
		}
		fn := FilterFunc(set.Allow)
		for _, cutoff := range []int{DefaultExactCutoff, -1} {
			h.opts.ExactCutoff = cutoff
			for _, f := range []struct {
				name string
				f    Filter
			}{{"set", set}, {"func", fn}} {
				r := recallAt(t, h, e, q, 10, f.f)
				t.Logf("pass %d%% (%d items) cutoff %d %s: recall@10=%.4f", pct, len(set), cutoff, f.name, r)
				if r < 0.95 {
					t.Errorf("pass %d%% cutoff %d %s: recall@10 %.4f < 0.95", pct, cutoff, f.name, r)
				}
			}
		}
	}
}

func TestHNSW_Tombstones(t *testing.T) {
	ctx := context.Background()
	d := clusteredData(sized(3000, 900), 32, 20, 9)
	h, e := buildHNSW(t, d, HNSWOptions{Seed: 3})
	for i := 0; i < d.len(); i += 3 {
		if err := h.Delete(d.ids[i]); err != nil {
			t.Fatal(err)
		}
		if err := e.Delete(d.ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	third := (d.len() + 2) / 3
	if h.Tombstones() != third || h.Len() != d.len()-third {
		t.Fatalf("tombstones %d, len %d", h.Tombstones(), h.Len())
	}
	q := clusteredQueries(sized(100, 30), 32, 20, 9)
	r := recallAt(t, h, e, q, 10, nil)
	t.Logf("recall@10 with a third deleted: %.4f", r)
	if r < 0.95 {
		t.Errorf("recall@10 %.4f with tombstones", r)
	}
	c, err := h.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tombstones() != 0 || c.Len() != d.len()-third {
		t.Fatalf("rebuilt: tombstones %d, len %d", c.Tombstones(), c.Len())
	}
	r = recallAt(t, c, e, q, 10, nil)
	t.Logf("recall@10 after Rebuild: %.4f", r)
	if r < 0.95 {
		t.Errorf("recall@10 %.4f after Rebuild", r)
	}
}

// TestHNSW_Deterministic checks that one seed and one order of adds give
// one graph, byte for byte.
func TestHNSW_Deterministic(t *testing.T) {
	d := clusteredData(sized(500, 150), 16, 5, 4)
	var saved [2][]byte
	for i := range saved {
		h, _ := NewHNSW(16, HNSWOptions{Seed: 42})
		for j := range d.len() {
			if err := h.Add(d.ids[j], d.row(j)); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if err := h.Save(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		saved[i] = buf.Bytes()
	}
	if !bytes.Equal(saved[0], saved[1]) {
		t.Fatal("same seed and adds built different graphs")
	}
}

// TestHNSW_SaveLoad checks that a loaded graph answers exactly as the saved
// one, including its tombstones, and that it keeps accepting adds.
func TestHNSW_SaveLoad(t *testing.T) {
	for _, opts := range []HNSWOptions{
		{Seed: 5, M: 8, EfSearch: 40},
		{Seed: 5, M: 8, EfSearch: 40, FloatWalk: true, DropPruned: true},
	} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) { testSaveLoad(t, opts) })
	}
}

func testSaveLoad(t *testing.T, opts HNSWOptions) {
	ctx := context.Background()
	d := clusteredData(sized(2000, 400), 32, 10, 8)
	h, _ := buildHNSW(t, d, opts)
	for i := 0; i < d.len(); i += 20 {
		h.Delete(d.ids[i])
	}
	var buf bytes.Buffer
	if err := h.Save(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes for %d×%d (%.0f bytes/vector)", buf.Len(), d.len(), d.dim, float64(buf.Len())/float64(d.len()))
	l, err := LoadHNSW(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != h.Len() || l.Tombstones() != h.Tombstones() || l.Options() != h.Options() {
		t.Fatalf("loaded %d/%d %+v, saved %d/%d %+v", l.Len(), l.Tombstones(), l.Options(), h.Len(), h.Tombstones(), h.Options())
	}
	q := clusteredQueries(sized(200, 50), 32, 10, 8)
	for i := range q.len() {
		a, _ := h.Search(ctx, q.row(i), 10, nil)
		b, _ := l.Search(ctx, q.row(i), 10, nil)
		if !slices.Equal(a, b) {
			t.Fatalf("query %d: loaded %v, saved %v", i, b, a)
		}
	}
	var again bytes.Buffer
	if err := l.Save(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("save of a loaded index differs from the original")
	}
	if err := l.Add("new", q.row(0)); err != nil {
		t.Fatal(err)
	}
	if res, _ := l.Search(ctx, q.row(0), 1, nil); len(res) != 1 || res[0].ID != "new" {
		t.Fatalf("add after load: %v", res)
	}
}

func TestLoadHNSW_Corrupt(t *testing.T) {
	ctx := context.Background()
	d := clusteredData(200, 8, 4, 12)
	h, _ := buildHNSW(t, d, HNSWOptions{Seed: 6})
	var buf bytes.Buffer
	if err := h.Save(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for cut := 0; cut < len(good); cut += 1 + cut/64 {
		if _, err := LoadHNSW(ctx, bytes.NewReader(good[:cut])); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: %v", cut, len(good), err)
		}
	}
	for i := 0; i < len(good); i += 1 + i/32 {
		bad := slices.Clone(good)
		bad[i] ^= 0x5a
		if _, err := LoadHNSW(ctx, bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	bad := slices.Clone(good)
	bad[8] = 99 // version
	_, err := LoadHNSW(ctx, bytes.NewReader(bad))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("future version: %v", err)
	}
	t.Logf("future version: %v", err)
	if _, err := LoadHNSW(ctx, bytes.NewReader([]byte("DUETEXCT\x01\x00\x00\x00"))); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong magic: %v", err)
	}
}

// FuzzLoadHNSW feeds mutated index files to LoadHNSW: it must return an
// index or an error, never panic, and a loaded index must survive a search.
func FuzzLoadHNSW(f *testing.F) {
	ctx := context.Background()
	for _, n := range []int{0, 1, 30} {
		d := clusteredData(n, 4, 3, 13)
		h, _ := NewHNSW(4, HNSWOptions{Seed: 7, M: 4})
		for i := range d.len() {
			h.Add(d.ids[i], d.row(i))
		}
		if n > 1 {
			h.Delete(d.ids[0])
		}
		var buf bytes.Buffer
		h.Save(ctx, &buf)
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		loadAndUse(t, data)
		// The checksum would stop nearly every mutation at the end of the
		// file; with it recomputed, mutations reach the structural checks.
		if len(data) >= 4 {
			fixed := slices.Clone(data)
			binary.LittleEndian.PutUint32(fixed[len(fixed)-4:], crc32.Checksum(fixed[:len(fixed)-4], castagnoli))
			loadAndUse(t, fixed)
		}
	})
}

func loadAndUse(t *testing.T, data []byte) {
	ctx := context.Background()
	h, err := LoadHNSW(ctx, bytes.NewReader(data))
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error not wrapping ErrCorrupt: %v", err)
		}
		return
	}
	q := make([]float32, h.Dim())
	q[0] = 1
	if _, err := h.Search(ctx, q, 5, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Search(ctx, q, 5, FilterFunc(func(id string) bool { return len(id)%2 == 0 })); err != nil {
		t.Fatal(err)
	}
	if err := h.Add("fuzz-new", q); err != nil && !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	if _, err := h.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
}

func benchData(b *testing.B) (dataset, dataset) {
	return clusteredData(20000, 64, 50, 21), clusteredQueries(1000, 64, 50, 21)
}

func BenchmarkHNSWSearch(b *testing.B) {
	d, q := benchData(b)
	h, _ := NewHNSW(64, HNSWOptions{Seed: 1})
	build(b, h, d)
	ctx := context.Background()
	for _, ef := range []int{16, 64, 256} {
		b.Run("ef="+itoa(ef), func(b *testing.B) {
			i := 0
			for b.Loop() {
				h.SearchEf(ctx, q.row(i%q.len()), 10, ef, nil)
				i++
			}
		})
	}
}

func BenchmarkHNSWAdd(b *testing.B) {
	d, _ := benchData(b)
	h, _ := NewHNSW(64, HNSWOptions{Seed: 1})
	i := 0
	for b.Loop() {
		h.Add(d.ids[i%d.len()]+"/"+itoa(i/d.len()), d.row(i%d.len()))
		i++
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
