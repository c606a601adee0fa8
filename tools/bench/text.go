package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/dirsize"
	"github.com/duetrec/duet/internal/parallel"
)

// TextOptions are the settings of one RunText.
type TextOptions struct {
	// Items are generated and bulk indexed, Batch to a Bleve batch.
	Items, Batch int
	// Queries of each kind are run, K hits each, one at a time and then
	// from Workers goroutines.
	Queries, K, Workers int
	// Edits are upserts timed one at a time and then from Writers
	// goroutines, which the index groups into shared batches; 0 skips
	// them.
	Edits, Writers int
	// Seed draws the catalog and the queries.
	Seed uint64
	// Compact merges the index into one segment before the queries, as a
	// snapshot build does.
	Compact bool
	// Dir is where the index is built: absent or empty. By default a
	// temporary directory, removed afterwards.
	Dir string
	// Progress, when set, follows the bulk load.
	Progress content.Progress
	// Out, when set, gets each figure's line as it is measured.
	Out io.Writer
}

// TextReport is what RunText measured.
type TextReport struct {
	Items      int
	IndexTook  time.Duration
	IndexBytes int64 // on disk after the bulk load
	// Compacted tells whether the index was compacted, how long it took
	// and its size before the replaced segments were removed.
	Compacted    bool
	CompactTook  time.Duration
	CompactBytes int64
	Queries      []TextQueries
	Upserts      *Latencies // nil without edits
	// ClosedBytes is the index's size after the edits and its close.
	ClosedBytes int64
	params      map[string]any
}

// TextQueries is how one kind of query fared.
type TextQueries struct {
	Kind string // "match", "match+filters" or "match+facets"
	Latencies
	// MeanTotal is the mean number of items that matched.
	MeanTotal float64
}

// Latencies are the figures of n operations run one at a time, and again
// concurrently.
type Latencies struct {
	N        int
	P50, P99 time.Duration
	// PerSecond one at a time, and ParallelPerSecond concurrently.
	PerSecond, ParallelPerSecond float64
}

// textQueryKinds are the kinds of query timed, in order.
var textQueryKinds = []string{"match", "match+filters", "match+facets"}

// RunText measures the text index: bulk indexing, compaction, three kinds
// of query and live upserts.
func RunText(ctx context.Context, o TextOptions) (_ *TextReport, err error) {
	defer prefixError(&err, "bench text")
	if o.Items < 1 || o.Queries < 1 || o.K < 1 || o.K > text.MaxK || o.Workers < 1 || o.Writers < 1 || o.Edits < 0 {
		return nil, fmt.Errorf("items %d, queries %d, workers %d, writers %d, k %d, edits %d: want items, queries, workers and writers at least 1, k 1 to %d, edits at least 0",
			o.Items, o.Queries, o.Workers, o.Writers, o.K, o.Edits, text.MaxK)
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	rep := &TextReport{params: map[string]any{
		"items": o.Items, "queries": o.Queries, "k": o.K, "batch": o.Batch,
		"workers": o.Workers, "writers": o.Writers, "edits": o.Edits, "seed": o.Seed, "compact": o.Compact,
		"gomaxprocs": runtime.GOMAXPROCS(0),
	}}
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "duet-bench-text-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "text")
	} else if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrDirNotEmpty)
	}

	start := time.Now()
	catalog, err := textCatalog(ctx, o.Items, o.Seed)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "generated %d items in %.2fs\n", len(catalog), time.Since(start).Seconds())

	tx, err := text.Open(ctx, dir, &text.Options{BatchSize: o.Batch})
	if err != nil {
		return nil, err
	}
	defer tx.Close()
	if err := bulkLoad(ctx, tx, catalog, o.Progress, rep); err != nil {
		return nil, err
	}
	if rep.IndexBytes, err = dirsize.Of(dir); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "indexed %d items in %.2fs: %.0f docs/s, %.1f MiB on disk\n",
		len(catalog), rep.IndexTook.Seconds(), float64(len(catalog))/rep.IndexTook.Seconds(), mib(rep.IndexBytes))

	if o.Compact {
		start = time.Now()
		if err := tx.Compact(ctx); err != nil {
			return nil, err
		}
		rep.Compacted, rep.CompactTook = true, time.Since(start)
		if rep.CompactBytes, err = dirsize.Of(dir); err != nil {
			return nil, err
		}
		// The merged-away segments are deleted in the background, so the
		// size that counts is the one after close.
		fmt.Fprintf(out, "compacted in %.2fs (%.1f MiB on disk, replaced segments not yet removed)\n",
			rep.CompactTook.Seconds(), mib(rep.CompactBytes))
	}

	fmt.Fprintf(out, "%-14s %9s %9s %9s %12s %10s\n", "query", "p50 ms", "p99 ms", "q/s", "q/s x"+fmt.Sprint(o.Workers), "mean total")
	vocab := textVocab{items: catalog}
	for _, kind := range textQueryKinds {
		qs := vocab.queries(kind, o.Queries, o.K, o.Seed)
		r, err := timeQueries(ctx, tx, qs, o.Workers)
		if err != nil {
			return nil, fmt.Errorf("%s queries: %w", kind, err)
		}
		r.Kind = kind
		fmt.Fprintf(out, "%-14s %9.3f %9.3f %9.0f %12.0f %10.1f\n",
			kind, ms(r.P50), ms(r.P99), r.PerSecond, r.ParallelPerSecond, r.MeanTotal)
		rep.Queries = append(rep.Queries, r)
	}

	if o.Edits > 0 {
		r, err := timeEdits(ctx, tx, catalog, o.Edits, o.Writers)
		if err != nil {
			return nil, fmt.Errorf("live upserts: %w", err)
		}
		fmt.Fprintf(out, "upsert: one at a time p50 %.2f ms, p99 %.2f ms (%.0f/s); %d writers %.0f/s\n",
			ms(r.P50), ms(r.P99), r.PerSecond, o.Writers, r.ParallelPerSecond)
		rep.Upserts = &r
	}

	if err := tx.Close(); err != nil {
		return nil, err
	}
	if rep.ClosedBytes, err = dirsize.Of(dir); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "index size after the edits and close: %.1f MiB\n", mib(rep.ClosedBytes))
	return rep, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// bulkLoad indexes the catalog in slices, so that the progress bar moves,
// and checks that all of it is in.
func bulkLoad(ctx context.Context, tx *text.Index, catalog []content.Item, p content.Progress, rep *TextReport) error {
	if p != nil {
		p.Start("index", int64(len(catalog)))
	}
	start := time.Now()
	const slice = 10_000
	for i := 0; i < len(catalog); i += slice {
		part := catalog[i:min(i+slice, len(catalog))]
		if err := tx.IndexBatch(ctx, part); err != nil {
			return err
		}
		if p != nil {
			p.Add(int64(len(part)))
		}
	}
	if p != nil {
		p.Done()
	}
	rep.Items, rep.IndexTook = len(catalog), time.Since(start)
	n, err := tx.Count()
	if err != nil {
		return err
	}
	if n != uint64(len(catalog)) {
		return fmt.Errorf("index holds %d items after loading %d", n, len(catalog))
	}
	return nil
}

// timeQueries runs the queries one at a time for latencies, then spread
// over the workers for throughput.
func timeQueries(ctx context.Context, tx *text.Index, qs []text.Query, workers int) (TextQueries, error) {
	var hits uint64
	lat, err := timeEach(ctx, len(qs), workers, func(i int, parallel bool) error {
		res, err := tx.Search(ctx, qs[i])
		if !parallel {
			hits += res.Total
		}
		return err
	})
	if err != nil {
		return TextQueries{}, err
	}
	return TextQueries{Latencies: lat, MeanTotal: float64(hits) / float64(len(qs))}, nil
}

// timeEdits upserts existing items with a changed title, one at a time and
// then from the writers at once, where the index groups them.
func timeEdits(ctx context.Context, tx *text.Index, catalog []content.Item, edits, writers int) (Latencies, error) {
	return timeEach(ctx, edits, writers, func(i int, parallel bool) error {
		if parallel {
			i += edits // new titles, not the ones just written
		}
		it := catalog[i%len(catalog)]
		it.Title = fmt.Sprintf("%s revised %d", it.Title, i)
		return tx.Upsert(ctx, it)
	})
}

// timeEach runs op(0..n-1) one at a time, timing each, then again on
// workers goroutines, timing the whole.
func timeEach(ctx context.Context, n, workers int, op func(i int, parallel bool) error) (Latencies, error) {
	lat := make([]time.Duration, n)
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if err := op(i, false); err != nil {
			return Latencies{}, err
		}
		lat[i] = time.Since(t0)
	}
	serial := time.Since(start)
	start = time.Now()
	err := parallel.For(ctx, n, workers, func(_, i int) error { return op(i, true) })
	if err != nil {
		return Latencies{}, err
	}
	par := time.Since(start)
	s := sortedCopy(lat)
	return Latencies{
		N: n, P50: percentile(s, 50), P99: percentile(s, 99),
		PerSecond:         float64(n) / serial.Seconds(),
		ParallelPerSecond: float64(n) / par.Seconds(),
	}, nil
}

// WriteJSON writes the report to path: a result per phase and per kind of
// query.
func (r *TextReport) WriteJSON(path string) error {
	results := []map[string]any{{
		"phase": "index", "docs": r.Items, "seconds": r.IndexTook.Seconds(),
		"docs/s": float64(r.Items) / r.IndexTook.Seconds(), "index_bytes": r.IndexBytes,
	}}
	if r.Compacted {
		results = append(results, map[string]any{
			"phase": "compact", "seconds": r.CompactTook.Seconds(), "index_bytes_before_cleanup": r.CompactBytes,
		})
	}
	for _, q := range r.Queries {
		results = append(results, map[string]any{
			"query": q.Kind, "queries": q.N, "p50_ms": ms(q.P50), "p99_ms": ms(q.P99),
			"qps": q.PerSecond, "qps_parallel": q.ParallelPerSecond, "mean_total": q.MeanTotal,
		})
	}
	if u := r.Upserts; u != nil {
		results = append(results, map[string]any{
			"phase": "upsert", "edits": u.N, "p50_ms": ms(u.P50), "p99_ms": ms(u.P99),
			"ops/s": u.PerSecond, "ops/s_parallel": u.ParallelPerSecond,
		})
	}
	results = append(results, map[string]any{"phase": "close", "index_bytes": r.ClosedBytes})
	return Report{Name: "text", Params: r.params, Results: results}.WriteJSON(path)
}

// textCatalog generates n items as `duet gen` does.
func textCatalog(ctx context.Context, n int, seed uint64) ([]content.Item, error) {
	var buf bytes.Buffer
	if _, err := content.Generate(ctx, content.GenOptions{Items: n, Users: 1, Seed: seed}, &buf, io.Discard); err != nil {
		return nil, err
	}
	items := make([]content.Item, 0, n)
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		it, err := content.ParseItemLine(sc.Bytes())
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New("generated no items")
	}
	return items, nil
}

// textVocab is what the queries are drawn from: the catalog's own words
// and labels, so that queries find something, as real ones mostly do.
type textVocab struct {
	items []content.Item
}

// queries returns n queries of a kind: one to three words from a random
// item's title and description, plus, by kind, filters taken from another
// random item (so that some queries filter everything out, as in use) or
// facets.
func (v textVocab) queries(kind string, n, k int, seed uint64) []text.Query {
	r := rand.New(rand.NewPCG(seed, uint64(len(kind))))
	qs := make([]text.Query, n)
	for i := range qs {
		it := v.items[r.IntN(len(v.items))]
		words := strings.Fields(strings.ToLower(strings.TrimSuffix(it.Title+" "+it.Description, ".")))
		nw := 1 + r.IntN(3)
		var picked []string
		for range nw {
			picked = append(picked, words[r.IntN(len(words))])
		}
		q := text.Query{Text: strings.Join(picked, " "), K: k}
		switch kind {
		case "match+filters":
			o := v.items[r.IntN(len(v.items))]
			year := o.Attributes["year"].Num
			lo, hi := year-5, year+5
			q.Filter = text.Filter{
				Categories: o.Categories[:1],
				Attributes: map[string]content.Value{"language": o.Attributes["language"]},
				Ranges:     []text.Range{{Attribute: "year", Min: &lo, Max: &hi}},
			}
		case "match+facets":
			q.FacetSize = 10
		}
		qs[i] = q
	}
	return qs
}
