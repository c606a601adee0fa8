package snapshot_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
)

// smallModel trains a model on a small generated data set.
func smallModel(t *testing.T) (*tower.Model, *tower.Dataset) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 200, Users: 100, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	items, events := filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile)
	ds, err := tower.ReadDataset(ctx, items, events)
	if err != nil {
		t.Fatal(err)
	}
	m, err := tower.Train(ctx, ds, nil, nil, tower.Config{Epochs: 2, Workers: 1, Buckets: 1 << 12, Dim: 16})
	if err != nil {
		t.Fatal(err)
	}
	return m, ds
}

func statOf(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func TestSnapshot_BuildLoad(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	root := snapshot.NewRoot(t.TempDir())
	pop := map[string]float64{ds.Items[0].ID: 5}
	for _, ann := range []index.Kind{index.KindExact, index.KindHNSW} {
		t.Run(string(ann), func(t *testing.T) {
			dir, err := root.Build(ctx, 7, model, ds.Items, pop, snapshot.BuildOptions{ANN: ann})
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			snap, err := snapshot.Load(ctx, dir, work, search.StaticHistory{}, search.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// The text index's segments are linked into the working copy,
			// not copied; the rest of it is copied.
			segs, _ := filepath.Glob(filepath.Join(dir, "text", "store", "*.zap"))
			if len(segs) == 0 {
				t.Fatal("no segment files in the snapshot's text index")
			}
			for _, seg := range segs {
				a, errA := os.Stat(seg)
				b, errB := os.Stat(filepath.Join(work, "text", "store", filepath.Base(seg)))
				if errA != nil || errB != nil || !os.SameFile(a, b) {
					t.Fatalf("segment %s is not linked into the working copy (%v, %v)", seg, errA, errB)
				}
			}
			if a, b := statOf(t, filepath.Join(dir, "text", "store", "root.bolt")), statOf(t, filepath.Join(work, "text", "store", "root.bolt")); os.SameFile(a, b) {
				t.Fatal("the text index's root.bolt, which Bleve writes in place, is linked")
			}
			if snap.Manifest.Seq != 7 || snap.Manifest.Items != 200 || snap.Catalog().Len() != 200 {
				t.Fatalf("manifest %+v, catalog %d", snap.Manifest, snap.Catalog().Len())
			}
			res, err := snap.Search(ctx, search.Request{K: 1})
			if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != ds.Items[0].ID || res.Source != "popular" {
				t.Fatalf("popular: %+v %v", res, err)
			}
			it := ds.Items[3]
			res, err = snap.Search(ctx, search.Request{Query: it.Title, K: 5, Mode: search.ModeKeyword})
			if err != nil || len(res.Hits) == 0 {
				t.Fatalf("keyword search for %q: %+v %v", it.Title, res, err)
			}
			// Live edits go to the working copy, never to the snapshot.
			if err := snap.ItemPut(ctx, content.Item{ID: "live", Title: "Brand new"}); err != nil {
				t.Fatal(err)
			}
			if err := snap.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := snapshot.Verify(ctx, dir); err != nil {
				t.Fatalf("the snapshot changed under the server: %v", err)
			}
		})
	}
}

func TestSnapshot_LoadRefusesDamage(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	dir, err := snapshot.NewRoot(t.TempDir()).Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "model.duet")
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	work := filepath.Join(t.TempDir(), "work")
	if _, err := snapshot.Load(ctx, dir, work, search.StaticHistory{}, search.Options{}); !errors.Is(err, snapshot.ErrBadSnapshot) {
		t.Fatalf("damaged snapshot: %v", err)
	}
}

func TestRoot_LoadLatest(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	flip := func(file string) func(dir string) error {
		return func(dir string) error {
			p := filepath.Join(dir, file)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0xff
			return os.WriteFile(p, b, 0o644)
		}
	}
	truncate := func(file string) func(dir string) error {
		return func(dir string) error { return os.Truncate(filepath.Join(dir, file), 10) }
	}
	cases := []struct {
		name    string
		damage  map[uint64]func(dir string) error // by snapshot seq
		ctx     func() context.Context
		wantSeq uint64 // 0: no snapshot loads
		skipped int
		wantErr error
	}{
		{name: "newest sound", wantSeq: 3},
		{name: "newest model damaged", damage: map[uint64]func(string) error{3: flip("model.duet")}, wantSeq: 2, skipped: 1},
		{name: "two newest damaged", damage: map[uint64]func(string) error{3: flip("items.bin"), 2: truncate("vectors.idx")}, wantSeq: 1, skipped: 2},
		{name: "all damaged", damage: map[uint64]func(string) error{3: flip("model.duet"), 2: flip("popularity.csv.zst"), 1: truncate("items.bin")}, skipped: 3, wantErr: snapshot.ErrBadSnapshot},
		{name: "cancelled", ctx: func() context.Context {
			c, cancel := context.WithCancel(ctx)
			cancel()
			return c
		}, wantErr: context.Canceled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			root := snapshot.NewRoot(data)
			for seq := uint64(1); seq <= 3; seq++ {
				dir, err := root.Build(ctx, seq, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact})
				if err != nil {
					t.Fatal(err)
				}
				if d := c.damage[seq]; d != nil {
					if err := d(dir); err != nil {
						t.Fatal(err)
					}
				}
			}
			lctx := ctx
			if c.ctx != nil {
				lctx = c.ctx()
			}
			snap, skipped, err := root.LoadLatest(lctx, search.StaticHistory{}, search.Options{})
			if len(skipped) != c.skipped {
				t.Errorf("skipped %d snapshots (%v), want %d", len(skipped), skipped, c.skipped)
			}
			for _, e := range skipped {
				if !errors.Is(e, snapshot.ErrBadSnapshot) && !errors.Is(e, index.ErrCorrupt) && !errors.Is(e, tower.ErrBadModel) {
					t.Errorf("skipped for %v, which is no damage", e)
				}
			}
			// The working copies of the snapshots that failed are gone.
			live, _ := filepath.Glob(filepath.Join(data, ".live-*"))
			if c.wantSeq == 0 {
				if err == nil || !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
				if len(live) != 0 {
					t.Fatalf("working copies left: %v", live)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer snap.Close()
			if snap.Manifest.Seq != c.wantSeq || snap.Catalog().Len() != len(ds.Items) {
				t.Fatalf("loaded seq %d with %d items, want seq %d", snap.Manifest.Seq, snap.Catalog().Len(), c.wantSeq)
			}
			if len(live) != 1 {
				t.Fatalf("working copies %v, want the loaded one's alone", live)
			}
		})
	}
	if _, _, err := snapshot.NewRoot(t.TempDir()).LoadLatest(ctx, search.StaticHistory{}, search.Options{}); !errors.Is(err, snapshot.ErrBadSnapshot) {
		t.Fatalf("no snapshot: %v", err)
	}
}

// TestSnapshot_LoadChecksFiles: a load checks every file against the
// manifest, by CRC-32C when the manifest has one for each, by SHA-256 for
// a manifest written before them, so that damage no decoder would see
// (a byte of the text index) is refused.
func TestSnapshot_LoadChecksFiles(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	segment := func(dir string) string {
		segs, _ := filepath.Glob(filepath.Join(dir, "text", "store", "*.zap"))
		if len(segs) == 0 {
			t.Fatal("no segment files in the snapshot's text index")
		}
		return segs[0]
	}
	flipText := func(dir string) {
		p := segment(dir)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/3] ^= 0x01
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// withoutCRC rewrites the manifest as a build without CRC-32C wrote
	// it, for every file (all) or one.
	withoutCRC := func(all bool) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, "manifest.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var m snapshot.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for name, f := range m.Files {
				if f.CRC32C == "" || f.SHA256 == "" {
					t.Fatalf("%s lacks a checksum: %+v", name, f)
				}
				if all || name == "items.bin" {
					f.CRC32C = ""
					m.Files[name] = f
				}
			}
			if b, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name    string
		prepare []func(dir string)
		wantBad bool
	}{
		{"sound", nil, false},
		{"text index damaged", []func(string){flipText}, true},
		{"no CRC-32C, sound", []func(string){withoutCRC(true)}, false},
		{"no CRC-32C, text index damaged", []func(string){withoutCRC(true), flipText}, true},
		{"one file without CRC-32C, text index damaged", []func(string){withoutCRC(false), flipText}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, err := snapshot.NewRoot(t.TempDir()).Build(ctx, 1, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range c.prepare {
				p(dir)
			}
			snap, err := snapshot.Load(ctx, dir, filepath.Join(t.TempDir(), "work"), search.StaticHistory{}, search.Options{})
			if c.wantBad {
				if !errors.Is(err, snapshot.ErrBadSnapshot) || !strings.Contains(err.Error(), "fails its checksum") {
					t.Fatalf("err %v, want a failed checksum", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			snap.Close()
		})
	}
}
