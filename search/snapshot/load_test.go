package snapshot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
