package durable_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/duetrec/duet/internal/durable"
)

// entries lists the names in dir, to show that no temporary file is left.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		old     string // the file's content before; "" when absent
		write   string
		fail    error
		want    string
		wantErr error
	}{
		{"new file", "", "hello", nil, "hello", nil},
		{"replace", "old", "new", nil, "new", nil},
		{"failure keeps the old file", "old", "half", boom, "old", boom},
		{"failure creates nothing", "", "half", boom, "", boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.txt")
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := durable.WriteFile(path, func(w io.Writer) error {
				io.WriteString(w, tc.write)
				return tc.fail
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			b, rerr := os.ReadFile(path)
			if tc.want == "" {
				if !errors.Is(rerr, os.ErrNotExist) {
					t.Fatalf("file exists after a failed first write: %q", b)
				}
			} else if string(b) != tc.want {
				t.Fatalf("file holds %q, want %q", b, tc.want)
			}
			if n := len(entries(t, dir)); n > 1 {
				t.Fatalf("temporary files left: %v", entries(t, dir))
			}
			if tc.want != "" && tc.wantErr == nil {
				fi, _ := os.Stat(path)
				if fi.Mode().Perm() != 0o644 {
					t.Fatalf("mode %v, want 0644", fi.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteFile_MissingDir(t *testing.T) {
	if err := durable.WriteFile(filepath.Join(t.TempDir(), "no", "f"), func(io.Writer) error { return nil }); err == nil {
		t.Fatal("wrote into a directory that does not exist")
	}
}

func TestWriteZstd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.zst")
	want := bytes.Repeat([]byte("duet "), 1000)
	if err := durable.WriteZstd(path, func(w io.Writer) error { _, err := w.Write(want); return err }); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes (err %v), want %d", len(got), err, len(want))
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	if err := durable.WriteJSON(path, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "{\n  \"a\": 1\n}\n" {
		t.Fatalf("got %q", b)
	}
	if err := durable.WriteJSON(path, func() {}); err == nil {
		t.Fatal("a value JSON cannot hold was written")
	}
	if b2, _ := os.ReadFile(path); !bytes.Equal(b, b2) {
		t.Fatal("a failed write changed the file")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	err := durable.WriteFiles([]string{a, b}, func(ws []io.Writer) error {
		io.WriteString(ws[0], "A")
		io.WriteString(ws[1], "B")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := os.ReadFile(a)
	gb, _ := os.ReadFile(b)
	if string(ga) != "A" || string(gb) != "B" {
		t.Fatalf("got %q and %q", ga, gb)
	}
	if n := len(entries(t, dir)); n != 2 {
		t.Fatalf("%d entries, want 2: %v", n, entries(t, dir))
	}
}
