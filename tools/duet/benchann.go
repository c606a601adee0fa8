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
	"runtime"
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
	Ef         []int   `json:"ef"`
	K          int     `json:"k"`
	Workers    int     `json:"workers"`
	Kernel     string  `json:"kernel"`
	GOMAXPROCS int     `json:"gomaxprocs"`
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
recall@k reaches 0.95 and its speed-up over the exact scan.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if p.Ef, err = parseInts(efList); err != nil {
				return usagef("--ef: %v", err)
			}
			if p.K < 1 || p.M < 2 || p.EfConstr < 1 {
				return usagef("--k must be at least 1, --m at least 2, --ef-construction at least 1")
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
			return runBenchANN(cmd.Context(), cmd.OutOrStdout(), p, jsonPath)
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
	f.StringVar(&efList, "ef", "16,32,64,128,256", "comma-separated search widths")
	f.IntVar(&p.K, "k", 10, "neighbours per query")
	f.IntVar(&p.Workers, "workers", 0, "goroutines adding vectors during the build (default GOMAXPROCS)")
	f.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
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

func runBenchANN(ctx context.Context, out io.Writer, p annParams, jsonPath string) error {
	start := time.Now()
	var (
		d   *annData
		err error
	)
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

	truth, exactRes, err := groundTruth(ctx, d, p.K)
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
		for _, ef := range efs {
			recall, qps, err := measure(ctx, idx, d, truth, p.K, ef)
			if err != nil {
				return fmt.Errorf("bench ann: search %s: %w", name, err)
			}
			addRow(name, ef, recall, qps, buildS, bpv)
		}
		idx = nil
		runtime.GC()
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
	for _, name := range strings.Split(p.Indexes, ",") {
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
// exact index's row of the table.
func groundTruth(ctx context.Context, d *annData, k int) ([][]string, exactResult, error) {
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
	start = time.Now()
	for i := range d.nq {
		hits, err := e.Search(ctx, d.row(d.qs, i), k, nil)
		if err != nil {
			return nil, res, fmt.Errorf("bench ann: query %d: %w", i, err)
		}
		for _, h := range hits {
			truth[i] = append(truth[i], h.ID)
		}
	}
	res.qps = float64(d.nq) / time.Since(start).Seconds()
	return truth, res, nil
}

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func buildANN(ctx context.Context, name string, d *annData, p annParams) (idx index.Vector, buildS, bpv float64, err error) {
	before := heapInUse()
	switch name {
	case "hnsw":
		idx, err = index.NewHNSW(d.dim, index.HNSWOptions{M: p.M, EfConstruction: p.EfConstr, Seed: p.Seed})
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
	return idx, buildS, bpv, nil
}

// measure runs every query on one goroutine, as a server handles one
// request, and returns mean recall@k and queries per second.
func measure(ctx context.Context, idx index.Vector, d *annData, truth [][]string, k, ef int) (recall, qps float64, err error) {
	search := func(q []float32) ([]index.Result, error) { return idx.Search(ctx, q, k, nil) }
	if h, ok := idx.(*index.HNSW); ok {
		search = func(q []float32) ([]index.Result, error) { return h.SearchEf(ctx, q, k, ef, nil) }
	}
	got := make([][]index.Result, d.nq)
	start := time.Now()
	for i := range d.nq {
		if got[i], err = search(d.row(d.qs, i)); err != nil {
			return 0, 0, err
		}
	}
	qps = float64(d.nq) / time.Since(start).Seconds()
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
		for _, r := range got[i] {
			if in[r.ID] {
				hit++
			}
		}
		sum += float64(hit) / float64(len(want))
	}
	return sum / float64(d.nq), qps, nil
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
