package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runBenchANNCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newBenchANNCmd()
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestBenchANN_Generated(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "ann.json")
	out, err := runBenchANNCLI(t, "--n", "3000", "--dim", "16", "--clusters", "10", "--queries", "50",
		"--index", "hnsw,exact,coder", "--ef", "16,64", "--m", "8", "--ef-construction", "64", "--json", jsonPath)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log("\n" + out)
	for _, want := range []string{"recall@10", "hnsw", "exact", "coder", "the exact scan"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Name    string           `json:"name"`
		Params  map[string]any   `json:"params"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Name != "ann" || rep.Params["n"] != 3000.0 || len(rep.Results) != 4 {
		t.Fatalf("report: %s", b)
	}
	for _, r := range rep.Results {
		for _, k := range []string{"index", "ef", "recall@10", "qps", "build_s", "bytes_per_vector"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("result lacks %q: %v", k, r)
			}
		}
		if r["index"] == "exact" && r["recall@10"] != 1.0 {
			t.Fatalf("exact recall %v", r["recall@10"])
		}
		if r["index"] == "hnsw" && r["ef"] == 64.0 && r["recall@10"].(float64) < 0.9 {
			t.Fatalf("hnsw recall %v", r["recall@10"])
		}
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

func TestBenchANN_Fvecs(t *testing.T) {
	dir := t.TempDir()
	d := generateClustered(500, 20, 8, 5, 1.5, 3)
	var base, qs [][]float32
	for i := range d.n {
		base = append(base, d.row(d.base, i))
	}
	for i := range d.nq {
		qs = append(qs, d.row(d.qs, i))
	}
	bp, qp := filepath.Join(dir, "base.fvecs"), filepath.Join(dir, "q.fvecs")
	writeFvecs(t, bp, base)
	writeFvecs(t, qp, qs)
	out, err := runBenchANNCLI(t, "--base", bp, "--queries", qp, "--ef", "32", "--k", "5")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "500 base and 20 query vectors of dimension 8") || !strings.Contains(out, "recall@5") {
		t.Fatalf("output:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.fvecs")
	raw, _ := os.ReadFile(bp)
	os.WriteFile(bad, raw[:len(raw)-3], 0o644)
	if _, err := runBenchANNCLI(t, "--base", bad, "--queries", qp); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated file: %v", err)
	}
	writeFvecs(t, bad, [][]float32{{1, 2}, {1, 2, 3}})
	if _, err := runBenchANNCLI(t, "--base", bad, "--queries", qp); err == nil || !strings.Contains(err.Error(), "dimension") {
		t.Fatalf("mixed dimensions: %v", err)
	}
}

func TestBenchANN_Usage(t *testing.T) {
	cases := [][]string{
		{"--index", "faiss"},
		{"--ef", "16,x"},
		{"--ef", "0"},
		{"--k", "0"},
		{"--n", "0"},
		{"--queries", "many"},
		{"--base", "b.fvecs"},
		{"extra"},
	}
	for _, args := range cases {
		_, err := runBenchANNCLI(t, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

// TestBenchANN_HNSWLib runs the hnswlib comparison end to end: the driver
// is built from tools/hnswlib/driver.cpp, so the test needs g++ and
// hnswlib's header and skips without them.
func TestBenchANN_HNSWLib(t *testing.T) {
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("no g++")
	}
	if !hnswlibHeaderInstalled() {
		t.Skip("no hnswlib header (Debian package libhnswlib-dev)")
	}
	src, err := filepath.Abs(filepath.Join("..", "hnswlib", "driver.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(t.TempDir(), "ann.json")
	out, err := runBenchANNCLI(t, "--n", "3000", "--dim", "16", "--clusters", "10", "--queries", "50",
		"--index", "hnsw,exact", "--ef", "16,64,256", "--m", "8", "--ef-construction", "64",
		"--hnswlib", src, "--json", jsonPath)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log("\n" + out)
	if !strings.Contains(out, "hnswlib") {
		t.Fatalf("output lacks hnswlib rows:\n%s", out)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []map[string]any `json:"results"`
		Summary map[string]any   `json:"recall_0.95"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rep.Results {
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
	}
	if n != 3 {
		t.Fatalf("%d hnswlib rows, want 3: %s", n, b)
	}
	if _, ok := rep.Summary["hnsw_vs_hnswlib"]; !ok {
		t.Errorf("summary lacks the comparison: %s", b)
	}
}

func TestBenchANN_HNSWLibOutput(t *testing.T) {
	good := "build_s 1.5\nbytes_per_vector 200\nef 16 qps 1000.0\n1 2\n3 4\nef 32 qps 500\n1 2\n4 3\n"
	res, err := parseHNSWLibOutput(strings.NewReader(good), 2)
	if err != nil {
		t.Fatal(err)
	}
	if res.buildS != 1.5 || res.bpv != 200 || len(res.rows) != 2 || res.rows[1].ef != 32 || res.rows[1].labels[1][0] != "4" {
		t.Fatalf("parsed %+v", res)
	}
	for _, bad := range []string{
		"build_s x\n",
		"ef 16 qps 1000\n1 2\n",
		"hello\n",
	} {
		if _, err := parseHNSWLibOutput(strings.NewReader(bad), 2); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	rows := []map[string]any{
		{"index": "a", "recall@10": 0.90, "qps": 1000.0},
		{"index": "a", "recall@10": 1.00, "qps": 100.0},
	}
	if q, ok := qpsAtRecall(rows, "a", "recall@10", 0.95); !ok || math.Abs(q-316.23) > 0.1 {
		t.Errorf("qpsAtRecall = %v, %v; want about 316", q, ok)
	}
	if _, ok := qpsAtRecall(rows, "a", "recall@10", 1.01); ok {
		t.Error("qpsAtRecall reached an unreachable recall")
	}
}

// TestBenchANN_Cache checks that --cache saves each graph once and that a
// later run with the same data and settings loads it (same recall at every
// width, file untouched), while other settings get their own file and a
// damaged file fails the run.
func TestBenchANN_Cache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "graphs")
	args := []string{"--n", "2000", "--dim", "16", "--clusters", "10", "--queries", "40",
		"--index", "hnsw", "--ef", "16,64", "--m", "8", "--ef-construction", "48", "--cache", cache}
	withLib := exec.Command("g++", "--version").Run() == nil && hnswlibHeaderInstalled()
	if withLib {
		src, err := filepath.Abs(filepath.Join("..", "hnswlib", "driver.cpp"))
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--hnswlib", src)
	}
	recalls := func(out string) []string {
		var rs []string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 3 && (f[0] == "hnsw" || f[0] == "hnswlib") {
				rs = append(rs, f[0]+" "+f[1]+" "+f[2])
			}
		}
		return rs
	}
	profile := filepath.Join(dir, "cpu.prof")
	out1, err := runBenchANNCLI(t, append(args, "--cpuprofile", profile)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out1)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Errorf("cpu profile: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.bin"))
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
	out2, err := runBenchANNCLI(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out2)
	}
	r1, r2 := recalls(out1), recalls(out2)
	if len(r1) != 2*want || strings.Join(r1, ",") != strings.Join(r2, ",") {
		t.Errorf("recalls differ between the built and the loaded graphs:\n%v\n%v", r1, r2)
	}
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.ModTime().UnixNano() != stamp[f] {
			t.Errorf("%s rewritten by the second run", f)
		}
	}

	if out, err := runBenchANNCLI(t, append(args, "--drop-pruned", "--hnswlib", "")...); err != nil {
		t.Fatalf("--drop-pruned: %v\n%s", err, out)
	}
	if more, _ := filepath.Glob(filepath.Join(cache, "*.bin")); len(more) != want+1 {
		t.Errorf("--drop-pruned: cache holds %v, want its own graph beside %d", more, want)
	}

	hnswFile := cachePath(annParams{N: 2000, Dim: 16, Clusters: 10, Spread: 1.5, Seed: 1, M: 8, EfConstr: 48, Cache: cache}, "hnsw")
	if err := os.WriteFile(hnswFile, []byte("not a graph"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runBenchANNCLI(t, append(args, "--hnswlib", "")...); err == nil || !strings.Contains(err.Error(), "cached graph") {
		t.Errorf("damaged cache file: %v", err)
	}
}
