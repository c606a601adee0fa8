package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/search"
)

// FilterOptions are the settings of one RunFilter.
type FilterOptions struct {
	// N base and NQ query vectors of dimension Dim are generated around
	// Clusters centres with Spread (see GenerateClustered); Seed draws
	// them, the items' labels and the graph's levels.
	N, NQ, Dim, Clusters int
	Spread               float64
	Seed                 uint64
	// Shares are the fractions of the items each filter passes. Default
	// 0.5, 0.1, 0.01, 0.001.
	Shares []float64
	// M and EfConstruction build the graph; Ef are the search widths.
	M, EfConstruction int
	Ef                []int
	// K neighbours per query; the queries run Repeat times and the
	// fastest pass counts.
	K, Repeat int
	// Workers add vectors during a build; below 1, GOMAXPROCS.
	Workers int
	// Predicate also runs each filter as a plain predicate
	// (index.FilterFunc): what a filter that cannot list its items gets,
	// the engine's before the catalogue listed them.
	Predicate bool
	// Cache is as in ANNOptions: the graph of bench ann with the same
	// vectors and settings is loaded from it.
	Cache    string
	Progress content.Progress
	Log      io.Writer
}

// FilterRow is one filter at one search width.
type FilterRow struct {
	// Kind is what the filter tests: "category", "tag" or "range" (a
	// numeric attribute's interval); Correlated filters pass the items of
	// a few clusters of the vectors, the others items drawn at random.
	Kind       string
	Correlated bool
	Share      float64 // the fraction asked for
	Allowed    int     // the items it passes
	// Filter is "listed" (the catalogue's filter, which lists the items
	// it may pass) or "predicate".
	Filter string
	Ef     int
	// Recall is the mean recall@K against the exact scan of the allowed
	// items; QPS and ExactQPS are queries per second of the search and of
	// that scan, on one goroutine.
	Recall, QPS, ExactQPS float64
	// Walks, Scans, FullScans and Fallbacks count how the searches ran
	// (see index.FilterStats), over one pass of the queries.
	Walks, Scans, FullScans, Fallbacks uint64
}

// FilterReport is what RunFilter measured.
type FilterReport struct {
	K    int
	Rows []FilterRow
	// CatalogS is the time to build the catalogue of the labelled items,
	// CatalogBytes its heap, postings included.
	CatalogS     float64
	CatalogBytes int64
	params       FilterOptions
}

// RunFilter measures filtered vector search through the engine's
// catalogue filters: the N generated items get categories, tags and two
// numeric attributes such that, for each share, one filter of each kind
// passes about that fraction of them — drawn at random, or the items of
// the first clusters (a correlated filter, whose items lie together in
// the vector space and mostly far from a query). Each filter's queries are
// answered by the HNSW graph and by an exact scan of the allowed items,
// which gives the truth.
func RunFilter(ctx context.Context, o FilterOptions) (_ *FilterReport, err error) {
	defer prefixError(&err, "bench filter")
	if err := o.check(); err != nil {
		return nil, err
	}
	d, err := GenerateClustered(o.N, o.NQ, o.Dim, o.Clusters, o.Spread, o.Seed)
	if err != nil {
		return nil, err
	}
	rep := &FilterReport{K: o.K, params: o}
	before := heapInUse()
	start := time.Now()
	cat := search.NewCatalogOf([][]content.Item{labelItems(d, o.Shares, o.Seed)}, map[string]float64{})
	rep.CatalogS = time.Since(start).Seconds()
	rep.CatalogBytes = heapInUse() - before
	runtime.KeepAlive(cat)

	start = time.Now()
	h, err := o.graph(ctx, d)
	if err != nil {
		return nil, err
	}
	buildS := time.Since(start).Seconds()
	if o.Log != nil {
		fmt.Fprintf(o.Log, "graph ready in %.1f s, catalogue in %.1f s\n", buildS, rep.CatalogS)
	}
	for _, share := range o.Shares {
		for _, kind := range []string{"category", "tag", "range"} {
			for _, corr := range []bool{false, true} {
				rows, err := measureFilter(ctx, h, cat, d, o, kind, corr, share)
				if err != nil {
					return nil, err
				}
				for _, r := range rows {
					if o.Log != nil {
						fmt.Fprintf(o.Log, "%s correlated=%t share=%g %s ef=%d: recall %.4f, %.0f qps, exact %.0f qps\n",
							r.Kind, r.Correlated, r.Share, r.Filter, r.Ef, r.Recall, r.QPS, r.ExactQPS)
					}
				}
				rep.Rows = append(rep.Rows, rows...)
			}
		}
	}
	return rep, nil
}

func (o *FilterOptions) check() error {
	if len(o.Shares) == 0 {
		o.Shares = []float64{0.5, 0.1, 0.01, 0.001}
	}
	for _, s := range o.Shares {
		if !(s > 0 && s <= 1) {
			return fmt.Errorf("share %g, want one in (0, 1]", s)
		}
	}
	if len(o.Ef) == 0 {
		return errors.New("no search width to measure")
	}
	for _, ef := range o.Ef {
		if ef < 1 {
			return fmt.Errorf("search width %d, want at least 1", ef)
		}
	}
	if o.K < 1 || o.M < 2 || o.EfConstruction < 1 {
		return fmt.Errorf("k %d, M %d, efConstruction %d: want k at least 1, M at least 2, efConstruction at least 1", o.K, o.M, o.EfConstruction)
	}
	o.Repeat = max(1, o.Repeat)
	if o.Workers < 1 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// graph loads the graph of d from the cache, or builds it as a snapshot's
// build does (index.HNSW.UpsertAll) and caches it.
func (o *FilterOptions) graph(ctx context.Context, d *ANNData) (*index.HNSW, error) {
	path := cachePath(ANNOptions{N: o.N, Dim: o.Dim, Clusters: o.Clusters, Spread: o.Spread, Seed: o.Seed, M: o.M, EfConstruction: o.EfConstruction, Cache: o.Cache}, "hnsw")
	if path != "" {
		if err := os.MkdirAll(o.Cache, 0o755); err != nil {
			return nil, err
		}
		h, ok, err := loadCachedHNSW(ctx, path)
		if err != nil || ok {
			return h, err
		}
	}
	h, err := index.NewHNSW(d.dim, index.HNSWOptions{M: o.M, EfConstruction: o.EfConstruction, Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	if o.Progress != nil {
		o.Progress.Start("build hnsw", int64(d.n))
		defer o.Progress.Done()
	}
	h.Grow(d.n)
	const chunk = 1 << 16
	for lo := 0; lo < d.n; lo += chunk {
		hi := min(d.n, lo+chunk)
		if err := h.UpsertAll(ctx, d.ids[lo:hi], d.base[lo*d.dim:hi*d.dim], o.Workers); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress.Add(int64(hi - lo))
		}
	}
	if path != "" {
		if err := saveCachedHNSW(ctx, path, h); err != nil {
			return nil, fmt.Errorf("cache graph: %w", err)
		}
	}
	return h, nil
}

// label names the category or tag a share's filter asks for.
func label(corr bool, share float64) string {
	if corr {
		return "near-" + strconv.FormatFloat(share, 'g', -1, 64)
	}
	return "any-" + strconv.FormatFloat(share, 'g', -1, 64)
}

// Attribute keys of the range filters.
const (
	rangeCorrelated = "corr"
	rangeRandom     = "rand"
)

// labelItems makes an item of each base vector. Each label and attribute
// comes from a draw of its own: a uniform u for the random ones, and
// (cluster + u) / clusters for the correlated ones, so that a share s of
// the items has a value below s and those items fill the first clusters.
func labelItems(d *ANNData, shares []float64, seed uint64) []content.Item {
	rng := rand.New(rand.NewPCG(seed, 0x66696c74))
	c := float64(d.c)
	items := make([]content.Item, d.n)
	for i := range items {
		cl := float64(d.clusters[i])
		it := content.Item{ID: d.ids[i], Attributes: map[string]content.Value{
			rangeRandom:     {IsNum: true, Num: rng.Float64()},
			rangeCorrelated: {IsNum: true, Num: (cl + rng.Float64()) / c},
		}}
		cat, tag := rng.Float64(), rng.Float64()
		catC, tagC := (cl+rng.Float64())/c, (cl+rng.Float64())/c
		for _, s := range shares {
			if cat < s {
				it.Categories = append(it.Categories, label(false, s))
			}
			if catC < s {
				it.Categories = append(it.Categories, label(true, s))
			}
			if tag < s {
				it.Tags = append(it.Tags, label(false, s))
			}
			if tagC < s {
				it.Tags = append(it.Tags, label(true, s))
			}
		}
		items[i] = it
	}
	return items
}

// filterFor returns the filters of a kind passing about share of the
// items.
func filterFor(kind string, corr bool, share float64) search.Filters {
	switch kind {
	case "category":
		return search.Filters{Categories: []string{label(corr, share)}}
	case "tag":
		return search.Filters{Tags: []string{label(corr, share)}}
	}
	key := rangeRandom
	if corr {
		key = rangeCorrelated
	}
	return search.Filters{Attributes: []search.AttrFilter{{Key: key, Max: &share}}}
}

func measureFilter(ctx context.Context, h *index.HNSW, cat *search.Catalog, d *ANNData, o FilterOptions, kind string, corr bool, share float64) ([]FilterRow, error) {
	listed, err := cat.VectorFilter(filterFor(kind, corr, share))
	if err != nil {
		return nil, err
	}
	var allowed []int32
	for i, id := range d.ids {
		if listed.Allow(id) {
			allowed = append(allowed, int32(i))
		}
	}
	truth, exactQPS, err := scanAllowed(ctx, d, allowed, o.K, o.Repeat)
	if err != nil {
		return nil, err
	}
	type named struct {
		name string
		f    index.Filter
	}
	filters := []named{{"listed", listed}}
	if o.Predicate {
		filters = append(filters, named{"predicate", index.FilterFunc(listed.Allow)})
	}
	var rows []FilterRow
	for _, f := range filters {
		for _, ef := range o.Ef {
			row := FilterRow{Kind: kind, Correlated: corr, Share: share, Allowed: len(allowed), Filter: f.name, Ef: ef, ExactQPS: exactQPS}
			got := make([][]string, d.nq)
			for pass := range o.Repeat {
				before := h.FilterStats()
				start := time.Now()
				for i := range d.nq {
					res, err := h.SearchEf(ctx, d.Query(i), o.K, ef, f.f)
					if err != nil {
						return nil, err
					}
					got[i] = got[i][:0]
					for _, r := range res {
						got[i] = append(got[i], r.ID)
					}
				}
				row.QPS = max(row.QPS, float64(d.nq)/time.Since(start).Seconds())
				if pass == 0 {
					after := h.FilterStats()
					row.Walks, row.Scans, row.FullScans, row.Fallbacks = after.Walks-before.Walks, after.Scans-before.Scans, after.FullScans-before.FullScans, after.Fallbacks-before.Fallbacks
				}
			}
			row.Recall = recallOf(got, truth)
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// scanAllowed answers every query by scoring the allowed items, given by
// position, and returns the answers and the fastest pass's queries per
// second: the exact scan a filtered search is compared with.
func scanAllowed(ctx context.Context, d *ANNData, allowed []int32, k, repeat int) ([][]string, float64, error) {
	truth := make([][]string, d.nq)
	var qps float64
	var t topk.Heap
	for range repeat {
		start := time.Now()
		for i := range d.nq {
			if err := ctx.Err(); err != nil {
				return nil, 0, err
			}
			q := d.Query(i)
			t.Reset(k)
			for _, j := range allowed {
				t.Push(j, vec.Dot(q, d.Base(int(j))))
			}
			truth[i] = truth[i][:0]
			for _, s := range t.Sorted() {
				truth[i] = append(truth[i], d.ids[s.ID])
			}
		}
		qps = max(qps, float64(d.nq)/time.Since(start).Seconds())
	}
	return truth, qps, nil
}

// WriteText prints the table: per filter and width, the share of items it
// passes, recall, queries per second against the exact scan of the
// allowed items, and how the searches ran.
func (r *FilterReport) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "catalogue: %.1f s, %.0f bytes/item\n", r.CatalogS, float64(r.CatalogBytes)/float64(max(1, r.params.N)))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "kind\tcorrelated\tshare\tallowed\tfilter\tef\trecall@%d\tqps\texact qps\t× exact\twalk/scan/full/fallback\t\n", r.K)
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%t\t%g\t%d\t%s\t%d\t%.4f\t%.0f\t%.0f\t%.1f×\t%d/%d/%d/%d\t\n", row.Kind, row.Correlated, row.Share, row.Allowed,
			row.Filter, row.Ef, row.Recall, row.QPS, row.ExactQPS, row.QPS/row.ExactQPS, row.Walks, row.Scans, row.FullScans, row.Fallbacks)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes the report to path.
func (r *FilterReport) WriteJSON(path string) error {
	rows := make([]map[string]any, len(r.Rows))
	for i, row := range r.Rows {
		rows[i] = map[string]any{
			"kind": row.Kind, "correlated": row.Correlated, "share": row.Share, "allowed": row.Allowed, "filter": row.Filter,
			"ef": row.Ef, fmt.Sprintf("recall@%d", r.K): round(row.Recall, 4), "qps": round(row.QPS, 1), "exact_qps": round(row.ExactQPS, 1),
			"walks": row.Walks, "scans": row.Scans, "full_scans": row.FullScans, "fallbacks": row.Fallbacks,
		}
	}
	p := r.params
	params := map[string]any{
		"n": p.N, "nq": p.NQ, "dim": p.Dim, "clusters": p.Clusters, "spread": p.Spread, "seed": p.Seed, "shares": p.Shares,
		"m": p.M, "ef_construction": p.EfConstruction, "ef": p.Ef, "k": p.K, "repeat": p.Repeat, "predicate": p.Predicate,
		"kernel": vec.Kernel(), "gomaxprocs": runtime.GOMAXPROCS(0), "catalog_s": round(r.CatalogS, 2), "catalog_bytes": r.CatalogBytes,
	}
	return Report{Name: "filter", Params: params, Results: rows}.WriteJSON(path)
}
