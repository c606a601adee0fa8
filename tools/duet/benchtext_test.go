package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	for _, want := range []string{"docs/s", "match+filters", "match+facets", "upsert"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Name    string           `json:"name"`
		Params  map[string]any   `json:"params"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Name != "text" || rep.Params["items"] != 300.0 {
		t.Errorf("name %q, params %v", rep.Name, rep.Params)
	}
	kinds := map[string]bool{}
	for _, r := range rep.Results {
		if q, ok := r["query"].(string); ok {
			kinds[q] = true
			if r["qps"].(float64) <= 0 || r["p99_ms"].(float64) < r["p50_ms"].(float64) {
				t.Errorf("%s: implausible figures %v", q, r)
			}
		}
		if r["phase"] == "index" && r["docs"] != 300.0 {
			t.Errorf("index phase: %v", r)
		}
	}
	if len(kinds) != 3 {
		t.Errorf("query kinds %v, want 3", kinds)
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
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty --dir: %v", err)
	}
}
