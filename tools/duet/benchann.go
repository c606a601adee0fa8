package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/tools/bench"
)

func newBenchANNCmd() *cobra.Command {
	var (
		o        bench.ANNOptions
		indexes  string
		queries  string
		efList   string
		jsonPath string
	)
	cmd := &cobra.Command{
		Use:   "ann (--base B.fvecs --queries Q.fvecs | --n N --dim D --clusters C --seed S [--queries NQ])",
		Short: "Measure recall, speed and size of the vector indexes",
		Long: `Build each index over the base vectors, search it with every query and
report recall@k against an exact scan, queries per second (one goroutine),
build time and memory per vector, at each search width --ef. Memory is
given three ways: what the build or load added to the Go heap (for
hnswlib, the size of its arrays); "resident", what the index added to the
process's resident memory, taken after its searches (pages of a mapped
file that the searches touched count, those they left in the file do
not); and "peak", the most the build or load added at any moment.

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
			if o.Ef, err = parseInts(efList); err != nil {
				return usagef("--ef: %v", err)
			}
			if o.K < 1 || o.M < 2 || o.EfConstruction < 1 || o.Repeat < 1 {
				return usagef("--k and --repeat must be at least 1, --m at least 2, --ef-construction at least 1")
			}
			o.Indexes = strings.Split(indexes, ",")
			for _, name := range o.Indexes {
				if name != "hnsw" && name != "exact" && name != "coder" {
					return usagef("--index: unknown index %q (want hnsw, exact, coder)", name)
				}
			}
			if o.Base != "" {
				if queries == "" {
					return usagef("--base needs --queries Q.fvecs")
				}
				o.Queries = queries
			} else {
				if o.N < 1 || o.Dim < 1 || o.Clusters < 1 {
					return usagef("give --base and --queries files, or --n, --dim and --clusters of at least 1")
				}
				o.NQ = 1000
				if queries != "" {
					if o.NQ, err = strconv.Atoi(queries); err != nil || o.NQ < 1 {
						return usagef("--queries: want a count of generated queries, got %q", queries)
					}
				}
			}
			if p := newCountProgress(); p != nil {
				o.Progress = p
			}
			o.Out, o.Log = cmd.OutOrStdout(), cmd.ErrOrStderr()
			rep, err := bench.RunANN(cmd.Context(), o)
			if err != nil {
				return err
			}
			return finishBench(cmd.OutOrStdout(), rep, jsonPath)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Base, "base", "", "base vectors (.fvecs)")
	f.StringVar(&queries, "queries", "", "query vectors (.fvecs) with --base; else the number of generated queries (default 1000)")
	f.IntVar(&o.N, "n", 100000, "number of generated base vectors")
	f.IntVar(&o.Dim, "dim", 64, "dimension of generated vectors")
	f.IntVar(&o.Clusters, "clusters", 100, "number of clusters of generated vectors")
	f.Float64Var(&o.Spread, "spread", 1.5, "distance of a generated vector from its (unit) centre before normalisation")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed for generated data and level generation")
	f.StringVar(&indexes, "index", "hnsw,exact", "comma-separated indexes to measure: hnsw, exact, coder")
	f.IntVar(&o.M, "m", 16, "HNSW neighbours per node (2·M on layer 0)")
	f.IntVar(&o.EfConstruction, "ef-construction", 200, "HNSW construction search width")
	f.BoolVar(&o.DropPruned, "drop-pruned", false, "build Duet's HNSW with DropPruned: lists keep only the heuristic's picks, as hnswlib's do")
	f.StringVar(&efList, "ef", "16,32,64,128,256", "comma-separated search widths")
	f.IntVar(&o.K, "k", 10, "neighbours per query")
	f.IntVar(&o.Repeat, "repeat", 1, "run the queries this many times at each width and report the fastest pass (steadier on a busy machine)")
	f.IntVar(&o.Workers, "workers", 0, "goroutines adding vectors during the build (default GOMAXPROCS)")
	f.StringVar(&jsonPath, "json", "", "write the results as JSON to this file")
	f.StringVar(&o.HNSWLib, "hnswlib", "", "also run hnswlib through this driver binary, or build it from this driver.cpp (tools/hnswlib)")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the searches of the first approximate index to this file")
	f.StringVar(&o.Cache, "cache", "", "keep built graphs in this directory and reuse them in runs with the same data and settings")
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
