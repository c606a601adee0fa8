package bench_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duetrec/duet/tools/bench"
)

func textOptions() bench.TextOptions {
	return bench.TextOptions{Items: 300, Batch: 100, Queries: 20, K: 10, Workers: 2, Edits: 10, Writers: 4, Seed: 1, Compact: true}
}

func TestRunText(t *testing.T) {
	var out bytes.Buffer
	o := textOptions()
	o.Out = &out
	rep, err := bench.RunText(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"docs/s", "match+filters", "match+facets", "upsert", "compacted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	j, b := readReport[map[string]any](t, rep)
	if j.Name != "text" || j.Params["items"] != 300.0 {
		t.Errorf("report %s", b)
	}
	kinds := map[string]bool{}
	var phases []string
	for _, r := range j.Results {
		if q, ok := r["query"].(string); ok {
			kinds[q] = true
			if r["qps"].(float64) <= 0 || r["p99_ms"].(float64) < r["p50_ms"].(float64) {
				t.Errorf("%s: implausible figures %v", q, r)
			}
		}
		if p, ok := r["phase"].(string); ok {
			phases = append(phases, p)
		}
		if r["phase"] == "index" && r["docs"] != 300.0 {
			t.Errorf("index phase: %v", r)
		}
	}
	if len(kinds) != 3 {
		t.Errorf("query kinds %v, want 3", kinds)
	}
	if got := strings.Join(phases, ","); got != "index,compact,upsert,close" {
		t.Errorf("phases %s", got)
	}
}

func TestRunText_Errors(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	tests := []struct {
		name    string
		edit    func(*bench.TextOptions)
		want    string
		wantErr error
	}{
		{"no items", func(o *bench.TextOptions) { o.Items = 0 }, "items 0", nil},
		{"no hits", func(o *bench.TextOptions) { o.K = 0 }, "k 0", nil},
		{"too many hits", func(o *bench.TextOptions) { o.K = 5000 }, "k 5000", nil},
		{"directory not empty", func(o *bench.TextOptions) { o.Dir = full }, full, bench.ErrDirNotEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := textOptions()
			tc.edit(&o)
			_, err := bench.RunText(context.Background(), o)
			if err == nil || !strings.HasPrefix(err.Error(), "bench text: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
}
