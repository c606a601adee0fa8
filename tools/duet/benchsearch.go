package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/procstat"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
)

func newBenchSearchCmd() *cobra.Command {
	var (
		data, jsonOut, cpuProfile, memProfile string
		n, k                                  int
		seed                                  uint64
	)
	cmd := &cobra.Command{
		Use:   "search --data DATA [--queries N]",
		Short: "Time hybrid requests in process, stage by stage",
		Long: `Load the newest snapshot of DATA with its store and send it hybrid requests
one at a time: a user from the store with one or two words from a random
item's title. Report p50 and p99 of the whole request and the share of time
in each stage (user vector, vector search, text search, fusion, re-ranking);
the text search runs beside the user and vector stages, so the shares
overlap. --cpuprofile writes a CPU profile of the timed requests,
--memprofile where they allocated. The store must not be held by a server.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usagef("--data is required")
			}
			if n < 1 || k < 1 {
				return usagef("--queries and --k must be at least 1")
			}
			if memProfile != "" {
				// Sample only the timed requests' allocations, not the
				// snapshot's loading.
				runtime.MemProfileRate = 0
			}
			ctx := cmd.Context()
			st, err := content.Open(ctx, data)
			if err != nil {
				return err
			}
			defer st.Close()
			ds, err := tower.LoadDataset(ctx, st)
			if err != nil {
				return err
			}
			root := snapshot.NewRoot(data)
			dir, _, _, err := root.Latest(ctx)
			if err != nil {
				return err
			}
			snap, err := root.Load(ctx, dir, st, search.Options{})
			if err != nil {
				return err
			}
			defer snap.Close()
			if len(ds.Users) == 0 || len(ds.Items) == 0 {
				return fmt.Errorf("the store in %s has no users or no items", data)
			}

			rng := rand.New(rand.NewPCG(seed, 2))
			reqs := make([]search.Request, n)
			for i := range reqs {
				words := strings.Fields(strings.ToLower(ds.Items[rng.IntN(len(ds.Items))].Title))
				q := ""
				if len(words) > 0 {
					q = words[rng.IntN(len(words))]
					if len(words) > 1 && rng.IntN(2) == 0 {
						q += " " + words[rng.IntN(len(words))]
					}
				}
				reqs[i] = search.Request{Query: q, UserID: ds.Users[rng.IntN(len(ds.Users))], K: k}
			}
			// Warm up caches and the text index before timing.
			for i := range min(50, n) {
				if _, err := snap.Search(ctx, reqs[i]); err != nil {
					return err
				}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("cpu profile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			totals := make([]time.Duration, 0, n)
			var sum search.Timings
			var before, after runtime.MemStats
			if memProfile != "" {
				runtime.MemProfileRate = 64 << 10
			}
			runtime.ReadMemStats(&before)
			cpu0, cpuOK := procstat.CPU()
			for _, r := range reqs {
				res, err := snap.Search(ctx, r)
				if err != nil {
					return err
				}
				t := res.Timing
				totals = append(totals, t.Total)
				sum.User += t.User
				sum.Query += t.Query
				sum.ANN += t.ANN
				sum.Keyword += t.Keyword
				sum.Fusion += t.Fusion
				sum.Rerank += t.Rerank
				sum.Total += t.Total
			}
			cpu1, _ := procstat.CPU()
			runtime.ReadMemStats(&after)
			allocKB := float64(after.TotalAlloc-before.TotalAlloc) / 1024 / float64(n)
			if memProfile != "" {
				if err := writeHeapProfile(memProfile); err != nil {
					return err
				}
			}
			slices.Sort(totals)
			p50, p99 := totals[len(totals)/2], totals[min(len(totals)-1, len(totals)*99/100)]
			share := func(d time.Duration) float64 { return float64(d) / float64(sum.Total) }
			stages := map[string]float64{
				"user_vector": share(sum.User), "query_vector": share(sum.Query), "ann": share(sum.ANN),
				"bleve": share(sum.Keyword), "fusion": share(sum.Fusion), "rerank": share(sum.Rerank),
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "snapshot %s (%d items, %s)\n", dir, snap.Manifest.Items, snap.Manifest.Meta["ann"])
			fmt.Fprintf(out, "%d hybrid requests, k=%d, one at a time: p50 %.2f ms, p99 %.2f ms, mean %.2f ms, %.1f KiB allocated per request\n",
				n, k, ms(p50), ms(p99), ms(sum.Total)/float64(n), allocKB)
			cpuMS := -1.0
			if cpuOK {
				// All threads: the text search's goroutine included.
				cpuMS = ms(cpu1-cpu0) / float64(n)
				fmt.Fprintf(out, "CPU per request: %.2f ms\n", cpuMS)
			}
			// The text search runs beside the user vector, query vector
			// and ANN stages, so the shares add up to more than the whole.
			fmt.Fprintf(out, "time by stage: user vector %.0f%%, query vector %.0f%%, ANN %.0f%%, Bleve %.0f%% (beside the three before it), fusion %.0f%%, re-rank %.0f%%\n",
				100*stages["user_vector"], 100*stages["query_vector"], 100*stages["ann"], 100*stages["bleve"], 100*stages["fusion"], 100*stages["rerank"])
			if jsonOut != "" {
				return writeBenchJSON(jsonOut, "search", map[string]any{"data": data, "snapshot": dir, "items": snap.Manifest.Items, "queries": n, "k": k},
					[]map[string]any{{"p50_ms": ms(p50), "p99_ms": ms(p99), "mean_ms": ms(sum.Total) / float64(n), "alloc_kib": allocKB, "cpu_ms": cpuMS, "stage_share": stages}})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data directory with a store and snapshots")
	f.IntVar(&n, "queries", 2000, "requests to time")
	f.IntVar(&k, "k", 10, "hits per request")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.StringVar(&jsonOut, "json", "", "write every figure to this JSON file")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the timed requests to this file")
	f.StringVar(&memProfile, "memprofile", "", "write a profile of the memory allocated, by where, to this file")
	return cmd
}

// writeHeapProfile writes the allocation profile to path.
func writeHeapProfile(path string) error {
	runtime.GC() // the profile counts what the last collection saw
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("memory profile: %w", err)
	}
	return f.Close()
}
