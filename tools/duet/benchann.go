package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/vec"
)

// annParams are the settings of one `duet bench ann` run; they are echoed
// into the JSON report.
type annParams struct {
	Base       string  `json:"base,omitempty"`
	Queries    string  `json:"queries,omitempty"`
	N          int     `json:"n"`
	NQ         int     `json:"nq"`
	Dim        int     `json:"dim"`
	Clusters   int     `json:"clusters,omitempty"`
	Spread     float64 `json:"spread,omitempty"`
	Seed       uint64  `json:"seed"`
	Indexes    string  `json:"index"`
	M          int     `json:"m"`
	EfConstr   int     `json:"ef_construction"`
	DropPruned bool    `json:"drop_pruned,omitempty"`
	Ef         []int   `json:"ef"`
	K          int     `json:"k"`
	Repeat     int     `json:"repeat"`
	Workers    int     `json:"workers"`
	Kernel     string  `json:"kernel"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	HNSWLib    string  `json:"hnswlib,omitempty"`
	Cache      string  `json:"cache,omitempty"`
	CPUProfile string  `json:"-"`
}

func newBenchANNCmd() *cobra.Command {
	var (
		p        annParams
		queries  string
		efList   string
		jsonPath string
	)
	cmd := &cobra.Command{
		Use:   "ann (--base B.fvecs --queries Q.fvecs | --n N --dim D --clusters C --seed S [--queries NQ])",
		Short: "Measure recall, speed and size of the vector indexes",
		Long: `Build each index over the base vectors, search it with every query and
report recall@k against an exact scan, queries per second (one goroutine),
build time and memory per vector, at each search width --ef.

Vectors come from .fvecs files (the format of the ANN benchmarks: per
vector a little-endian int32 dimension, then that many float32s) or are
generated: N unit vectors around C random centres, and --queries more
drawn around the same centres. The indexes store unit vectors, so scores
are cosine similarities.

The summary names, for each approximate index, the smallest --ef whose
recall@k reaches 0.95 and its speed-up over the exact scan.

--hnswlib runs hnswlib on the same vectors with the same M,
--ef-construction, --ef and build workers, through the driver in
tools/hnswlib: give the driver binary, or its driver.cpp to have it built
with g++ (needs hnswlib's header, Debian package libhnswlib-dev). The
summary then compares the queries per second both reach at recall@k 0.95,
interpolated between the measured widths.

--cache keeps the built graphs (Duet's hnsw and hnswlib's) in a directory
and loads them in later runs with the same vectors, M, --ef-construction
and --seed, so that repeated measurements of the searches skip the builds;
build s then reports the load time.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if p.Ef, err = parseInts(efList); err != nil {
				return usagef("--ef: %v", err)
			}
			if p.K < 1 || p.M < 2 || p.EfConstr < 1 || p.Repeat < 1 {
				return usagef("--k and --repeat must be at least 1, --m at least 2, --ef-construction at least 1")
			}
			for _, name := range strings.Split(p.Indexes, ",") {
				if name != "hnsw" && name != "exact" && name != "coder" {
					return usagef("--index: unknown index %q (want hnsw, exact, coder)", name)
				}
			}
			if p.Base != "" {
				if queries == "" {
					return usagef("--base needs --queries Q.fvecs")
				}
				p.Queries = queries
			} else {
				if p.N < 1 || p.Dim < 1 || p.Clusters < 1 {
					return usagef("give --base and --queries files, or --n, --dim and --clusters of at least 1")
				}
				p.NQ = 1000
				if queries != "" {
					if p.NQ, err = strconv.Atoi(queries); err != nil || p.NQ < 1 {
						return usagef("--queries: want a count of generated queries, got %q", queries)
					}
				}
			}
			if p.Workers < 1 {
				p.Workers = runtime.GOMAXPROCS(0)
			}
			return runBenchANN(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), p, jsonPath)
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Base, "base", "", "base vectors (.fvecs)")
	f.StringVar(&queries, "queries", "", "query vectors (.fvecs) with --base; else the number of generated queries (default 1000)")
	f.IntVar(&p.N, "n", 100000, "number of generated base vectors")
	f.IntVar(&p.Dim, "dim", 64, "dimension of generated vectors")
	f.IntVar(&p.Clusters, "clusters", 100, "number of clusters of generated vectors")
	f.Float64Var(&p.Spread, "spread", 1.5, "distance of a generated vector from its (unit) centre before normalisation")
	f.Uint64Var(&p.Seed, "seed", 1, "random seed for generated data and level generation")
	f.StringVar(&p.Indexes, "index", "hnsw,exact", "comma-separated indexes to measure: hnsw, exact, coder")
	f.IntVar(&p.M, "m", 16, "HNSW neighbours per node (2·M on layer 0)")
	f.IntVar(&p.EfConstr, "ef-construction", 200, "HNSW construction search width")
	f.BoolVar(&p.DropPruned, "drop-pruned", false, "build Duet's HNSW with DropPruned: lists keep only the heuristic's picks, as hnswlib's do")
	f.StringVar(&efList, "ef", "16,32,64,128,256", "comma-separated search widths")
	f.IntVar(&p.K, "k", 10, "neighbours per query")
	f.IntVar(&p.Repeat, "repeat", 1, "run the queries this many times at each width and report the fastest pass (steadier on a busy machine)")
	f.IntVar(&p.Workers, "workers", 0, "goroutines adding vectors during the build (default GOMAXPROCS)")
	f.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
	f.StringVar(&p.HNSWLib, "hnswlib", "", "also run hnswlib through this driver binary, or build it from this driver.cpp (tools/hnswlib)")
	f.StringVar(&p.CPUProfile, "cpuprofile", "", "write a CPU profile of the searches of the first approximate index to this file")
	f.StringVar(&p.Cache, "cache", "", "keep built graphs in this directory and reuse them in runs with the same data and settings")
	return cmd
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("want positive integers separated by commas, got %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

type annData struct {
	dim        int
	base, qs   []float32
	n, nq      int
	ids        []string
	generation time.Duration
}

func (d *annData) row(v []float32, i int) []float32 { return v[i*d.dim : (i+1)*d.dim] }

// runBenchANN writes the report to out and, as each row is measured, a
// line to log, so that a run of an hour shows what it has so far.
func runBenchANN(ctx context.Context, out, log io.Writer, p annParams, jsonPath string) error {
	start := time.Now()
	var (
		d      *annData
		err    error
		driver string
	)
	if p.HNSWLib != "" {
		// Build or check the driver first, so that a missing compiler
		// fails the run before the long part.
		tmp, err := os.MkdirTemp("", "duet-hnswlib-")
		if err != nil {
			return fmt.Errorf("bench ann: %w", err)
		}
		defer os.RemoveAll(tmp)
		if driver, err = hnswlibDriver(ctx, p.HNSWLib, tmp); err != nil {
			return fmt.Errorf("bench ann: %w", err)
		}
	}
	if p.Cache != "" {
		if err := os.MkdirAll(p.Cache, 0o755); err != nil {
			return fmt.Errorf("bench ann: %w", err)
		}
	}
	if p.Base != "" {
		d, err = readANNFiles(p.Base, p.Queries)
		if err != nil {
			return fmt.Errorf("bench ann: %w", err)
		}
		p.N, p.NQ, p.Dim, p.Clusters, p.Spread = d.n, d.nq, d.dim, 0, 0
	} else {
		d = generateClustered(p.N, p.NQ, p.Dim, p.Clusters, p.Spread, p.Seed)
	}
	p.Kernel, p.GOMAXPROCS = vec.Kernel(), runtime.GOMAXPROCS(0)
	fmt.Fprintf(out, "%d base and %d query vectors of dimension %d ready in %.2fs (kernel %s, %d CPUs)\n",
		d.n, d.nq, d.dim, time.Since(start).Seconds(), p.Kernel, p.GOMAXPROCS)

	truth, exactRes, err := groundTruth(ctx, d, p.K, p.Repeat)
	if err != nil {
		return err
	}
	var rows []map[string]any
	addRow := func(name string, ef int, recall, qps, buildS, bpv float64) map[string]any {
		r := map[string]any{
			"index":                       name,
			"ef":                          ef,
			fmt.Sprintf("recall@%d", p.K): round(recall, 4),
			"qps":                         round(qps, 1),
			"build_s":                     round(buildS, 3),
			"bytes_per_vector":            math.Round(bpv),
			"speedup_vs_exact":            round(qps/exactRes.qps, 2),
		}
		rows = append(rows, r)
		fmt.Fprintf(log, "measured %s ef=%d %s=%.4f qps=%.1f build_s=%.2f bytes_per_vector=%.0f\n",
			name, ef, fmt.Sprintf("recall@%d", p.K), recall, qps, buildS, bpv)
		return r
	}
	for _, name := range strings.Split(p.Indexes, ",") {
		if name == "exact" {
			addRow("exact", 0, 1, exactRes.qps, exactRes.buildS, exactRes.bpv)
			continue
		}
		idx, buildS, bpv, err := buildANN(ctx, name, d, p)
		if err != nil {
			return fmt.Errorf("bench ann: build %s: %w", name, err)
		}
		efs := p.Ef
		if name == "coder" {
			// coder/hnsw has one width for building and searching, fixed
			// when it is built.
			efs = []int{p.EfConstr}
		}
		stop, err := startProfile(p.CPUProfile)
		if err != nil {
			return fmt.Errorf("bench ann: %w", err)
		}
		p.CPUProfile = "" // only the first index's searches
		for _, ef := range efs {
			recall, qps, err := measure(ctx, idx, d, truth, p.K, ef, p.Repeat)
			if err != nil {
				stop()
				return fmt.Errorf("bench ann: search %s: %w", name, err)
			}
			addRow(name, ef, recall, qps, buildS, bpv)
		}
		if err := stop(); err != nil {
			return fmt.Errorf("bench ann: %w", err)
		}
		idx = nil
		runtime.GC()
	}
	if driver != "" {
		res, err := runHNSWLib(ctx, driver, d, p)
		if err != nil {
			return fmt.Errorf("bench ann: %w", err)
		}
		for _, r := range res.rows {
			addRow("hnswlib", r.ef, recallOf(r.labels, truth), r.qps, res.buildS, res.bpv)
		}
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	recallKey := fmt.Sprintf("recall@%d", p.K)
	fmt.Fprintf(tw, "index\tef\t%s\tqps\tspeed-up\tbuild s\tbytes/vector\t\n", recallKey)
	for _, r := range rows {
		ef := "-"
		if r["ef"].(int) > 0 {
			ef = strconv.Itoa(r["ef"].(int))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.0f\t%.1f×\t%.2f\t%.0f\t\n", r["index"], ef, r[recallKey], r["qps"], r["speedup_vs_exact"], r["build_s"], r["bytes_per_vector"])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := map[string]any{}
	names := strings.Split(p.Indexes, ",")
	if driver != "" {
		names = append(names, "hnswlib")
	}
	for _, name := range names {
		if name == "exact" {
			continue
		}
		var best map[string]any
		for _, r := range rows {
			if r["index"] == name && r[recallKey].(float64) >= 0.95 {
				best = r
				break
			}
		}
		if best == nil {
			fmt.Fprintf(out, "%s: no --ef reached %s ≥ 0.95\n", name, recallKey)
			continue
		}
		fmt.Fprintf(out, "%s: %s ≥ 0.95 first at ef=%d: %.0f qps, %.1f× the exact scan\n", name, recallKey, best["ef"], best["qps"], best["speedup_vs_exact"])
		summary[name] = map[string]any{"ef": best["ef"], "qps": best["qps"], "speedup_vs_exact": best["speedup_vs_exact"]}
	}
	if driver != "" && strings.Contains(","+p.Indexes+",", ",hnsw,") {
		const target = 0.95
		dq, dok := qpsAtRecall(rows, "hnsw", recallKey, target)
		lq, lok := qpsAtRecall(rows, "hnswlib", recallKey, target)
		if dok && lok {
			ratio := dq / lq
			fmt.Fprintf(out, "queries/s at %s %.2f (interpolated): hnsw %.0f, hnswlib %.0f, ratio %.2f\n", recallKey, target, dq, lq, ratio)
			summary["hnsw_vs_hnswlib"] = map[string]any{"hnsw_qps": round(dq, 1), "hnswlib_qps": round(lq, 1), "ratio": round(ratio, 3)}
		} else {
			fmt.Fprintf(out, "no hnsw/hnswlib comparison: %s %.2f reached by hnsw %t, hnswlib %t\n", recallKey, target, dok, lok)
		}
	}
	if jsonPath == "" {
		return nil
	}
	rep := map[string]any{"name": "ann", "params": p, "results": rows, "recall_0.95": summary}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench ann: %w", err)
	}
	return nil
}

func round(x float64, digits int) float64 {
	s := math.Pow(10, float64(digits))
	return math.Round(x*s) / s
}

type exactResult struct {
	qps, buildS, bpv float64
}

// groundTruth answers every query with an exact scan, which also gives the
// exact index's row of the table; its speed is the fastest of repeat
// passes, as for the other indexes.
func groundTruth(ctx context.Context, d *annData, k, repeat int) ([][]string, exactResult, error) {
	var res exactResult
	before := heapInUse()
	start := time.Now()
	e, err := index.NewExact(d.dim)
	if err != nil {
		return nil, res, err
	}
	for i, id := range d.ids {
		if err := e.Add(id, d.row(d.base, i)); err != nil {
			return nil, res, fmt.Errorf("bench ann: base vector %d: %w", i, err)
		}
	}
	res.buildS = time.Since(start).Seconds()
	res.bpv = float64(heapInUse()-before) / float64(d.n)
	truth := make([][]string, d.nq)
	for range max(1, repeat) {
		start = time.Now()
		for i := range d.nq {
			hits, err := e.Search(ctx, d.row(d.qs, i), k, nil)
			if err != nil {
				return nil, res, fmt.Errorf("bench ann: query %d: %w", i, err)
			}
			truth[i] = truth[i][:0]
			for _, h := range hits {
				truth[i] = append(truth[i], h.ID)
			}
		}
		res.qps = max(res.qps, float64(d.nq)/time.Since(start).Seconds())
	}
	return truth, res, nil
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// startProfile starts a CPU profile into path and returns the function that
// stops it and closes the file; with no path both do nothing.
func startProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// cachePath returns the file under p.Cache that holds the graph the named
// library builds from these vectors with these settings, or "" without a
// cache.
func cachePath(p annParams, lib string) string {
	if p.Cache == "" {
		return ""
	}
	data := fmt.Sprintf("gen-n%d-d%d-c%d-s%g-seed%d", p.N, p.Dim, p.Clusters, p.Spread, p.Seed)
	if p.Base != "" {
		size := int64(-1)
		if fi, err := os.Stat(p.Base); err == nil {
			size = fi.Size()
		}
		data = fmt.Sprintf("file-%s-%d-seed%d", filepath.Base(p.Base), size, p.Seed)
	}
	return filepath.Join(p.Cache, fmt.Sprintf("%s-%s-m%d-efc%d.bin", lib, data, p.M, p.EfConstr))
}

// loadCachedHNSW loads the graph at path; ok is false when there is none.
func loadCachedHNSW(ctx context.Context, path string) (h *index.HNSW, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	h, err = index.LoadHNSW(ctx, bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, false, fmt.Errorf("cached graph %s: %w", path, err)
	}
	return h, true, nil
}

func saveCachedHNSW(ctx context.Context, path string, h *index.HNSW) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := h.Save(ctx, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func buildANN(ctx context.Context, name string, d *annData, p annParams) (idx index.Vector, buildS, bpv float64, err error) {
	before := heapInUse()
	cached := ""
	if name == "hnsw" {
		lib := "hnsw"
		if p.DropPruned {
			lib = "hnsw-drop"
		}
		cached = cachePath(p, lib)
	}
	if cached != "" {
		start := time.Now()
		h, ok, err := loadCachedHNSW(ctx, cached)
		if err != nil {
			return nil, 0, 0, err
		}
		if ok {
			if h.Len() != d.n || h.Dim() != d.dim {
				return nil, 0, 0, fmt.Errorf("cached graph %s holds %d vectors of dimension %d, want %d of %d", cached, h.Len(), h.Dim(), d.n, d.dim)
			}
			return h, time.Since(start).Seconds(), float64(heapInUse()-before) / float64(d.n), nil
		}
	}
	switch name {
	case "hnsw":
		idx, err = index.NewHNSW(d.dim, index.HNSWOptions{M: p.M, EfConstruction: p.EfConstr, Seed: p.Seed, DropPruned: p.DropPruned})
	case "coder":
		idx, err = index.NewCoderHNSW(d.dim, index.CoderOptions{M: p.M, EfSearch: p.EfConstr, Seed: int64(p.Seed)})
	}
	if err != nil {
		return nil, 0, 0, err
	}
	workers := p.Workers
	if name == "coder" {
		workers = 1 // the adapter serialises adds anyway
	}
	prog := newCountProgress()
	if prog != nil {
		prog.Start("build "+name, int64(d.n))
	}
	start := time.Now()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		failed  atomic.Bool
	)
	const chunk = 256
	for range workers {
		wg.Go(func() {
			for !failed.Load() {
				lo := int(next.Add(chunk)) - chunk
				if lo >= d.n {
					return
				}
				if ctx.Err() != nil {
					errOnce.Do(func() { err = ctx.Err() })
					failed.Store(true)
					return
				}
				hi := min(lo+chunk, d.n)
				for i := lo; i < hi; i++ {
					if aerr := idx.Add(d.ids[i], d.row(d.base, i)); aerr != nil {
						errOnce.Do(func() { err = fmt.Errorf("base vector %d: %w", i, aerr) })
						failed.Store(true)
						return
					}
				}
				if prog != nil {
					prog.Add(int64(hi - lo))
				}
			}
		})
	}
	wg.Wait()
	if prog != nil {
		prog.Done()
	}
	if err != nil {
		return nil, 0, 0, err
	}
	buildS = time.Since(start).Seconds()
	bpv = float64(heapInUse()-before) / float64(d.n)
	if cached != "" {
		if err := saveCachedHNSW(ctx, cached, idx.(*index.HNSW)); err != nil {
			return nil, 0, 0, fmt.Errorf("cache graph: %w", err)
		}
	}
	return idx, buildS, bpv, nil
}

// measure runs every query on one goroutine, as a server handles one
// request, and returns mean recall@k and queries per second: of the
// fastest of repeat passes, since other work on the machine only ever
// slows a pass down.
func measure(ctx context.Context, idx index.Vector, d *annData, truth [][]string, k, ef, repeat int) (recall, qps float64, err error) {
	search := func(q []float32) ([]index.Result, error) { return idx.Search(ctx, q, k, nil) }
	if h, ok := idx.(*index.HNSW); ok {
		search = func(q []float32) ([]index.Result, error) { return h.SearchEf(ctx, q, k, ef, nil) }
	}
	got := make([][]index.Result, d.nq)
	for range max(1, repeat) {
		start := time.Now()
		for i := range d.nq {
			if got[i], err = search(d.row(d.qs, i)); err != nil {
				return 0, 0, err
			}
		}
		qps = max(qps, float64(d.nq)/time.Since(start).Seconds())
	}
	ids := make([][]string, len(got))
	for i, rs := range got {
		for _, r := range rs {
			ids[i] = append(ids[i], r.ID)
		}
	}
	return recallOf(ids, truth), qps, nil
}

// recallOf is the mean over queries of the share of the true neighbours
// that got holds.
func recallOf(got, truth [][]string) float64 {
	if len(truth) == 0 {
		return 1
	}
	var sum float64
	for i, want := range truth {
		if len(want) == 0 {
			sum++
			continue
		}
		in := make(map[string]bool, len(want))
		for _, id := range want {
			in[id] = true
		}
		hit := 0
		if i < len(got) {
			for _, id := range got[i] {
				if in[id] {
					hit++
				}
			}
		}
		sum += float64(hit) / float64(len(want))
	}
	return sum / float64(len(truth))
}

// qpsAtRecall returns the queries per second the named index reaches at
// the given recall: between the two widths around it, log(qps) is taken as
// linear in recall. A first width already past the target gives its own
// speed, which understates the index a little.
func qpsAtRecall(rows []map[string]any, name, recallKey string, target float64) (float64, bool) {
	var prevR, prevQ float64
	seen := false
	for _, r := range rows {
		if r["index"] != name {
			continue
		}
		rec, q := r[recallKey].(float64), r["qps"].(float64)
		if rec >= target {
			if !seen || rec == prevR || q <= 0 || prevQ <= 0 {
				return q, true
			}
			f := (target - prevR) / (rec - prevR)
			return math.Exp(math.Log(prevQ) + f*(math.Log(q)-math.Log(prevQ))), true
		}
		prevR, prevQ, seen = rec, q, true
	}
	return 0, false
}

// generateClustered draws n base and nq query vectors around c random unit
// centres with Gaussian noise of expected length spread, normalised.
func generateClustered(n, nq, dim, c int, spread float64, seed uint64) *annData {
	rng := rand.New(rand.NewPCG(seed, 0x616e6e))
	centres := make([]float32, c*dim)
	for i := range c {
		ci := centres[i*dim : (i+1)*dim]
		for vec.Norm(ci) == 0 {
			for j := range ci {
				ci[j] = float32(rng.NormFloat64())
			}
		}
		vec.Normalize(ci)
	}
	sigma := spread / math.Sqrt(float64(dim))
	draw := func(m int) []float32 {
		out := make([]float32, m*dim)
		for i := range m {
			v := out[i*dim : (i+1)*dim]
			ci := rng.IntN(c)
			for j := range v {
				v[j] = centres[ci*dim+j] + float32(rng.NormFloat64()*sigma)
			}
			vec.Normalize(v)
		}
		return out
	}
	d := &annData{dim: dim, n: n, nq: nq}
	d.base = draw(n)
	d.qs = draw(nq)
	d.ids = makeIDs(n)
	return d
}

func makeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}

func readANNFiles(base, queries string) (*annData, error) {
	b, bdim, err := readFvecs(base)
	if err != nil {
		return nil, err
	}
	q, qdim, err := readFvecs(queries)
	if err != nil {
		return nil, err
	}
	if bdim != qdim {
		return nil, fmt.Errorf("%s has dimension %d, %s has %d", base, bdim, queries, qdim)
	}
	d := &annData{dim: bdim, base: b, qs: q, n: len(b) / bdim, nq: len(q) / qdim}
	d.ids = makeIDs(d.n)
	return d, nil
}

// readFvecs reads a .fvecs file: per vector a little-endian int32 dimension
// followed by that many little-endian float32s. Every vector must have the
// same dimension.
func readFvecs(path string) ([]float32, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var (
		out []float32
		dim int
		hdr [4]byte
		buf []byte
	)
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, 0, fmt.Errorf("%s: vector %d: truncated header", path, n)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d < 1 || d > 1<<16 {
			return nil, 0, fmt.Errorf("%s: vector %d: dimension %d out of range", path, n, d)
		}
		if n == 0 {
			dim = d
			buf = make([]byte, 4*d)
		} else if d != dim {
			return nil, 0, fmt.Errorf("%s: vector %d: dimension %d, earlier ones have %d", path, n, d, dim)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, 0, fmt.Errorf("%s: vector %d: truncated", path, n)
		}
		for i := range dim {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("%s: no vectors", path)
	}
	return out, dim, nil
}

// hnswlibHeaderDirs are where hnswlib's header is looked for, in g++'s
// default include path.
var hnswlibHeaderDirs = []string{"/usr/include", "/usr/local/include"}

// hnswlibDriver returns the driver binary to run: path itself, or, when
// path is the driver's C++ source, a binary built from it in dir.
func hnswlibDriver(ctx context.Context, path, dir string) (string, error) {
	if !strings.HasSuffix(path, ".cpp") {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("hnswlib driver: %w", err)
		}
		return path, nil
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		return "", fmt.Errorf("build hnswlib driver: %w", err)
	}
	if !hnswlibHeaderInstalled() {
		return "", fmt.Errorf("build hnswlib driver: hnswlib/hnswlib.h not found in %s (Debian package libhnswlib-dev)", strings.Join(hnswlibHeaderDirs, ", "))
	}
	bin := filepath.Join(dir, "hnswlib-driver")
	cmd := exec.CommandContext(ctx, gxx, "-O3", "-march=native", "-std=c++17", "-pthread", "-o", bin, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hnswlib driver: %w\n%s", err, out)
	}
	return bin, nil
}

func hnswlibHeaderInstalled() bool {
	for _, d := range hnswlibHeaderDirs {
		if _, err := os.Stat(filepath.Join(d, "hnswlib", "hnswlib.h")); err == nil {
			return true
		}
	}
	return false
}

type hnswlibResult struct {
	buildS, bpv float64
	rows        []hnswlibRow
}

type hnswlibRow struct {
	ef     int
	qps    float64
	labels [][]string
}

// runHNSWLib writes the vectors for the driver, runs it with the run's
// settings and reads back its build time, size, speeds and answers.
func runHNSWLib(ctx context.Context, driver string, d *annData, p annParams) (*hnswlibResult, error) {
	dir, err := os.MkdirTemp("", "duet-hnswlib-data-")
	if err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	defer os.RemoveAll(dir)
	bp, qp := filepath.Join(dir, "base.fvecs"), filepath.Join(dir, "queries.fvecs")
	// Duet's indexes store unit vectors; hnswlib's inner product gets the
	// same so that both rank by cosine similarity.
	if err := writeUnitFvecs(bp, d.base, d.dim); err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	if err := writeUnitFvecs(qp, d.qs, d.dim); err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	efs := make([]string, len(p.Ef))
	for i, ef := range p.Ef {
		efs[i] = strconv.Itoa(ef)
	}
	args := []string{bp, qp, strconv.Itoa(p.M), strconv.Itoa(p.EfConstr),
		strconv.Itoa(p.K), strings.Join(efs, ","), strconv.Itoa(p.Workers), strconv.Itoa(max(1, p.Repeat))}
	if path := cachePath(p, "hnswlib"); path != "" {
		args = append(args, path)
	}
	cmd := exec.CommandContext(ctx, driver, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("hnswlib: start %s: %w", driver, err)
	}
	res, perr := parseHNSWLibOutput(stdout, d.nq)
	if perr != nil {
		// Drain what is left so that the driver can exit.
		io.Copy(io.Discard, stdout)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("hnswlib: %s: %w: %s", driver, err, strings.TrimSpace(stderr.String()))
	}
	if perr != nil {
		return nil, fmt.Errorf("hnswlib: %s output: %w", driver, perr)
	}
	if len(res.rows) != len(p.Ef) {
		return nil, fmt.Errorf("hnswlib: %s reported %d widths, want %d", driver, len(res.rows), len(p.Ef))
	}
	return res, nil
}

// parseHNSWLibOutput reads the driver's report: "build_s S",
// "bytes_per_vector B", then per width "ef E qps Q" and one line of labels
// per query.
func parseHNSWLibOutput(r io.Reader, nq int) (*hnswlibResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	res := &hnswlibResult{}
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		var err error
		switch {
		case len(f) == 2 && f[0] == "build_s":
			res.buildS, err = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "bytes_per_vector":
			res.bpv, err = strconv.ParseFloat(f[1], 64)
		case len(f) == 4 && f[0] == "ef" && f[2] == "qps":
			var row hnswlibRow
			if row.ef, err = strconv.Atoi(f[1]); err != nil {
				break
			}
			if row.qps, err = strconv.ParseFloat(f[3], 64); err != nil {
				break
			}
			row.labels = make([][]string, 0, nq)
			for range nq {
				if !sc.Scan() {
					return nil, fmt.Errorf("ef %d: %d of %d answers", row.ef, len(row.labels), nq)
				}
				line++
				row.labels = append(row.labels, strings.Fields(sc.Text()))
			}
			res.rows = append(res.rows, row)
		default:
			err = errors.New("unexpected line")
		}
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", line, sc.Text(), err)
		}
	}
	return res, sc.Err()
}

// writeUnitFvecs writes the rows of vs normalised, in .fvecs format.
func writeUnitFvecs(path string, vs []float32, dim int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	u := make([]float32, dim)
	rec := make([]byte, 4+4*dim)
	binary.LittleEndian.PutUint32(rec, uint32(dim))
	for i := 0; i+dim <= len(vs); i += dim {
		copy(u, vs[i:i+dim])
		vec.Normalize(u)
		for j, x := range u {
			binary.LittleEndian.PutUint32(rec[4+4*j:], math.Float32bits(x))
		}
		if _, err := w.Write(rec); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
