package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchText(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	cmd := newBenchTextCmd()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"--items", "300", "--queries", "20", "--edits", "10", "--workers", "2", "--json", out})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	for _, want := range []string{"generated 300 items", "docs/s", "compacted", "q/s x2", "match+filters", "match+facets", "upsert", "index size after the edits and close"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if b, err := os.ReadFile(out); err != nil || !bytes.Contains(b, []byte(`"name": "text"`)) {
		t.Errorf("--json: %v\n%s", err, b)
	}
}

func TestBenchTextUsage(t *testing.T) {
	for _, args := range [][]string{{"--items", "0"}, {"--k", "0"}, {"--k", "5000"}} {
		cmd := newBenchTextCmd()
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(args)
		var ue usageError
		if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	cmd := newBenchTextCmd()
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetArgs([]string{"--items", "10", "--dir", dir})
	var ue usageError
	if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &ue) || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty --dir: %v, want a usage error", err)
	}
}
