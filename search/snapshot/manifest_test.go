package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTestSnapshot(t *testing.T, root string, seq uint64) string {
	t.Helper()
	dir, err := write(context.Background(), root, Manifest{Seq: seq, Items: 2, Dim: 4}, func(dir string) error {
		if err := os.WriteFile(filepath.Join(dir, "vectors.f32"), []byte("0123456789abcdef"), 0o644); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "text", "store"), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "text", "store", "seg1"), []byte("segment"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSnapshot_RoundTrip(t *testing.T) {
	ctx := context.Background()
	r := NewRoot(t.TempDir())
	root := r.Dir()
	dir := writeTestSnapshot(t, root, 42)
	m, err := Verify(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 42 || m.Items != 2 || m.Dim != 4 || m.Format != Format || len(m.Files) != 2 || m.Files["text/store/seg1"].Size != 7 {
		t.Fatalf("manifest %+v", m)
	}
	if seq, ok := seqOf(dir); !ok || seq != 42 {
		t.Fatalf("seqOf(%s) = %d, %v", dir, seq, ok)
	}
	if left, _ := filepath.Glob(filepath.Join(root, ".tmp-*")); len(left) != 0 {
		t.Fatalf("temporary directories left: %v", left)
	}
}

func TestSnapshot_RefusesDamage(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"flipped byte", func(dir string) error {
			p := filepath.Join(dir, "vectors.f32")
			b, _ := os.ReadFile(p)
			b[3] ^= 1
			return os.WriteFile(p, b, 0o644)
		}, "checksum"},
		{"truncated file", func(dir string) error { return os.Truncate(filepath.Join(dir, "vectors.f32"), 5) }, "5 bytes"},
		{"missing file", func(dir string) error { return os.Remove(filepath.Join(dir, "text", "store", "seg1")) }, "missing"},
		{"extra file", func(dir string) error { return os.WriteFile(filepath.Join(dir, "stray"), nil, 0o644) }, "not in the manifest"},
		{"no manifest", func(dir string) error { return os.Remove(filepath.Join(dir, fileManifest)) }, "manifest.json"},
		{"corrupt manifest", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, fileManifest), []byte("{\"format\":"), 0o644)
		}, "manifest"},
		{"other format", func(dir string) error {
			p := filepath.Join(dir, fileManifest)
			b, _ := os.ReadFile(p)
			return os.WriteFile(p, []byte(strings.Replace(string(b), fmt.Sprintf(`"format": %d`, Format), `"format": 99`, 1)), 0o644)
		}, "format 99"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRoot(t.TempDir())
			root := r.Dir()
			good := writeTestSnapshot(t, root, 1)
			bad := writeTestSnapshot(t, root, 2)
			if err := c.damage(bad); err != nil {
				t.Fatal(err)
			}
			_, err := Verify(ctx, bad)
			if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrBadSnapshot mentioning %q", err, c.want)
			}
			// The newest good snapshot is chosen instead, and the bad one reported.
			dir, m, skipped, err := r.Latest(ctx)
			if err != nil || dir != good || m.Seq != 1 || len(skipped) != 1 {
				t.Fatalf("latest: %s %+v %v %v", dir, m, skipped, err)
			}
		})
	}
}

func TestSnapshot_FailedFillLeavesNothing(t *testing.T) {
	r := NewRoot(t.TempDir())
	root := r.Dir()
	_, err := write(context.Background(), root, Manifest{Seq: 1}, func(dir string) error {
		os.WriteFile(filepath.Join(dir, "half"), []byte("x"), 0o644)
		return errors.New("disk full")
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err %v", err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
	if _, _, _, err := r.Latest(context.Background()); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("latest of none: %v", err)
	}
}

func TestRoot_Prune(t *testing.T) {
	r := NewRoot(t.TempDir())
	root := r.Dir()
	var dirs []string
	for seq := range uint64(5) {
		dirs = append(dirs, writeTestSnapshot(t, root, seq))
	}
	os.MkdirAll(filepath.Join(root, ".tmp-interrupted"), 0o755)
	if err := r.Prune(2); err != nil {
		t.Fatal(err)
	}
	left, _ := r.List()
	if len(left) != 2 || left[0] != dirs[4] || left[1] != dirs[3] {
		t.Fatalf("left %v", left)
	}
	if tmps, _ := filepath.Glob(filepath.Join(root, ".tmp-*")); len(tmps) != 0 {
		t.Fatalf("temporary left: %v", tmps)
	}
}
