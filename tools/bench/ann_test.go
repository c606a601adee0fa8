package bench_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/duetrec/duet/tools/bench"
)

// annOptions are small settings that build fast.
func annOptions(n, nq int, indexes ...string) bench.ANNOptions {
	return bench.ANNOptions{
		N: n, NQ: nq, Dim: 16, Clusters: 10, Spread: 1.5, Seed: 1, Indexes: indexes,
		M: 8, EfConstruction: 64, Ef: []int{16, 64}, K: 10, Repeat: 1,
	}
}

// runANN runs the benchmark and returns the report with its text: the
// ready line, then the table.
func runANN(t *testing.T, o bench.ANNOptions) (*bench.ANNReport, string, error) {
	t.Helper()
	var out bytes.Buffer
	o.Out = &out
	rep, err := bench.RunANN(context.Background(), o)
	if err != nil {
		return nil, out.String(), err
	}
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	return rep, out.String(), nil
}

func TestRunANN_Generated(t *testing.T) {
	var log bytes.Buffer
	o := annOptions(3000, 50, "hnsw", "exact", "coder")
	o.Log = &log
	rep, out, err := runANN(t, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log("\n" + out)
	for _, want := range []string{"recall@10", "hnsw", "exact", "coder", "the exact scan"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if n := strings.Count(log.String(), "measured "); n != 4 {
		t.Errorf("log has %d measured rows, want 4:\n%s", n, log.String())
	}
	j, b := readReport[map[string]any](t, rep)
	if j.Name != "ann" || j.Params["n"] != 3000.0 || j.Params["index"] != "hnsw,exact,coder" || len(j.Results) != 4 {
		t.Fatalf("report: %s", b)
	}
	for _, r := range j.Results {
		for _, k := range []string{"index", "ef", "recall@10", "qps", "build_s", "bytes_per_vector", "speedup_vs_exact"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("result lacks %q: %v", k, r)
			}
		}
		if r["index"] == "hnsw" && runtime.GOOS == "linux" && (r["resident_bytes_per_vector"].(float64) <= 0 || r["peak_bytes_per_vector"].(float64) <= 0) {
			t.Errorf("hnsw's resident memory not measured: %v", r)
		}
		if r["index"] == "exact" && r["recall@10"] != 1.0 {
			t.Fatalf("exact recall %v", r["recall@10"])
		}
		if r["index"] == "hnsw" && r["ef"] == 64.0 && r["recall@10"].(float64) < 0.9 {
			t.Fatalf("hnsw recall %v", r["recall@10"])
		}
	}
	if j.Summary == nil {
		t.Errorf("report lacks recall_0.95: %s", b)
	}
}

func TestRunANN_Errors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*bench.ANNOptions)
		want string
	}{
		{"unknown index", func(o *bench.ANNOptions) { o.Indexes = []string{"faiss"} }, "unknown index"},
		{"no widths", func(o *bench.ANNOptions) { o.Ef = nil }, "no search width"},
		{"zero width", func(o *bench.ANNOptions) { o.Ef = []int{0} }, "search width 0"},
		{"zero k", func(o *bench.ANNOptions) { o.K = 0 }, "k 0"},
		{"no vectors", func(o *bench.ANNOptions) { o.N = 0 }, "at least 1"},
		{"base without queries", func(o *bench.ANNOptions) { o.Base = "b.fvecs" }, "without query vectors"},
		{"missing base file", func(o *bench.ANNOptions) { o.Base, o.Queries = "absent.fvecs", "absent.fvecs" }, "absent.fvecs"},
		{"missing driver", func(o *bench.ANNOptions) { o.HNSWLib = filepath.Join(t.TempDir(), "driver") }, "hnswlib driver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := annOptions(100, 5, "exact")
			tc.edit(&o)
			_, err := bench.RunANN(context.Background(), o)
			if err == nil || !strings.HasPrefix(err.Error(), "bench ann: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func writeFvecs(t *testing.T, path string, vecs [][]float32) {
	t.Helper()
	var b bytes.Buffer
	for _, v := range vecs {
		binary.Write(&b, binary.LittleEndian, int32(len(v)))
		for _, x := range v {
			binary.Write(&b, binary.LittleEndian, math.Float32bits(x))
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunANN_Fvecs(t *testing.T) {
	dir := t.TempDir()
	d, err := bench.GenerateClustered(500, 20, 8, 5, 1.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	var base, qs [][]float32
	for i := range d.Len() {
		base = append(base, d.Base(i))
	}
	for i := range d.Queries() {
		qs = append(qs, d.Query(i))
	}
	bp, qp := filepath.Join(dir, "base.fvecs"), filepath.Join(dir, "q.fvecs")
	writeFvecs(t, bp, base)
	writeFvecs(t, qp, qs)

	o := annOptions(0, 0, "hnsw", "exact")
	o.Base, o.Queries, o.Ef, o.K = bp, qp, []int{32}, 5
	rep, out, err := runANN(t, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "500 base and 20 query vectors of dimension 8") || !strings.Contains(out, "recall@5") {
		t.Fatalf("output:\n%s", out)
	}
	j, b := readReport[map[string]any](t, rep)
	if j.Params["base"] != bp || j.Params["n"] != 500.0 || j.Params["dim"] != 8.0 || j.Params["clusters"] != nil {
		t.Errorf("params of a run on files: %s", b)
	}

	raw, err := os.ReadFile(bp)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func(path string)
		want  string
	}{
		{"truncated", func(p string) { os.WriteFile(p, raw[:len(raw)-3], 0o644) }, "truncated"},
		{"mixed dimensions", func(p string) { writeFvecs(t, p, [][]float32{{1, 2}, {1, 2, 3}}) }, "dimension"},
		{"other dimension than the queries", func(p string) { writeFvecs(t, p, [][]float32{{1, 2}}) }, "dimension"},
		{"empty", func(p string) { os.WriteFile(p, nil, 0o644) }, "no vectors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.fvecs")
			tc.write(bad)
			if _, err := bench.ReadFvecs(bad, qp); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadFvecs: %v, want an error with %q", err, tc.want)
			}
			o.Base = bad
			if _, _, err := runANN(t, o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RunANN: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// hnswlibDriver returns the driver's source, skipping the test where it
// cannot be built: it needs g++ and hnswlib's header.
func hnswlibDriver(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("no g++")
	}
	if !bench.HNSWLibHeaderInstalled() {
		t.Skip("no hnswlib header (Debian package libhnswlib-dev)")
	}
	src, err := filepath.Abs(filepath.Join("..", "hnswlib", "driver.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestRunANN_HNSWLib runs the hnswlib comparison end to end, with the
// driver built from tools/hnswlib/driver.cpp.
func TestRunANN_HNSWLib(t *testing.T) {
	o := annOptions(3000, 50, "hnsw", "exact")
	o.Ef, o.HNSWLib = []int{16, 64, 256}, hnswlibDriver(t)
	rep, out, err := runANN(t, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log("\n" + out)
	if !strings.Contains(out, "hnswlib") {
		t.Fatalf("output lacks hnswlib rows:\n%s", out)
	}
	j, b := readReport[map[string]any](t, rep)
	n := 0
	for _, r := range j.Results {
		if r["index"] != "hnswlib" {
			continue
		}
		n++
		// Both libraries find nearly all neighbours of 3000 points at
		// ef 256; a recall far off means the vectors or the labels were
		// passed wrongly.
		if r["ef"] == 256.0 && r["recall@10"].(float64) < 0.9 {
			t.Errorf("hnswlib recall %v at ef 256", r["recall@10"])
		}
		if runtime.GOOS == "linux" && (r["resident_bytes_per_vector"].(float64) <= 0 || r["peak_bytes_per_vector"].(float64) <= 0) {
			t.Errorf("hnswlib's resident memory not measured: %v", r)
		}
	}
	if n != 3 {
		t.Fatalf("%d hnswlib rows, want 3: %s", n, b)
	}
	if _, ok := j.Summary["hnsw_vs_hnswlib"]; !ok {
		t.Errorf("summary lacks the comparison: %s", b)
	}
}

func TestParseHNSWLibOutput(t *testing.T) {
	good := "build_s 1.5\nbytes_per_vector 200\npeak_bytes_per_vector 900\nef 16 qps 1000.0\n1 2\n3 4\nef 32 qps 500\n1 2\n4 3\nresident_bytes_per_vector 420\n"
	buildS, bpv, widths, err := bench.ParseHNSWLibOutput(strings.NewReader(good), 2)
	if err != nil {
		t.Fatal(err)
	}
	if buildS != 1.5 || bpv != 200 || len(widths) != 2 || widths[1].Ef != 32 || widths[1].QPS != 500 || widths[1].Labels[1][0] != "4" {
		t.Fatalf("parsed %v, %v, %+v", buildS, bpv, widths)
	}
	for _, bad := range []string{
		"build_s x\n",
		"ef 16 qps 1000\n1 2\n",
		"ef x qps 1000\n",
		"hello\n",
	} {
		if _, _, _, err := bench.ParseHNSWLibOutput(strings.NewReader(bad), 2); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestANNReport_QPSAtRecall(t *testing.T) {
	rep := &bench.ANNReport{K: 10, Rows: []bench.ANNRow{
		{Index: "a", Ef: 16, Recall: 0.90, QPS: 1000},
		{Index: "a", Ef: 32, Recall: 1.00, QPS: 100},
		{Index: "b", Ef: 16, Recall: 0.97, QPS: 800},
	}}
	tests := []struct {
		name   string
		index  string
		target float64
		want   float64 // 0 when not reached
	}{
		{"interpolated in log(qps)", "a", 0.95, 316.23},
		{"first width past the target", "b", 0.95, 800},
		{"unreachable", "a", 1.01, 0},
		{"unknown index", "c", 0.5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, ok := rep.QPSAtRecall(tc.index, tc.target)
			if ok != (tc.want > 0) || math.Abs(q-tc.want) > 0.1 {
				t.Errorf("QPSAtRecall = %v, %v; want %v", q, ok, tc.want)
			}
		})
	}
}

// The text report compares hnsw with hnswlib at recall 0.90, 0.95 and
// 0.99, and says when one of them does not reach a recall.
func TestANNReport_WriteTextCompares(t *testing.T) {
	rep := &bench.ANNReport{K: 10, Rows: []bench.ANNRow{
		{Index: "hnsw", Ef: 16, Recall: 0.85, QPS: 4000},
		{Index: "hnsw", Ef: 32, Recall: 0.95, QPS: 2000},
		{Index: "hnsw", Ef: 64, Recall: 0.995, QPS: 1000},
		{Index: "hnswlib", Ef: 16, Recall: 0.90, QPS: 2000},
		{Index: "hnswlib", Ef: 32, Recall: 0.95, QPS: 1000},
	}}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"recall@10 0.90 (interpolated): hnsw 2828, hnswlib 2000, ratio 1.41",
		"recall@10 0.95 (interpolated): hnsw 2000, hnswlib 1000, ratio 2.00",
		"no hnsw/hnswlib comparison: recall@10 0.99 reached by hnsw true, hnswlib false",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRunANN_Cache checks that the cache saves each graph once and that a
// later run with the same data and settings loads it (same recall at every
// width, file untouched), while other settings get their own file and a
// damaged file fails the run.
func TestRunANN_Cache(t *testing.T) {
	dir := t.TempDir()
	o := annOptions(2000, 40, "hnsw")
	o.EfConstruction, o.Cache = 48, filepath.Join(dir, "graphs")
	withLib := exec.Command("g++", "--version").Run() == nil && bench.HNSWLibHeaderInstalled()
	if withLib {
		src, err := filepath.Abs(filepath.Join("..", "hnswlib", "driver.cpp"))
		if err != nil {
			t.Fatal(err)
		}
		o.HNSWLib = src
	}
	recalls := func(rep *bench.ANNReport) []string {
		var rs []string
		for _, r := range rep.Rows {
			rs = append(rs, fmt.Sprintf("%s %d %.4f", r.Index, r.Ef, r.Recall))
		}
		return rs
	}
	first := o
	first.CPUProfile = filepath.Join(dir, "cpu.prof")
	rep1, out1, err := runANN(t, first)
	if err != nil {
		t.Fatalf("%v\n%s", err, out1)
	}
	if fi, err := os.Stat(first.CPUProfile); err != nil || fi.Size() == 0 {
		t.Errorf("cpu profile: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(o.Cache, "*.bin"))
	want := 1
	if withLib {
		want = 2
	}
	if len(files) != want {
		t.Fatalf("cache holds %v, want %d graphs", files, want)
	}
	stamp := map[string]int64{}
	for _, f := range files {
		fi, _ := os.Stat(f)
		stamp[f] = fi.ModTime().UnixNano()
	}
	rep2, out2, err := runANN(t, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out2)
	}
	r1, r2 := recalls(rep1), recalls(rep2)
	if len(r1) != 2*want || strings.Join(r1, ",") != strings.Join(r2, ",") {
		t.Errorf("recalls differ between the built and the loaded graphs:\n%v\n%v", r1, r2)
	}
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.ModTime().UnixNano() != stamp[f] {
			t.Errorf("%s rewritten by the second run", f)
		}
	}

	drop := o
	drop.DropPruned, drop.HNSWLib = true, ""
	if _, out, err := runANN(t, drop); err != nil {
		t.Fatalf("DropPruned: %v\n%s", err, out)
	}
	if more, _ := filepath.Glob(filepath.Join(o.Cache, "*.bin")); len(more) != want+1 {
		t.Errorf("DropPruned: cache holds %v, want its own graph beside %d", more, want)
	}

	hnswFiles, _ := filepath.Glob(filepath.Join(o.Cache, "hnsw-gen-*.bin"))
	if len(hnswFiles) != 1 {
		t.Fatalf("hnsw graphs in the cache: %v, want 1", hnswFiles)
	}
	if err := os.WriteFile(hnswFiles[0], []byte("not a graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	damaged := o
	damaged.HNSWLib = ""
	if _, _, err := runANN(t, damaged); err == nil || !strings.Contains(err.Error(), "cached graph") {
		t.Errorf("damaged cache file: %v", err)
	}
}
