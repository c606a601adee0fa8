package main

import (
	"errors"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/tools/bench"
)

func newBenchTextCmd() *cobra.Command {
	var (
		o       bench.TextOptions
		jsonOut string
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
			if o.Items < 1 || o.Queries < 1 || o.K < 1 || o.K > text.MaxK || o.Workers < 1 || o.Writers < 1 || o.Edits < 0 {
				return usagef("--items, --queries, --workers and --writers must be at least 1, --k 1 to %d, --edits at least 0", text.MaxK)
			}
			if p := newCountProgress(); p != nil {
				o.Progress = p
			}
			o.Out = cmd.OutOrStdout()
			rep, err := bench.RunText(cmd.Context(), o)
			if errors.Is(err, bench.ErrDirNotEmpty) {
				return usagef("bench text: --dir %s is not empty", o.Dir)
			}
			if err != nil {
				return err
			}
			return finishBench(cmd.OutOrStdout(), rep, jsonOut)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Items, "items", 100_000, "number of generated items")
	f.IntVar(&o.Queries, "queries", 1000, "queries of each kind")
	f.IntVar(&o.K, "k", 10, "hits per query")
	f.IntVar(&o.Batch, "batch", 1000, "items per Bleve batch when bulk indexing")
	f.IntVar(&o.Workers, "workers", runtime.GOMAXPROCS(0), "concurrent searchers for the throughput runs")
	f.IntVar(&o.Writers, "writers", 16, "concurrent writers for the upsert throughput run")
	f.IntVar(&o.Edits, "edits", 500, "live upserts to time (0 skips them)")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed for the catalog and the queries")
	f.BoolVar(&o.Compact, "compact", true, "merge the index into one segment before the queries, as a snapshot build does")
	f.StringVar(&o.Dir, "dir", "", "directory to build the index in (default: a temporary one)")
	f.StringVar(&jsonOut, "json", "", "also write the figures to this JSON file")
	return cmd
}
