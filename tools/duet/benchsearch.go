package main

import (
	"github.com/spf13/cobra"

	"github.com/duetrec/duet/tools/bench"
)

func newBenchSearchCmd() *cobra.Command {
	var (
		o       bench.SearchOptions
		jsonOut string
	)
	cmd := &cobra.Command{
		Use:   "search --data DATA [--queries N] [--shape words|typing|typo|suggest]",
		Short: "Time hybrid requests in process, stage by stage",
		Long: `Load the newest snapshot of DATA with its store and send it hybrid requests
one at a time: a user from the store with one or two words from a random
item's title, asked exactly (--shape words), or as a search box asks them
(prefix on, typos tolerated, highlights, facets of category, tag and
attr.year) with the last word cut short
(typing) or with one typo (typo), or the suggestions for typing's queries
(suggest). Report p50 and p99 of the whole request and the share of time
in each stage (user vector, vector search, text search, fusion, re-ranking);
the text search runs beside the user and vector stages, so the shares
overlap. --cpuprofile writes a CPU profile of the timed requests,
--memprofile where they allocated. The store must not be held by a server.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Data == "" {
				return usagef("--data is required")
			}
			if o.Queries < 1 || o.K < 1 {
				return usagef("--queries and --k must be at least 1")
			}
			switch o.Shape {
			case bench.ShapeWords, bench.ShapeTyping, bench.ShapeTypo, bench.ShapeSuggest:
			default:
				return usagef("--shape must be words, typing, typo or suggest")
			}
			rep, err := bench.RunSearch(cmd.Context(), o)
			if err != nil {
				return err
			}
			return finishBench(cmd.OutOrStdout(), rep, jsonOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Data, "data", "", "data directory with a store and snapshots")
	f.IntVar(&o.Queries, "queries", 2000, "requests to time")
	f.IntVar(&o.K, "k", 10, "hits per request")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.StringVar(&o.Shape, "shape", bench.ShapeWords, "how the words are asked: words (exactly), typing (the last word cut short, as a search box asks: prefix, typos, highlights, facets) typo (one typo, as a search box asks) or suggest (suggestions for typing's queries)")
	f.StringVar(&jsonOut, "json", "", "write every figure to this JSON file")
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the timed requests to this file")
	f.StringVar(&o.MemProfile, "memprofile", "", "write a profile of the memory allocated, by where, to this file")
	return cmd
}
