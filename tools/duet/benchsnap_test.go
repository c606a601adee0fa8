package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duetrec/duet/search/snapshot"
)

func TestBenchSnapshot(t *testing.T) {
	data := smallData(t, "300", "200", "4")
	// smallData builds an exact index; a second rebuild reusing its model
	// makes the newest snapshot an HNSW one, whose file is split in parts.
	dirs, err := snapshot.NewRoot(data).List()
	if err != nil || len(dirs) == 0 {
		t.Fatalf("snapshots: %v, %v", dirs, err)
	}
	mustRun(t, rebuildArgs(data, "--ann", "hnsw", "--model", filepath.Join(dirs[0], "model.duet"))...)

	out := filepath.Join(t.TempDir(), "bench.json")
	stdout := mustRun(t, "bench", "snapshot", "--data", data, "--repeats", "2", "--json", out)
	for _, want := range []string{"model.duet", "text index (", "verify", "load", "write", "adjacency lists", "tar archive"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Name    string       `json:"name"`
		Results []snapReport `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want 1", len(rep.Results))
	}
	r := rep.Results[0]
	if rep.Name != "snapshot" || r.Items != 300 {
		t.Errorf("name %q, items %d", rep.Name, r.Items)
	}
	var sum int64
	for _, f := range r.Files {
		sum += f.Bytes
	}
	if sum != r.Bytes || sum == 0 {
		t.Errorf("files add up to %d, total %d", sum, r.Bytes)
	}
	parts := map[string]int64{}
	for _, z := range r.Zstd {
		if z.Bytes <= 0 || z.Compressed <= 0 {
			t.Errorf("%s %s: %d → %d bytes", z.Part, z.Level, z.Bytes, z.Compressed)
		}
		parts[z.Part] = z.Bytes
	}
	// 300 vectors of 64 float32.
	if got := parts["float32 vectors (vectors.idx)"]; got != 300*64*4 {
		t.Errorf("vectors part is %d bytes, want %d (parts %v)", got, 300*64*4, parts)
	}
	if len(r.Archive) != len(zstdLevels) || r.Archive[0].Bytes <= r.Bytes {
		t.Errorf("archive %+v of a %d-byte snapshot", r.Archive, r.Bytes)
	}
	// The data directory is only read: no temporary or live directory is
	// left in it.
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".live-") {
			t.Errorf("%s left in the data directory", e.Name())
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
