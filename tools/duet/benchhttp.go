package main

import (
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/tools/bench"
)

func newBenchHTTPCmd() *cobra.Command {
	var (
		o       bench.HTTPOptions
		urls    []string
		jsonOut string
	)
	cmd := &cobra.Command{
		Use:   "http --url URL [--url URL]... --events F [--concurrency 1,8,64]",
		Short: "Load a running server over HTTP and measure throughput and latency",
		Long: `Send hybrid searches (a user and one or two words from the catalog) and
recommendation requests to a running server at each concurrency, each run
bounded by --duration and --requests, and report requests/s, p50 and p99
latency and failures. Users come from --events (the generic events file the
server's data was imported from); words from the server's own items.
With --reload, the last search run also reloads the snapshot (POST
/admin/snapshots/reload, DUET_ADMIN_TOKEN) once a second: no request may fail.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(urls) == 0 || o.Events == "" {
				return usagef("--url and --events are required")
			}
			for _, raw := range urls {
				u, err := url.Parse(raw)
				if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
					return usagef("--url must be http:// on this machine (loopback), got %q", raw)
				}
			}
			o.URL, o.More = urls[0], urls[1:]
			o.ReadToken, o.AdminToken = os.Getenv("DUET_READ_TOKEN"), os.Getenv("DUET_ADMIN_TOKEN")
			o.Out = cmd.OutOrStdout()
			rep, err := bench.RunHTTP(cmd.Context(), o)
			if err != nil {
				return err
			}
			return finishBench(cmd.OutOrStdout(), rep, jsonOut)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&urls, "url", nil, "base URL of the server, e.g. http://127.0.0.1:8080; several (repeated or comma-separated): replicas of one shared store, asked in turn")
	f.StringVar(&o.Events, "events", "", "events file (generic format) to draw user ids from")
	f.IntSliceVar(&o.Concurrency, "concurrency", []int{1, 8, 64}, "concurrent clients, one run each")
	f.StringSliceVar(&o.Kinds, "kind", []string{"search", "recommend"}, "what to request: search, recommend")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "longest run")
	f.IntVar(&o.MaxRequests, "requests", 20000, "most requests in a run")
	f.IntVar(&o.K, "k", 10, "hits per request")
	f.BoolVar(&o.Reload, "reload", false, "reload the snapshot during the last search run")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed")
	f.StringVar(&jsonOut, "json", "", "write every figure to this JSON file")
	return cmd
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
