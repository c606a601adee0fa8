package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tools/rebuild"
	"github.com/duetrec/duet/tower"
)

// httpResult is one line of `duet bench http`.
type httpResult struct {
	Kind        string  `json:"kind"`
	Concurrency int     `json:"concurrency"`
	Requests    int     `json:"requests"`
	Failed      int     `json:"failed"`
	Seconds     float64 `json:"seconds"`
	QPS         float64 `json:"qps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Reloads     int     `json:"reloads,omitempty"`
	// Errors counts failures by status or error.
	Errors map[string]int `json:"errors,omitempty"`
}

func newBenchHTTPCmd() *cobra.Command {
	var (
		base, events, jsonOut string
		conc                  []int
		kinds                 []string
		duration              time.Duration
		maxRequests, k        int
		reload                bool
		seed                  uint64
	)
	cmd := &cobra.Command{
		Use:   "http --url URL --events F [--concurrency 1,8,64]",
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
			if base == "" || events == "" {
				return usagef("--url and --events are required")
			}
			u, err := url.Parse(base)
			if err != nil || u.Scheme != "http" || !isLoopback(u.Hostname()) {
				return usagef("--url must be http:// on this machine (loopback), got %q", base)
			}
			ctx := cmd.Context()
			users, err := readUsers(ctx, events)
			if err != nil {
				return err
			}
			words, err := catalogWords(ctx, base)
			if err != nil {
				return err
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}, Timeout: 10 * time.Second}
			var results []httpResult
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-10s %5s %9s %7s %9s %8s %8s\n", "kind", "conc", "requests", "failed", "req/s", "p50 ms", "p99 ms")
			for _, kind := range kinds {
				for ci, c := range conc {
					withReload := reload && kind == "search" && ci == len(conc)-1
					rng := rand.New(rand.NewPCG(seed, uint64(c)))
					target := func() string {
						user := users[rng.IntN(len(users))]
						if kind == "recommend" {
							return fmt.Sprintf("%s/v1/users/%s/recommendations?k=%d", base, url.PathEscape(user), k)
						}
						q := words[rng.IntN(len(words))]
						if rng.IntN(2) == 0 {
							q += " " + words[rng.IntN(len(words))]
						}
						return fmt.Sprintf("%s/v1/search?k=%d&user=%s&q=%s", base, k, url.QueryEscape(user), url.QueryEscape(q))
					}
					// Targets are drawn up front so workers share no generator.
					targets := make([]string, min(maxRequests, 200000))
					for i := range targets {
						targets[i] = target()
					}
					r, err := loadRun(ctx, client, targets, c, duration, withReload, base)
					if err != nil {
						return err
					}
					r.Kind = kind
					results = append(results, r)
					fmt.Fprintf(out, "%-10s %5d %9d %7d %9.0f %8.2f %8.2f", kind, c, r.Requests, r.Failed, r.QPS, r.P50ms, r.P99ms)
					if withReload {
						fmt.Fprintf(out, "  (%d snapshot reloads during the run)", r.Reloads)
					}
					for e, n := range r.Errors {
						fmt.Fprintf(out, "  [%d × %s]", n, e)
					}
					fmt.Fprintln(out)
				}
			}
			if jsonOut != "" {
				return writeBenchJSON(jsonOut, "http", map[string]any{
					"url": base, "concurrency": conc, "duration_s": duration.Seconds(), "max_requests": maxRequests, "k": k, "reload": reload,
				}, results)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&base, "url", "", "base URL of the server, e.g. http://127.0.0.1:8080")
	f.StringVar(&events, "events", "", "events file (generic format) to draw user ids from")
	f.IntSliceVar(&conc, "concurrency", []int{1, 8, 64}, "concurrent clients, one run each")
	f.StringSliceVar(&kinds, "kind", []string{"search", "recommend"}, "what to request: search, recommend")
	f.DurationVar(&duration, "duration", 10*time.Second, "longest run")
	f.IntVar(&maxRequests, "requests", 20000, "most requests in a run")
	f.IntVar(&k, "k", 10, "hits per request")
	f.BoolVar(&reload, "reload", false, "reload the snapshot during the last search run")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.StringVar(&jsonOut, "json", "", "write every figure to this JSON file")
	return cmd
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// loadRun sends targets with c workers until they are used up or d has
// passed, and measures each request.
func loadRun(ctx context.Context, client *http.Client, targets []string, c int, d time.Duration, reload bool, base string) (httpResult, error) {
	var next atomic.Int64
	var errMu sync.Mutex
	errs := map[string]int{}
	lat := make([][]time.Duration, c)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if int(i) >= len(targets) || time.Now().After(deadline) || ctx.Err() != nil {
					return
				}
				t := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "GET", targets[i], nil)
				if tok := os.Getenv("DUET_READ_TOKEN"); tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = errors.New(resp.Status)
					}
				}
				if err != nil {
					errMu.Lock()
					errs[err.Error()]++
					errMu.Unlock()
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	reloads := 0
	var reloadErr error
	if reload {
		done := waitChan(&wg)
		tick := time.NewTicker(time.Second)
	loop:
		for {
			select {
			case <-done:
				break loop
			case <-tick.C:
			}
			select {
			case <-done: // the run ended during the tick
				break loop
			default:
			}
			if err := rebuild.Reload(ctx, base, os.Getenv("DUET_ADMIN_TOKEN")); err != nil {
				reloadErr = err
				break
			}
			reloads++
		}
		tick.Stop()
	}
	wg.Wait()
	if reloadErr != nil {
		return httpResult{}, fmt.Errorf("reload during the run: %w", reloadErr)
	}
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := httpResult{Concurrency: c, Requests: len(all), Seconds: el.Seconds(), Reloads: reloads}
	for _, n := range errs {
		r.Failed += n
	}
	if len(errs) > 0 {
		r.Errors = errs
	}
	if len(all) > 0 {
		r.QPS = float64(len(all)) / el.Seconds()
		r.P50ms = ms(all[len(all)*50/100])
		r.P99ms = ms(all[min(len(all)-1, len(all)*99/100)])
	}
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// waitChan is closed when wg is done.
func waitChan(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}

func readUsers(ctx context.Context, path string) ([]string, error) {
	seen := map[string]bool{}
	var users []string
	err := tower.ReadEvents(ctx, path, func(ev content.Event) error {
		if !seen[ev.UserID] {
			seen[ev.UserID] = true
			users = append(users, ev.UserID)
		}
		return nil
	})
	if err == nil && len(users) == 0 {
		err = fmt.Errorf("%s holds no events", path)
	}
	return users, err
}

// catalogWords reads words of item titles from the server's first pages.
func catalogWords(ctx context.Context, base string) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/items?limit=1000", nil)
	if tok := os.Getenv("DUET_READ_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list items: %s (set DUET_READ_TOKEN if reads need a token)", resp.Status)
	}
	var page struct{ Items []content.Item }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	seen := map[string]bool{}
	var words []string
	for _, it := range page.Items {
		for _, w := range strings.Fields(strings.ToLower(it.Title)) {
			if len(w) > 2 && !seen[w] {
				seen[w] = true
				words = append(words, w)
			}
		}
	}
	if len(words) == 0 {
		return nil, errors.New("the server's items have no title words")
	}
	slices.Sort(words)
	return words, nil
}

// writeBenchJSON writes {"name", "params", "results"}.
func writeBenchJSON(path, name string, params map[string]any, results any) error {
	b, err := json.MarshalIndent(map[string]any{"name": name, "params": params, "results": results}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
