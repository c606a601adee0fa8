package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSnapshotAndSearch runs both commands that read a data
// directory on one small data set.
func TestBenchSnapshotAndSearch(t *testing.T) {
	endToEnd(t, "benchmarks loads and searches")
	data := smallData(t, "300", "200", "4")
	dir := t.TempDir()

	out := mustRun(t, "bench", "snapshot", "--data", data, "--repeats", "2", "--json", filepath.Join(dir, "snapshot.json"))
	for _, want := range []string{"(300 items)", "model.duet", "text index (", "  total ", "verify", "peak RSS", "tar archive written", "zstd: part, level"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench snapshot output lacks %q:\n%s", want, out)
		}
	}

	out = mustRun(t, "bench", "search", "--data", data, "--queries", "60", "--json", filepath.Join(dir, "search.json"))
	for _, want := range []string{"(300 items, exact)", "60 hybrid requests (words), k=10, one at a time: p50 ", "time by stage: user vector"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench search output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"snapshot", "search"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil || !strings.Contains(string(b), `"name": "`+name+`"`) {
			t.Errorf("%s --json: %v\n%s", name, err, b)
		}
	}
}

func TestBenchSnapshot_Errors(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no data", nil, 2, "--data is required"},
		{"no repeats", []string{"--data", empty, "--repeats", "0"}, 2, "--repeats"},
		{"no snapshot", []string{"--data", empty}, 1, "no complete snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, append([]string{"bench", "snapshot"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant text %q", code, tc.code, out, errs, tc.want)
			}
		})
	}
}
