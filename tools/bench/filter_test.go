package bench_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duetrec/duet/tools/bench"
)

func TestRunFilter(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	o := bench.FilterOptions{N: 6000, NQ: 20, Dim: 16, Clusters: 20, Spread: 1, Seed: 3, Shares: []float64{0.5, 0.01},
		M: 8, EfConstruction: 64, Ef: []int{64}, K: 10, Predicate: true, Cache: cache}
	rep, err := bench.RunFilter(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// 2 shares × 3 kinds × 2 correlations × 2 filters × 1 width.
	if len(rep.Rows) != 24 {
		t.Fatalf("%d rows, want 24", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		if want := r.Share * 6000; float64(r.Allowed) < want/2 || float64(r.Allowed) > want*2 {
			t.Errorf("%s correlated=%t share %g: %d allowed, want about %.0f", r.Kind, r.Correlated, r.Share, r.Allowed, want)
		}
		if r.Recall < 0.9 || r.QPS <= 0 || r.ExactQPS <= 0 {
			t.Errorf("%+v: want recall ≥ 0.9 and speeds", r)
		}
		if r.Walks+r.Scans+r.FullScans != 20 {
			t.Errorf("%+v: want every query counted once", r)
		}
		// The listed filter scores few items directly; the predicate
		// cannot list them and scans every node.
		if r.Share == 0.01 && r.Filter == "listed" && (r.Scans != 20 || r.Recall != 1) {
			t.Errorf("%+v: want 20 exact scans of the listed items", r)
		}
		if r.Share == 0.01 && r.Filter == "predicate" && r.FullScans != 20 {
			t.Errorf("%+v: want 20 full scans", r)
		}
		if r.Share == 0.5 && r.Walks != 20 {
			t.Errorf("%+v: want 20 walks", r)
		}
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 26 || !strings.HasPrefix(lines[0], "catalogue: ") {
		t.Errorf("text report: want the catalogue line, a header and 24 rows:\n%s", out.String())
	}
	path := filepath.Join(t.TempDir(), "filter.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Contains(b, []byte(`"name": "filter"`)) || !bytes.Contains(b, []byte(`"full_scans": 20`)) {
		t.Errorf("json: %v\n%s", err, b)
	}
	// The graph was cached, and a second run loads it.
	if files, _ := os.ReadDir(cache); len(files) != 1 {
		t.Errorf("cache holds %d files, want the graph", len(files))
	}
	o.Shares, o.Predicate = []float64{0.01}, false
	if rep, err = bench.RunFilter(ctx, o); err != nil || len(rep.Rows) != 6 {
		t.Fatalf("second run: %v", err)
	}
}

func TestRunFilter_Errors(t *testing.T) {
	ok := bench.FilterOptions{N: 100, NQ: 2, Dim: 4, Clusters: 2, Seed: 1, M: 4, EfConstruction: 8, Ef: []int{8}, K: 5}
	for name, edit := range map[string]func(*bench.FilterOptions){
		"share 0":   func(o *bench.FilterOptions) { o.Shares = []float64{0} },
		"share 1.5": func(o *bench.FilterOptions) { o.Shares = []float64{1.5} },
		"no width":  func(o *bench.FilterOptions) { o.Ef = nil },
		"width 0":   func(o *bench.FilterOptions) { o.Ef = []int{0} },
		"k 0":       func(o *bench.FilterOptions) { o.K = 0 },
		"no items":  func(o *bench.FilterOptions) { o.N = 0 },
	} {
		o := ok
		edit(&o)
		if _, err := bench.RunFilter(context.Background(), o); err == nil || !strings.HasPrefix(err.Error(), "bench filter: ") {
			t.Errorf("%s: %v, want an error", name, err)
		}
	}
}
