package index

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenText_WrongLayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "text")
	tx, err := OpenText(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.idx.SetInternal(textVersionKey, []byte("0")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if tx, err := OpenText(ctx, dir, nil); err == nil || !strings.Contains(err.Error(), "rebuild") {
		if err == nil {
			tx.Close()
		}
		t.Fatalf("open of another layout: %v, want a refusal", err)
	}
}
