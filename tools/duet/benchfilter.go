package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/tools/bench"
)

func newBenchFilterCmd() *cobra.Command {
	var (
		o        bench.FilterOptions
		efList   string
		shares   string
		jsonPath string
	)
	cmd := &cobra.Command{
		Use:   "filter [--n N --dim D --clusters C --seed S]",
		Short: "Measure filtered vector search against an exact scan of the allowed items",
		Long: `Generate N unit vectors around C centres as items with categories, tags
and numeric attributes, such that for each --shares value one filter of
each kind (category, tag, numeric range) passes about that fraction of the
items: drawn at random, or correlated with the vectors (the items of the
first clusters, which lie together and mostly far from a query). Answer
every query of every filter through the HNSW graph with the engine's
catalogue filter, and by an exact scan of the allowed items, which gives
the truth; report recall@k, queries per second of both (one goroutine),
and how the searches ran: walked the graph, scanned the allowed items, or
began a walk that cost more than the scan and scanned instead.

--predicate also runs each filter as a plain predicate that cannot list
its items (the index then samples to estimate how many pass). --cache
shares bench ann's cache of built graphs.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Ef, err = parseInts(efList); err != nil {
				return usagef("--ef: %v", err)
			}
			for _, f := range strings.Split(shares, ",") {
				v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
				if err != nil || !(v > 0 && v <= 1) {
					return usagef("--shares: want fractions in (0, 1] separated by commas, got %q", f)
				}
				o.Shares = append(o.Shares, v)
			}
			if o.N < 1 || o.NQ < 1 || o.Dim < 1 || o.Clusters < 1 {
				return usagef("--n, --queries, --dim and --clusters must be at least 1")
			}
			if o.K < 1 || o.M < 2 || o.EfConstruction < 1 || o.Repeat < 1 {
				return usagef("--k and --repeat must be at least 1, --m at least 2, --ef-construction at least 1")
			}
			if p := newCountProgress(); p != nil {
				o.Progress = p
			}
			o.Log = cmd.ErrOrStderr()
			rep, err := bench.RunFilter(cmd.Context(), o)
			if err != nil {
				return err
			}
			return finishBench(cmd.OutOrStdout(), rep, jsonPath)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.N, "n", 100000, "number of generated items")
	f.IntVar(&o.NQ, "queries", 1000, "number of generated queries")
	f.IntVar(&o.Dim, "dim", 64, "dimension of generated vectors")
	f.IntVar(&o.Clusters, "clusters", 1000, "number of clusters of generated vectors")
	f.Float64Var(&o.Spread, "spread", 1.5, "distance of a generated vector from its (unit) centre before normalisation")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed for generated data, labels and level generation")
	f.StringVar(&shares, "shares", "0.5,0.1,0.01,0.001", "comma-separated fractions of the items the filters pass")
	f.IntVar(&o.M, "m", 16, "HNSW neighbours per node (2·M on layer 0)")
	f.IntVar(&o.EfConstruction, "ef-construction", 200, "HNSW construction search width")
	f.StringVar(&efList, "ef", "64", "comma-separated search widths")
	f.IntVar(&o.K, "k", 10, "neighbours per query")
	f.IntVar(&o.Repeat, "repeat", 1, "run the queries this many times and report the fastest pass")
	f.IntVar(&o.Workers, "workers", 0, "goroutines adding vectors during the build (default GOMAXPROCS)")
	f.BoolVar(&o.Predicate, "predicate", false, "also run each filter as a predicate that cannot list its items")
	f.StringVar(&o.Cache, "cache", "", "keep built graphs in this directory and reuse them in runs with the same data and settings")
	f.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
	return cmd
}
