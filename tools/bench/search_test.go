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

func TestRunSearch(t *testing.T) {
	data, _ := snapshotData(t, 200, 100)
	dir := t.TempDir()
	o := bench.SearchOptions{
		Data: data, Queries: 80, K: 5, Seed: 1,
		CPUProfile: filepath.Join(dir, "cpu.prof"), MemProfile: filepath.Join(dir, "mem.prof"),
	}
	rep, err := bench.RunSearch(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 200 || rep.ANN != "hnsw" || rep.P50 <= 0 || rep.P99 < rep.P50 || rep.Sum.Total <= 0 {
		t.Errorf("report %+v", rep)
	}
	for _, p := range []string{o.CPUProfile, o.MemProfile} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", p, err)
		}
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(200 items, hnsw)", "80 hybrid requests (words), k=5", "time by stage: user vector"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	j, b := readReport[map[string]any](t, rep)
	if j.Name != "search" || j.Params["queries"] != 80.0 || len(j.Results) != 1 {
		t.Fatalf("report %s", b)
	}
	shares, _ := j.Results[0]["stage_share"].(map[string]any)
	for _, stage := range []string{"user_vector", "query_vector", "ann", "bleve", "fusion", "rerank"} {
		if _, ok := shares[stage]; !ok {
			t.Errorf("stage_share lacks %q: %s", stage, b)
		}
	}
}

func TestRunSearch_Shapes(t *testing.T) {
	data, _ := snapshotData(t, 200, 100)
	for _, shape := range []string{bench.ShapeTyping, bench.ShapeTypo, bench.ShapeSuggest} {
		rep, err := bench.RunSearch(context.Background(), bench.SearchOptions{Data: data, Queries: 40, K: 5, Seed: 1, Shape: shape})
		if err != nil || rep.Shape != shape || rep.P99 <= 0 {
			t.Fatalf("%s: %+v %v", shape, rep, err)
		}
	}
}

func TestRunSearch_Errors(t *testing.T) {
	tests := []struct {
		name string
		o    bench.SearchOptions
		want string
	}{
		{"no queries", bench.SearchOptions{Data: t.TempDir(), K: 10}, "queries 0"},
		{"no snapshot", bench.SearchOptions{Data: t.TempDir(), Queries: 10, K: 10}, "snapshot"},
		{"unknown shape", bench.SearchOptions{Data: t.TempDir(), Queries: 10, K: 10, Shape: "shouting"}, "shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bench.RunSearch(context.Background(), tc.o)
			if err == nil || !strings.HasPrefix(err.Error(), "bench search: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
