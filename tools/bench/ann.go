package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/procstat"
	"github.com/duetrec/duet/internal/vec"
)

// ANNOptions are the settings of one RunANN.
type ANNOptions struct {
	// Base and Queries are .fvecs files to read (see ReadFvecs). Without
	// Base, N base and NQ query vectors of dimension Dim are generated
	// around Clusters centres with Spread (see GenerateClustered).
	Base, Queries        string
	N, NQ, Dim, Clusters int
	Spread               float64
	// Seed draws the generated vectors and the graphs' levels.
	Seed uint64
	// Indexes are measured in this order: "hnsw", "exact" or "coder".
	Indexes []string
	// M and EfConstruction build the graphs; coder/hnsw also searches
	// with EfConstruction, its one width. DropPruned builds Duet's HNSW
	// with index.HNSWOptions.DropPruned.
	M, EfConstruction int
	DropPruned        bool
	// Ef are the search widths and K the neighbours per query. The
	// queries run Repeat times at each width and the fastest pass counts,
	// since other work on the machine only ever slows a pass down.
	Ef        []int
	K, Repeat int
	// Workers add vectors during a build; below 1, GOMAXPROCS.
	Workers int
	// HNSWLib, when set, also runs hnswlib through the driver of
	// tools/hnswlib: its binary, or its driver.cpp to build with g++.
	HNSWLib string
	// Cache, when set, is a directory keeping the built graphs, which
	// later runs with the same vectors, M, EfConstruction and Seed load
	// instead of building them again.
	Cache string
	// CPUProfile, when set, is written with a CPU profile of the first
	// approximate index's searches.
	CPUProfile string
	// Progress, when set, follows each build.
	Progress content.Progress
	// Out, when set, is told when the vectors are ready; Log gets a line
	// per row as it is measured, so that a run of an hour shows what it
	// has so far.
	Out, Log io.Writer
}

// ANNRow is one index at one search width, its figures rounded as the
// report gives them.
type ANNRow struct {
	Index string
	Ef    int // 0 for the exact scan
	// Recall is the mean recall@K against the exact scan.
	Recall float64
	QPS    float64 // queries per second on one goroutine
	BuildS float64 // seconds to build the index, or to load it from the cache
	// BytesPerVector is what the build or load added to the Go heap (for
	// hnswlib, the size of its arrays).
	BytesPerVector float64
	// ResidentPerVector is what the index added to the process's resident
	// memory, taken after its searches: mapped file pages it touched
	// count, pages it left in the file do not. PeakPerVector is the most
	// the build or load added at any moment. Both are 0 where the system
	// does not tell.
	ResidentPerVector, PeakPerVector float64
	SpeedupVsExact                   float64
}

// ANNReport is what RunANN measured.
type ANNReport struct {
	K    int
	Rows []ANNRow
	// params echoes the settings into the JSON report.
	params annParams
}

// annParams is the JSON report's "params".
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
}

// reachTarget is the recall at which the indexes are compared.
const reachTarget = 0.95

// RunANN builds each index over the base vectors, searches it with every
// query and reports recall@K against an exact scan, queries per second,
// build time and memory per vector, at each search width.
func RunANN(ctx context.Context, o ANNOptions) (_ *ANNReport, err error) {
	defer prefixError(&err, "bench ann")
	start := time.Now()
	if err := o.check(); err != nil {
		return nil, err
	}
	var driver string
	if o.HNSWLib != "" {
		// Build or check the driver first, so that a missing compiler
		// fails the run before the long part.
		tmp, err := os.MkdirTemp("", "duet-hnswlib-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if driver, err = hnswlibDriver(ctx, o.HNSWLib, tmp); err != nil {
			return nil, err
		}
	}
	if o.Cache != "" {
		if err := os.MkdirAll(o.Cache, 0o755); err != nil {
			return nil, err
		}
	}
	d, err := o.vectors()
	if err != nil {
		return nil, err
	}
	rep := &ANNReport{K: o.K, params: newANNParams(o)}
	if o.Out != nil {
		fmt.Fprintf(o.Out, "%d base and %d query vectors of dimension %d ready in %.2fs (kernel %s, %d CPUs)\n",
			d.n, d.nq, d.dim, time.Since(start).Seconds(), rep.params.Kernel, rep.params.GOMAXPROCS)
	}

	truth, exact, err := groundTruth(ctx, d, o.K, o.Repeat)
	if err != nil {
		return nil, err
	}
	add := func(name string, ef int, recall, qps, buildS, bpv float64) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "measured %s ef=%d recall@%d=%.4f qps=%.1f build_s=%.2f bytes_per_vector=%.0f\n",
				name, ef, o.K, recall, qps, buildS, bpv)
		}
		rep.Rows = append(rep.Rows, ANNRow{
			Index: name, Ef: ef, Recall: round(recall, 4), QPS: round(qps, 1), BuildS: round(buildS, 3),
			BytesPerVector: math.Round(bpv), SpeedupVsExact: round(qps/exact.qps, 2),
		})
	}
	profile := o.CPUProfile // only the first approximate index's searches
	for _, name := range o.Indexes {
		if name == "exact" {
			add("exact", 0, 1, exact.qps, exact.buildS, exact.bpv)
			continue
		}
		meter := startResident()
		idx, buildS, bpv, err := buildANN(ctx, name, d, o)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", name, err)
		}
		peak := meter.peak()
		efs := o.Ef
		if name == "coder" {
			// coder/hnsw has one width for building and searching, fixed
			// when it is built.
			efs = []int{o.EfConstruction}
		}
		stop, err := startCPUProfile(profile)
		if err != nil {
			return nil, err
		}
		profile = ""
		for _, ef := range efs {
			recall, qps, err := measure(ctx, idx, d, truth, o.K, ef, o.Repeat)
			if err != nil {
				stop()
				return nil, fmt.Errorf("search %s: %w", name, err)
			}
			add(name, ef, recall, qps, buildS, bpv)
		}
		if err := stop(); err != nil {
			return nil, err
		}
		resident := meter.resident()
		perVector(rep.Rows, name, resident, peak, d.n)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "memory of %s resident_bytes_per_vector=%.0f peak_bytes_per_vector=%.0f\n", name, float64(resident)/float64(d.n), float64(peak)/float64(d.n))
		}
		if c, ok := idx.(io.Closer); ok {
			c.Close()
		}
		idx = nil
		runtime.GC()
	}
	if driver != "" {
		res, err := runHNSWLib(ctx, driver, d, o, cachePath(o, "hnswlib"))
		if err != nil {
			return nil, err
		}
		for _, r := range res.rows {
			add("hnswlib", r.ef, recallOf(r.labels, truth), r.qps, res.buildS, res.bpv)
		}
		perVector(rep.Rows, "hnswlib", int64(res.resident*float64(d.n)), int64(res.peak*float64(d.n)), d.n)
	}
	return rep, nil
}

// check refuses settings that cannot run and fills in the defaults.
func (o *ANNOptions) check() error {
	if len(o.Indexes) == 0 || len(o.Ef) == 0 {
		return errors.New("no index or no search width to measure")
	}
	for _, name := range o.Indexes {
		if name != "hnsw" && name != "exact" && name != "coder" {
			return fmt.Errorf("unknown index %q (want hnsw, exact, coder)", name)
		}
	}
	for _, ef := range o.Ef {
		if ef < 1 {
			return fmt.Errorf("search width %d, want at least 1", ef)
		}
	}
	if o.K < 1 || o.M < 2 || o.EfConstruction < 1 {
		return fmt.Errorf("k %d, M %d, efConstruction %d: want k at least 1, M at least 2, efConstruction at least 1", o.K, o.M, o.EfConstruction)
	}
	if o.Base != "" && o.Queries == "" {
		return errors.New("base vectors without query vectors")
	}
	o.Repeat = max(1, o.Repeat)
	if o.Workers < 1 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// vectors reads or generates the vectors; read ones set the sizes.
func (o *ANNOptions) vectors() (*ANNData, error) {
	if o.Base == "" {
		return GenerateClustered(o.N, o.NQ, o.Dim, o.Clusters, o.Spread, o.Seed)
	}
	d, err := ReadFvecs(o.Base, o.Queries)
	if err != nil {
		return nil, err
	}
	o.N, o.NQ, o.Dim, o.Clusters, o.Spread = d.n, d.nq, d.dim, 0, 0
	return d, nil
}

func newANNParams(o ANNOptions) annParams {
	return annParams{
		Base: o.Base, Queries: o.Queries, N: o.N, NQ: o.NQ, Dim: o.Dim, Clusters: o.Clusters, Spread: o.Spread,
		Seed: o.Seed, Indexes: strings.Join(o.Indexes, ","), M: o.M, EfConstr: o.EfConstruction,
		DropPruned: o.DropPruned, Ef: o.Ef, K: o.K, Repeat: o.Repeat, Workers: o.Workers,
		Kernel: vec.Kernel(), GOMAXPROCS: runtime.GOMAXPROCS(0), HNSWLib: o.HNSWLib, Cache: o.Cache,
	}
}

func (r *ANNReport) recallKey() string { return fmt.Sprintf("recall@%d", r.K) }

// indexNames are the indexes measured, in the order of their rows.
func (r *ANNReport) indexNames() []string {
	var names []string
	for _, row := range r.Rows {
		if len(names) == 0 || names[len(names)-1] != row.Index {
			names = append(names, row.Index)
		}
	}
	return names
}

// firstReaching returns the named index's first row whose recall reaches
// the target.
func (r *ANNReport) firstReaching(name string, target float64) (ANNRow, bool) {
	for _, row := range r.Rows {
		if row.Index == name && row.Recall >= target {
			return row, true
		}
	}
	return ANNRow{}, false
}

// versus compares hnsw with hnswlib when both were measured.
type versus struct {
	hnsw, hnswlib     float64
	hnswOK, hnswlibOK bool
}

// compareTargets are the recalls at which the text report compares hnsw
// with hnswlib: a fast, a usual and a demanding setting.
var compareTargets = []float64{0.90, reachTarget, 0.99}

func (r *ANNReport) versus(target float64) (versus, bool) {
	names := r.indexNames()
	if !slices.Contains(names, "hnsw") || !slices.Contains(names, "hnswlib") {
		return versus{}, false
	}
	var v versus
	v.hnsw, v.hnswOK = r.QPSAtRecall("hnsw", target)
	v.hnswlib, v.hnswlibOK = r.QPSAtRecall("hnswlib", target)
	return v, true
}

// QPSAtRecall returns the queries per second the named index reaches at
// the target recall: between the two widths around it, log(qps) is taken
// as linear in recall. A first width already past the target gives its
// own speed, which understates the index a little; ok is false when no
// width reaches it.
func (r *ANNReport) QPSAtRecall(name string, target float64) (qps float64, ok bool) {
	var prevR, prevQ float64
	seen := false
	for _, row := range r.Rows {
		if row.Index != name {
			continue
		}
		rec, q := row.Recall, row.QPS
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

// WriteText writes the table of rows and, per approximate index, the
// first width reaching recall 0.95, and how hnsw and hnswlib compare at
// each of compareTargets.
func (r *ANNReport) WriteText(w io.Writer) error {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	key := r.recallKey()
	fmt.Fprintf(tw, "index\tef\t%s\tqps\tspeed-up\tbuild s\tbytes/vector\tresident\tpeak\t\n", key)
	for _, row := range r.Rows {
		ef := "-"
		if row.Ef > 0 {
			ef = strconv.Itoa(row.Ef)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%.0f\t%.1f×\t%.2f\t%.0f\t%s\t%s\t\n", row.Index, ef, row.Recall, row.QPS, row.SpeedupVsExact, row.BuildS, row.BytesPerVector, orDash(row.ResidentPerVector), orDash(row.PeakPerVector))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, name := range r.indexNames() {
		if name == "exact" {
			continue
		}
		best, ok := r.firstReaching(name, reachTarget)
		if !ok {
			fmt.Fprintf(&b, "%s: no --ef reached %s ≥ 0.95\n", name, key)
			continue
		}
		fmt.Fprintf(&b, "%s: %s ≥ 0.95 first at ef=%d: %.0f qps, %.1f× the exact scan\n", name, key, best.Ef, best.QPS, best.SpeedupVsExact)
	}
	for _, target := range compareTargets {
		if v, ok := r.versus(target); ok {
			if v.hnswOK && v.hnswlibOK {
				fmt.Fprintf(&b, "queries/s at %s %.2f (interpolated): hnsw %.0f, hnswlib %.0f, ratio %.2f\n", key, target, v.hnsw, v.hnswlib, v.hnsw/v.hnswlib)
			} else {
				fmt.Fprintf(&b, "no hnsw/hnswlib comparison: %s %.2f reached by hnsw %t, hnswlib %t\n", key, target, v.hnswOK, v.hnswlibOK)
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes the report, with the summary WriteText prints as
// "recall_0.95", to path.
func (r *ANNReport) WriteJSON(path string) error {
	key := r.recallKey()
	rows := make([]map[string]any, len(r.Rows))
	for i, row := range r.Rows {
		rows[i] = map[string]any{
			"index": row.Index, "ef": row.Ef, key: row.Recall, "qps": row.QPS, "build_s": row.BuildS,
			"bytes_per_vector": row.BytesPerVector, "speedup_vs_exact": row.SpeedupVsExact,
			"resident_bytes_per_vector": row.ResidentPerVector, "peak_bytes_per_vector": row.PeakPerVector,
		}
	}
	summary := map[string]any{}
	for _, name := range r.indexNames() {
		if best, ok := r.firstReaching(name, reachTarget); ok && name != "exact" {
			summary[name] = map[string]any{"ef": best.Ef, "qps": best.QPS, "speedup_vs_exact": best.SpeedupVsExact}
		}
	}
	if v, ok := r.versus(reachTarget); ok && v.hnswOK && v.hnswlibOK {
		summary["hnsw_vs_hnswlib"] = map[string]any{"hnsw_qps": round(v.hnsw, 1), "hnswlib_qps": round(v.hnswlib, 1), "ratio": round(v.hnsw/v.hnswlib, 3)}
	}
	return Report{Name: "ann", Params: r.params, Recall95: summary, Results: rows}.WriteJSON(path)
}

// residentMeter measures what an index adds to the process's resident
// memory from the moment it starts.
type residentMeter struct {
	base          int64
	resOK, peakOK bool
}

// startResident starts a meter now. Garbage is collected and returned to
// the system first, here and when the meter is read, so that the figures
// count live memory.
func startResident() residentMeter {
	runtime.GC()
	debug.FreeOSMemory()
	base, ok := procstat.Resident()
	return residentMeter{base: base, resOK: ok, peakOK: ok && procstat.ResetPeak()}
}

// peak returns the most resident memory above the start since it.
func (m residentMeter) peak() int64 {
	p, ok := procstat.Peak()
	if !m.peakOK || !ok {
		return 0
	}
	return max(0, p-m.base)
}

// resident returns the resident memory above the start now, garbage
// collected.
func (m residentMeter) resident() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	r, ok := procstat.Resident()
	if !m.resOK || !ok {
		return 0
	}
	return max(0, r-m.base)
}

// perVector sets the resident and peak bytes per vector of the named
// index's rows.
func perVector(rows []ANNRow, name string, resident, peak int64, n int) {
	for i := range rows {
		if rows[i].Index == name {
			rows[i].ResidentPerVector = math.Round(float64(resident) / float64(n))
			rows[i].PeakPerVector = math.Round(float64(peak) / float64(n))
		}
	}
}

// orDash formats bytes, or "-" for a figure not measured.
func orDash(b float64) string {
	if b == 0 {
		return "-"
	}
	return strconv.FormatFloat(b, 'f', 0, 64)
}

type exactResult struct {
	qps, buildS, bpv float64
}

// groundTruth answers every query with an exact scan, which also gives the
// exact index's row of the table; its speed is the fastest of repeat
// passes, as for the other indexes.
func groundTruth(ctx context.Context, d *ANNData, k, repeat int) ([][]string, exactResult, error) {
	var res exactResult
	before := heapInUse()
	start := time.Now()
	e, err := index.NewExact(d.dim)
	if err != nil {
		return nil, res, err
	}
	for i, id := range d.ids {
		if err := e.Add(id, d.Base(i)); err != nil {
			return nil, res, fmt.Errorf("base vector %d: %w", i, err)
		}
	}
	res.buildS = time.Since(start).Seconds()
	res.bpv = float64(heapInUse()-before) / float64(d.n)
	truth := make([][]string, d.nq)
	for range repeat {
		start = time.Now()
		for i := range d.nq {
			hits, err := e.Search(ctx, d.Query(i), k, nil)
			if err != nil {
				return nil, res, fmt.Errorf("query %d: %w", i, err)
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

// cachePath returns the file under o.Cache that holds the graph the named
// library builds from these vectors with these settings, or "" without a
// cache.
func cachePath(o ANNOptions, lib string) string {
	if o.Cache == "" {
		return ""
	}
	data := fmt.Sprintf("gen-n%d-d%d-c%d-s%g-seed%d", o.N, o.Dim, o.Clusters, o.Spread, o.Seed)
	if o.Base != "" {
		size := int64(-1)
		if fi, err := os.Stat(o.Base); err == nil {
			size = fi.Size()
		}
		data = fmt.Sprintf("file-%s-%d-seed%d", filepath.Base(o.Base), size, o.Seed)
	}
	return filepath.Join(o.Cache, fmt.Sprintf("%s-%s-m%d-efc%d.bin", lib, data, o.M, o.EfConstruction))
}

// loadCachedHNSW loads the graph at path; ok is false when there is none.
// loadCachedHNSW loads a cached graph as a snapshot's is loaded: mapped
// from its file where the system allows.
func loadCachedHNSW(ctx context.Context, path string) (h *index.HNSW, ok bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	v, err := index.LoadFile(ctx, index.KindHNSW, path)
	if err != nil {
		return nil, false, fmt.Errorf("cached graph %s: %w", path, err)
	}
	h, ok = v.(*index.HNSW)
	if !ok {
		return nil, false, fmt.Errorf("cached graph %s: not an HNSW graph", path)
	}
	return h, true, nil
}

func saveCachedHNSW(ctx context.Context, path string, h *index.HNSW) error {
	return durable.WriteFile(path, func(w io.Writer) error { return h.Save(ctx, w) })
}

func buildANN(ctx context.Context, name string, d *ANNData, o ANNOptions) (idx index.Vector, buildS, bpv float64, err error) {
	before := heapInUse()
	cached := ""
	if name == "hnsw" {
		lib := "hnsw"
		if o.DropPruned {
			lib = "hnsw-drop"
		}
		cached = cachePath(o, lib)
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
		idx, err = index.NewHNSW(d.dim, index.HNSWOptions{M: o.M, EfConstruction: o.EfConstruction, Seed: o.Seed, DropPruned: o.DropPruned})
	case "coder":
		idx, err = index.NewCoderHNSW(d.dim, index.CoderOptions{M: o.M, EfSearch: o.EfConstruction, Seed: int64(o.Seed)})
	}
	if err != nil {
		return nil, 0, 0, err
	}
	workers := o.Workers
	if name == "coder" {
		workers = 1 // the adapter serialises adds anyway
	}
	if o.Progress != nil {
		o.Progress.Start("build "+name, int64(d.n))
	}
	start := time.Now()
	if h, ok := idx.(*index.HNSW); ok {
		// The bulk path a snapshot build takes: Adds from several
		// goroutines would wait on each other's links.
		h.Grow(d.n)
		for lo := 0; lo < d.n && err == nil; lo += annBuildChunk {
			hi := min(lo+annBuildChunk, d.n)
			if err = h.UpsertAll(ctx, d.ids[lo:hi], d.base[lo*d.dim:hi*d.dim], workers); err == nil && o.Progress != nil {
				o.Progress.Add(int64(hi - lo))
			}
		}
	} else {
		err = parallel.Range(ctx, d.n, workers, 256, func(_, lo, hi int) error {
			for i := lo; i < hi; i++ {
				if err := idx.Add(d.ids[i], d.Base(i)); err != nil {
					return fmt.Errorf("base vector %d: %w", i, err)
				}
			}
			if o.Progress != nil {
				o.Progress.Add(int64(hi - lo))
			}
			return nil
		})
	}
	if o.Progress != nil {
		o.Progress.Done()
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

// annBuildChunk is how many vectors a build hands UpsertAll at a time,
// for the progress bar.
const annBuildChunk = 10000

// measure runs every query on one goroutine, as a server handles one
// request, and returns mean recall@k and queries per second: of the
// fastest of repeat passes.
func measure(ctx context.Context, idx index.Vector, d *ANNData, truth [][]string, k, ef, repeat int) (recall, qps float64, err error) {
	search := func(q []float32) ([]index.Result, error) { return idx.Search(ctx, q, k, nil) }
	if h, ok := idx.(*index.HNSW); ok {
		search = func(q []float32) ([]index.Result, error) { return h.SearchEf(ctx, q, k, ef, nil) }
	}
	got := make([][]index.Result, d.nq)
	for range repeat {
		start := time.Now()
		for i := range d.nq {
			if got[i], err = search(d.Query(i)); err != nil {
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
