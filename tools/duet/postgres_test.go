package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/pgtest"
)

// The commands take a store in PostgreSQL: import into it, rebuild from
// it, dump it and restore the dump into a bbolt store, nothing lost; bad
// store URLs are clear errors.
func TestCommands_PostgresStore(t *testing.T) {
	url := pgtest.Database(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if code, out, errs := runCLI(t, "gen", "--out", src, "--items", "150", "--users", "40", "--seed", "2"); code != 0 {
		t.Fatalf("gen: %d %s %s", code, out, errs)
	}
	code, out, errs := runCLI(t, "import", "--store", url, "--items", filepath.Join(src, "items.jsonl"), "--events", filepath.Join(src, "events.csv"))
	if code != 0 || !strings.Contains(out, "imported 150 items") {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	pgs, err := content.OpenURL(context.Background(), url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer pgs.Close()
	data := filepath.Join(dir, "data")
	code, out, errs = runCLI(t, "rebuild", "--data", data, "--store", url, "--epochs", "1", "--dim", "8", "--tune=false")
	if code != 0 || !strings.Contains(out, "snapshot") || !strings.Contains(out, "published to the servers sharing the store, from "+filepath.Join(data, "snapshots")) {
		t.Fatalf("rebuild: %d %s %s", code, out, errs)
	}
	pub, err := pgs.LatestSnapshot(context.Background())
	if err != nil || pub.Source != filepath.Join(data, "snapshots") || pub.Seq == 0 {
		t.Fatalf("published %+v, %v", pub, err)
	}
	if snaps, _ := filepath.Glob(filepath.Join(data, "snapshots", "snap-*")); len(snaps) != 1 {
		t.Fatalf("snapshots %v", snaps)
	}
	if _, err := os.Stat(filepath.Join(data, "catalog.db")); !os.IsNotExist(err) {
		t.Fatalf("a bbolt store was made beside the PostgreSQL one: %v", err)
	}
	dump := filepath.Join(dir, "dump")
	if code, out, errs = runCLI(t, "dump", "--store", url, "--out", dump); code != 0 {
		t.Fatalf("dump: %d %s %s", code, out, errs)
	}
	restored := filepath.Join(dir, "restored")
	if code, out, errs = runCLI(t, "restore", "--data", restored, "--from", dump); code != 0 {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	ctx := context.Background()
	bs, err := content.Open(ctx, restored)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	a, _ := pgs.Stats(ctx)
	b, _ := bs.Stats(ctx)
	if a.Items != 150 || a.Items != b.Items || a.Events != b.Events || a.Events == 0 {
		t.Fatalf("PostgreSQL holds %+v, the restored store %+v", a, b)
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		text string
	}{
		{"not a URL", []string{"dump", "--store", "/tmp/x", "--out", dump}, 2, "--store must be a postgres://"},
		{"another database", []string{"import", "--store", "mysql://x", "--items", "x"}, 2, "--store must be a postgres://"},
		{"serve needs a directory", []string{"serve", "--store", url}, 2, "--data is required"},
		{"unreachable", []string{"dump", "--store", "postgres://duet@127.0.0.1:1/x?connect_timeout=2", "--out", filepath.Join(dir, "d2")}, 1, "open store 127.0.0.1:1/x"},
		{"malformed", []string{"restore", "--store", "postgres://duet@127.0.0.1:port/x", "--from", dump}, 1, "invalid port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out+errs, c.text) {
				t.Fatalf("exit %d, output %s %s; want %d and %q", code, out, errs, c.code, c.text)
			}
		})
	}
}
