package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/duetrec/duet/tools/bench"
)

func TestRunSnapshot_LoadOnly(t *testing.T) {
	data, _ := snapshotData(t, 300, 200)
	rep, err := bench.RunSnapshot(context.Background(), data, bench.SnapshotOptions{Repeats: 1, LoadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LoadS <= 0 || rep.VerifyS != 0 || rep.WriteS != 0 || len(rep.Zstd) != 0 || len(rep.Archive) != 0 {
		t.Fatalf("load only: %+v", rep)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "load (checksums included)") || !strings.Contains(out.String(), "× the snapshot's bytes") || strings.Contains(out.String(), "zstd") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func TestRunSnapshot(t *testing.T) {
	data, _ := snapshotData(t, 300, 200)
	rep, err := bench.RunSnapshot(context.Background(), data, bench.SnapshotOptions{Repeats: 2})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"model.duet", "text index (", "verify", "load", "write", "adjacency lists", "int8 codes", "tar archive"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	j, _ := readReport[bench.SnapshotReport](t, rep)
	if len(j.Results) != 1 {
		t.Fatalf("%d results, want 1", len(j.Results))
	}
	r := j.Results[0]
	if j.Name != "snapshot" || r.Items != 300 || j.Params["repeats"] != 2.0 || j.Params["data"] != data {
		t.Errorf("name %q, items %d, params %v", j.Name, r.Items, j.Params)
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
	// 300 vectors of testDim float32.
	if got := parts["float32 vectors (vectors.idx)"]; got != 300*testDim*4 {
		t.Errorf("vectors part is %d bytes, want %d (parts %v)", got, 300*testDim*4, parts)
	}
	// One archive result per zstd level, default and best.
	if len(r.Archive) != 2 || r.Archive[0].Bytes <= r.Bytes {
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

func TestRunSnapshot_Errors(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name    string
		data    string
		repeats int
		want    string
	}{
		{"no snapshot", empty, 1, "no complete snapshot"},
		{"no repeats", empty, 0, "repeats"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bench.RunSnapshot(context.Background(), tc.data, bench.SnapshotOptions{Repeats: tc.repeats})
			if err == nil || !strings.HasPrefix(err.Error(), "bench snapshot: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}
