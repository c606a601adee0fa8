package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/tower"
)

// fuzzTargets are the snapshot files FuzzLoadSnapshot replaces; the
// compressed ones are fuzzed as their plain content.
var fuzzTargets = []string{fileManifest, fileModel, fileVectors, fileItemsBin, filePopularity}

// tinySnapshot builds a snapshot small enough to copy for every fuzz input.
func tinySnapshot(tb testing.TB, ann index.Kind) string {
	tb.Helper()
	m, items := tinyModel(tb)
	dir, err := NewRoot(tb.TempDir()).Build(context.Background(), 3, m, items, map[string]float64{"a": 2, "b": 1}, BuildOptions{ANN: ann})
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// tinyModel trains a model on thirty items, which it returns.
func tinyModel(tb testing.TB) (*tower.Model, []content.Item) {
	tb.Helper()
	ctx := context.Background()
	var items []content.Item
	for i := range 30 {
		id := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		items = append(items, content.Item{ID: id, Title: "title " + id, Tags: []string{"t" + id[:1]}, Categories: []string{"c" + string(rune('0'+i%3))}})
	}
	ds := tower.NewDataset(items)
	for i, it := range items {
		for u := range 5 {
			if (i+u)%4 == 0 {
				ds.AddEvent(content.Event{UserID: "u" + string(rune('0'+u)), ItemID: it.ID, Kind: "view", Time: time.Unix(int64(1e9+i), 0)})
			}
		}
	}
	m, err := tower.Train(ctx, ds, nil, nil, tower.Config{Epochs: 1, Workers: 1, Buckets: 64, Dim: 4})
	if err != nil {
		tb.Fatal(err)
	}
	return m, items
}

// plainFile reads a snapshot file as the fuzzer sees it: zstd files
// decompressed.
func plainFile(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	var b []byte
	var err error
	if strings.HasSuffix(name, ".zst") {
		err = readZstd(filepath.Join(dir, name), func(r io.Reader) error { b, err = io.ReadAll(r); return err })
	} else {
		b, err = os.ReadFile(filepath.Join(dir, name))
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// reseal rewrites the manifest's checksums for the files as they are, so
// the fuzzed content gets past the checksums to the decoders.
func reseal(dir string) error {
	p := filepath.Join(dir, fileManifest)
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for name := range m.Files {
		if m.Files[name], err = sumFile(filepath.Join(dir, filepath.FromSlash(name)), false, sumSHA256|sumCRC32C); err != nil {
			return err
		}
	}
	if b, err = json.Marshal(m); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// FuzzLoadSnapshot replaces one file of a valid snapshot, with checksums
// made to match, and loads it: the load must fail with a bad-snapshot,
// corrupt-index or bad-model error, or give a snapshot that answers
// searches. It must never panic.
func FuzzLoadSnapshot(f *testing.F) {
	src := map[index.Kind]string{index.KindExact: tinySnapshot(f, index.KindExact), index.KindHNSW: tinySnapshot(f, index.KindHNSW)}
	for i, name := range fuzzTargets {
		b := plainFile(f, src[index.KindHNSW], name)
		f.Add(uint8(i), b)
		f.Add(uint8(i), b[:len(b)/2])
		f.Add(uint8(i+len(fuzzTargets)), plainFile(f, src[index.KindExact], name))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		ann := index.KindHNSW
		if int(which)/len(fuzzTargets)%2 == 1 {
			ann = index.KindExact
		}
		dir := filepath.Join(t.TempDir(), "snap")
		if err := copyDir(src[ann], dir, nil); err != nil {
			t.Fatal(err)
		}
		name := fuzzTargets[int(which)%len(fuzzTargets)]
		var err error
		if strings.HasSuffix(name, ".zst") {
			err = durable.WriteZstd(filepath.Join(dir, name), func(w io.Writer) error { _, err := w.Write(data); return err })
		} else {
			err = os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		if name != fileManifest {
			if err := reseal(dir); err != nil {
				t.Fatal(err)
			}
		}
		snap, err := Load(ctx, dir, filepath.Join(t.TempDir(), "work"), search.StaticHistory{"u1": {{UserID: "u1", ItemID: "a", Kind: "view"}, {UserID: "u1", ItemID: "b", Kind: "view"}}}, search.Options{})
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) && !errors.Is(err, index.ErrCorrupt) && !errors.Is(err, tower.ErrBadModel) && !errors.Is(err, tower.ErrModelVersion) {
				t.Fatalf("load failed with an unclassified error: %v", err)
			}
			return
		}
		defer snap.Close()
		for _, req := range []search.Request{{K: 5}, {Query: "title a", UserID: "u1", K: 5}, {Query: "title", K: 3, Mode: search.ModeKeyword}} {
			if _, err := snap.Search(ctx, req); err != nil {
				t.Fatalf("search %+v on a loaded snapshot: %v", req, err)
			}
		}
		for _, it := range snap.Catalog().Items()[:1] {
			if _, err := snap.Similar(ctx, it.ID, search.Request{K: 3}); err != nil {
				t.Fatalf("similar %s: %v", it.ID, err)
			}
		}
	})
}
