package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/durable"
)

func newBenchTextCmd() *cobra.Command {
	var (
		items, queries, k, batch, workers, writers, edits int
		seed                                              uint64
		dir, jsonOut                                      string
		compact                                           bool
	)
	cmd := &cobra.Command{
		Use:   "text [--items N] [--queries Q] [--json OUT]",
		Short: "Benchmark the text index: bulk indexing, queries, live edits",
		Long: `Generate N synthetic items, bulk index them into a fresh on-disk text index
(reporting docs/s and the index size), compact it into one segment unless
--compact=false, then run Q queries of each kind drawn
from the items' own words: match (free text), match with filters (a category,
a language and a year range), and match with facets. Each kind reports p50
and p99 latency and queries/s run one at a time, and queries/s with
--workers concurrent searchers. Last, live upserts of existing items:
latency one at a time, and throughput with --writers concurrent writers,
whose upserts the index groups into shared batches.

The index is built in --dir (which must be absent or empty) or in a
temporary directory removed afterwards.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if items < 1 || queries < 1 || k < 1 || k > text.MaxK || workers < 1 || writers < 1 || edits < 0 {
				return usagef("--items, --queries, --workers and --writers must be at least 1, --k 1 to %d, --edits at least 0", text.MaxK)
			}
			b := &textBench{
				out: cmd.OutOrStdout(), items: items, queries: queries, k: k,
				batch: batch, workers: workers, writers: writers, edits: edits, seed: seed, compact: compact,
			}
			rep, err := b.run(cmd.Context(), dir)
			if err != nil {
				return fmt.Errorf("bench text: %w", err)
			}
			if jsonOut != "" {
				return textWriteJSON(jsonOut, rep)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&items, "items", 100_000, "number of generated items")
	f.IntVar(&queries, "queries", 1000, "queries of each kind")
	f.IntVar(&k, "k", 10, "hits per query")
	f.IntVar(&batch, "batch", 1000, "items per Bleve batch when bulk indexing")
	f.IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "concurrent searchers for the throughput runs")
	f.IntVar(&writers, "writers", 16, "concurrent writers for the upsert throughput run")
	f.IntVar(&edits, "edits", 500, "live upserts to time (0 skips them)")
	f.Uint64Var(&seed, "seed", 1, "random seed for the catalog and the queries")
	f.BoolVar(&compact, "compact", true, "merge the index into one segment before the queries, as a snapshot build does")
	f.StringVar(&dir, "dir", "", "directory to build the index in (default: a temporary one)")
	f.StringVar(&jsonOut, "json", "", "also write the figures to this JSON file")
	return cmd
}

// textBenchReport is the --json shape shared by the bench commands.
type textBenchReport struct {
	Name    string           `json:"name"`
	Params  map[string]any   `json:"params"`
	Results []map[string]any `json:"results"`
}

type textBench struct {
	out                                               io.Writer
	items, queries, k, batch, workers, writers, edits int
	seed                                              uint64
	compact                                           bool
}

func (b *textBench) run(ctx context.Context, dir string) (*textBenchReport, error) {
	rep := &textBenchReport{Name: "text", Params: map[string]any{
		"items": b.items, "queries": b.queries, "k": b.k, "batch": b.batch,
		"workers": b.workers, "writers": b.writers, "edits": b.edits, "seed": b.seed, "compact": b.compact,
		"gomaxprocs": runtime.GOMAXPROCS(0),
	}}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "duet-bench-text-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "text")
	} else if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, usagef("--dir %s is not empty", dir)
	}

	start := time.Now()
	catalog, err := textBenchCatalog(ctx, b.items, b.seed)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.out, "generated %d items in %.2fs\n", len(catalog), time.Since(start).Seconds())

	tx, err := text.Open(ctx, dir, &text.Options{BatchSize: b.batch})
	if err != nil {
		return nil, err
	}
	defer tx.Close()

	// Bulk load, in slices so that the progress bar moves.
	p := newCountProgress()
	if p != nil {
		p.Start("index", int64(len(catalog)))
	}
	start = time.Now()
	const slice = 10_000
	for i := 0; i < len(catalog); i += slice {
		part := catalog[i:min(i+slice, len(catalog))]
		if err := tx.IndexBatch(ctx, part); err != nil {
			return nil, err
		}
		if p != nil {
			p.Add(int64(len(part)))
		}
	}
	if p != nil {
		p.Done()
	}
	el := time.Since(start)
	n, err := tx.Count()
	if err != nil {
		return nil, err
	}
	if n != uint64(len(catalog)) {
		return nil, fmt.Errorf("index holds %d items after loading %d", n, len(catalog))
	}
	size, err := dirSize(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(b.out, "indexed %d items in %.2fs: %.0f docs/s, %.1f MiB on disk\n",
		len(catalog), el.Seconds(), float64(len(catalog))/el.Seconds(), float64(size)/(1<<20))
	rep.Results = append(rep.Results, map[string]any{
		"phase": "index", "docs": len(catalog), "seconds": el.Seconds(),
		"docs/s": float64(len(catalog)) / el.Seconds(), "index_bytes": size,
	})

	if b.compact {
		start = time.Now()
		if err := tx.Compact(ctx); err != nil {
			return nil, err
		}
		el := time.Since(start)
		if size, err = dirSize(dir); err != nil {
			return nil, err
		}
		// The merged-away segments are deleted in the background, so the
		// size that counts is the one after close.
		fmt.Fprintf(b.out, "compacted in %.2fs (%.1f MiB on disk, replaced segments not yet removed)\n",
			el.Seconds(), float64(size)/(1<<20))
		rep.Results = append(rep.Results, map[string]any{
			"phase": "compact", "seconds": el.Seconds(), "index_bytes_before_cleanup": size,
		})
	}

	fmt.Fprintf(b.out, "%-14s %9s %9s %9s %12s %10s\n", "query", "p50 ms", "p99 ms", "q/s", "q/s x"+fmt.Sprint(b.workers), "mean total")
	vocab := newTextBenchVocab(catalog)
	for _, kind := range []string{"match", "match+filters", "match+facets"} {
		qs := vocab.queries(kind, b.queries, b.k, b.seed)
		r, err := b.timeQueries(ctx, tx, qs)
		if err != nil {
			return nil, fmt.Errorf("%s queries: %w", kind, err)
		}
		r["query"] = kind
		fmt.Fprintf(b.out, "%-14s %9.3f %9.3f %9.0f %12.0f %10.1f\n",
			kind, r["p50_ms"], r["p99_ms"], r["qps"], r["qps_parallel"], r["mean_total"])
		rep.Results = append(rep.Results, r)
	}

	if b.edits > 0 {
		r, err := b.timeEdits(ctx, tx, catalog)
		if err != nil {
			return nil, fmt.Errorf("live upserts: %w", err)
		}
		fmt.Fprintf(b.out, "upsert: one at a time p50 %.2f ms, p99 %.2f ms (%.0f/s); %d writers %.0f/s\n",
			r["p50_ms"], r["p99_ms"], r["ops/s"], b.writers, r["ops/s_parallel"])
		rep.Results = append(rep.Results, r)
	}

	if err := tx.Close(); err != nil {
		return nil, err
	}
	if size, err = dirSize(dir); err != nil {
		return nil, err
	}
	fmt.Fprintf(b.out, "index size after the edits and close: %.1f MiB\n", float64(size)/(1<<20))
	rep.Results = append(rep.Results, map[string]any{"phase": "close", "index_bytes": size})
	return rep, nil
}

// timeQueries runs the queries one at a time for latencies, then spread over
// the workers for throughput.
func (b *textBench) timeQueries(ctx context.Context, tx *text.Index, qs []text.Query) (map[string]any, error) {
	lat := make([]time.Duration, len(qs))
	var hits uint64
	start := time.Now()
	for i, q := range qs {
		t0 := time.Now()
		res, err := tx.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		lat[i] = time.Since(t0)
		hits += res.Total
	}
	serial := time.Since(start)

	par, err := textParallel(ctx, b.workers, len(qs), func(i int) error {
		_, err := tx.Search(ctx, qs[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	p50, p99 := textPercentiles(lat)
	return map[string]any{
		"queries": len(qs), "p50_ms": p50, "p99_ms": p99,
		"qps":          float64(len(qs)) / serial.Seconds(),
		"qps_parallel": float64(len(qs)) / par.Seconds(),
		"mean_total":   float64(hits) / float64(len(qs)),
	}, nil
}

// timeEdits upserts existing items with a changed title, one at a time and
// then from the writers at once, where the index groups them.
func (b *textBench) timeEdits(ctx context.Context, tx *text.Index, catalog []content.Item) (map[string]any, error) {
	edit := func(i int) error {
		it := catalog[i%len(catalog)]
		it.Title = fmt.Sprintf("%s revised %d", it.Title, i)
		return tx.Upsert(ctx, it)
	}
	lat := make([]time.Duration, b.edits)
	start := time.Now()
	for i := range b.edits {
		t0 := time.Now()
		if err := edit(i); err != nil {
			return nil, err
		}
		lat[i] = time.Since(t0)
	}
	serial := time.Since(start)
	par, err := textParallel(ctx, b.writers, b.edits, func(i int) error { return edit(b.edits + i) })
	if err != nil {
		return nil, err
	}
	p50, p99 := textPercentiles(lat)
	return map[string]any{
		"phase": "upsert", "edits": b.edits, "p50_ms": p50, "p99_ms": p99,
		"ops/s":          float64(b.edits) / serial.Seconds(),
		"ops/s_parallel": float64(b.edits) / par.Seconds(),
	}, nil
}

// textParallel runs fn(0..n-1) on workers goroutines and returns the wall time.
func textParallel(ctx context.Context, workers, n int, fn func(i int) error) (time.Duration, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return time.Since(start), first
}

// textPercentiles returns the 50th and 99th textPercentiles in milliseconds.
func textPercentiles(d []time.Duration) (p50, p99 float64) {
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) float64 {
		return float64(s[min(len(s)-1, int(q*float64(len(s))))].Nanoseconds()) / 1e6
	}
	return at(0.50), at(0.99)
}

func textBenchCatalog(ctx context.Context, n int, seed uint64) ([]content.Item, error) {
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
	return items, sc.Err()
}

// textBenchVocab is what the queries are drawn from: the catalog's own words
// and labels, so that queries find something, as real ones mostly do.
type textBenchVocab struct {
	items []content.Item
}

func newTextBenchVocab(items []content.Item) *textBenchVocab { return &textBenchVocab{items: items} }

// queries returns n queries of a kind: one to three words from a random
// item's title and description, plus, by kind, filters taken from another
// random item (so that some queries filter everything out, as in use) or
// facets.
func (v *textBenchVocab) queries(kind string, n, k int, seed uint64) []text.Query {
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

func textWriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}
