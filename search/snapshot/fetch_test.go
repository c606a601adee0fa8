package snapshot_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search/snapshot"
)

// A published snapshot is copied whole and checked; a wrong manifest, a
// damaged or short file, leave nothing behind; what Serve hands out is a
// snapshot's own files only.
func TestRoot_Fetch(t *testing.T) {
	ctx := context.Background()
	model, ds := smallModel(t)
	pub := snapshot.NewRoot(t.TempDir())
	dir, err := pub.Build(ctx, 7, model, ds.Items, nil, snapshot.BuildOptions{ANN: index.KindExact})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(dir)
	sum, err := snapshot.ManifestSHA256(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := snapshot.DirSource(pub.Dir())
	nothingLeft := func(t *testing.T, r *snapshot.Root) {
		t.Helper()
		left, _ := filepath.Glob(filepath.Join(r.Dir(), "*"))
		hidden, _ := filepath.Glob(filepath.Join(r.Dir(), ".*"))
		if len(left)+len(hidden) != 0 {
			t.Fatalf("left behind: %v %v", left, hidden)
		}
	}

	t.Run("whole", func(t *testing.T) {
		r := snapshot.NewRoot(t.TempDir())
		got, err := r.Fetch(ctx, name, sum, src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := snapshot.Verify(ctx, got); err != nil {
			t.Fatal(err)
		}
		if newest, _, _, err := r.Latest(ctx); err != nil || newest != got {
			t.Fatalf("latest %q, %v", newest, err)
		}
		// Fetched already: nothing read.
		if again, err := r.Fetch(ctx, name, sum, snapshot.DirSource(t.TempDir())); err != nil || again != got {
			t.Fatalf("again: %q, %v", again, err)
		}
	})
	t.Run("not the manifest published", func(t *testing.T) {
		r := snapshot.NewRoot(t.TempDir())
		if _, err := r.Fetch(ctx, name, "00"+sum[2:], src); !errors.Is(err, snapshot.ErrBadSnapshot) {
			t.Fatalf("got %v", err)
		}
		nothingLeft(t, r)
	})
	t.Run("not a name", func(t *testing.T) {
		r := snapshot.NewRoot(t.TempDir())
		if _, err := r.Fetch(ctx, "../x", sum, src); !errors.Is(err, snapshot.ErrBadSnapshot) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a damaged file", func(t *testing.T) {
		bad := t.TempDir()
		if err := os.CopyFS(filepath.Join(bad, name), os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		m, _ := snapshot.Verify(ctx, dir)
		for p := range m.Files {
			path := filepath.Join(bad, name, filepath.FromSlash(p))
			b, _ := os.ReadFile(path)
			if len(b) == 0 {
				continue
			}
			b[len(b)/2] ^= 0xff
			os.WriteFile(path, b, 0o644)
			break
		}
		r := snapshot.NewRoot(t.TempDir())
		if _, err := r.Fetch(ctx, name, sum, snapshot.DirSource(bad)); !errors.Is(err, snapshot.ErrBadSnapshot) {
			t.Fatalf("got %v", err)
		}
		nothingLeft(t, r)
	})
	t.Run("a missing file", func(t *testing.T) {
		bad := t.TempDir()
		os.CopyFS(filepath.Join(bad, name), os.DirFS(dir))
		os.Remove(filepath.Join(bad, name, "model.duet"))
		r := snapshot.NewRoot(t.TempDir())
		if _, err := r.Fetch(ctx, name, sum, snapshot.DirSource(bad)); err == nil {
			t.Fatal("fetched a snapshot without its model")
		}
		nothingLeft(t, r)
	})
	t.Run("open", func(t *testing.T) {
		f, err := pub.Open(name, "manifest.json")
		if err != nil {
			t.Fatalf("manifest: %v", err)
		}
		f.Close()
		for _, c := range []struct{ name, path string }{
			{name, "../../etc/passwd"}, {name, "/etc/passwd"}, {"..", "x"}, {name, "unlisted"}, {"snap-x", "manifest.json"},
		} {
			os.WriteFile(filepath.Join(dir, "unlisted"), []byte("secret"), 0o644)
			if _, err := pub.Open(c.name, c.path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s %s: %v", c.name, c.path, err)
			}
		}
	})
}
