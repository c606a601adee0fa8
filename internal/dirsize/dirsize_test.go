package dirsize_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/duetrec/duet/internal/dirsize"
)

func TestOf(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]int // path below the directory → size
		want  int64
	}{
		{"empty", nil, 0},
		{"flat", map[string]int{"a": 3, "b": 5}, 8},
		{"nested", map[string]int{"a": 1, "sub/b": 10, "sub/deeper/c": 100}, 111},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, size := range tc.files {
				path := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := dirsize.Of(dir)
			if err != nil || got != tc.want {
				t.Fatalf("Of = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	if _, err := dirsize.Of(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("Of of a missing directory: no error")
	}
}

// TestOf_FilesRemovedMeanwhile checks that files removed while Of walks
// (as a text index removes merged segments) are no error.
func TestOf_FilesRemovedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	const files = 2000
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%05d", i)), []byte{1}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := files - 1; i >= 0; i-- {
			os.Remove(filepath.Join(dir, fmt.Sprintf("%05d", i)))
		}
	}()
	for {
		n, err := dirsize.Of(dir)
		if err != nil || n < 0 || n > files {
			t.Fatalf("Of = %d, %v while files are removed", n, err)
		}
		select {
		case <-done:
			if n, err := dirsize.Of(dir); n != 0 || err != nil {
				t.Fatalf("Of = %d, %v after every file was removed", n, err)
			}
			return
		default:
		}
	}
}
