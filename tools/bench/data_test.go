package bench_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/tools/rebuild"
	"github.com/duetrec/duet/tower"
)

// testDim is the dimension of the test snapshots' vectors.
const testDim = 8

// snapshotData generates items and events, imports them into a new store
// and builds an HNSW snapshot from it; it returns the data directory and
// the events file.
func snapshotData(t *testing.T, items, users int) (data, events string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var iw, ew bytes.Buffer
	if _, err := content.Generate(ctx, content.GenOptions{Items: items, Users: users, Seed: 4}, &iw, &ew); err != nil {
		t.Fatal(err)
	}
	itemsPath, events := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "events.csv")
	if err := errors.Join(os.WriteFile(itemsPath, iw.Bytes(), 0o644), os.WriteFile(events, ew.Bytes(), 0o644)); err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	st, err := content.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := content.ImportGeneric(ctx, st, itemsPath, events, content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	opts := rebuild.Options{Data: data, ANN: index.KindHNSW, Train: tower.Config{Epochs: 2, Dim: testDim, Buckets: 1 << 10, Workers: 1}}
	if _, err := rebuild.Run(ctx, opts); err != nil {
		t.Fatal(err)
	}
	return data, events
}
