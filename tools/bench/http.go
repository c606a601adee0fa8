package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/tools/rebuild"
	"github.com/duetrec/duet/tower"
)

// HTTPOptions are the settings of one RunHTTP.
type HTTPOptions struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// More are other servers' base URLs (replicas over one shared store):
	// requests go to URL and each of them in turn.
	More []string
	// Events is the events file (generic format) the users are drawn from.
	Events string
	// Kinds of request, "search" or "recommend", each run at every
	// Concurrency.
	Kinds       []string
	Concurrency []int
	// Duration and MaxRequests bound each run.
	Duration    time.Duration
	MaxRequests int
	K           int
	// Reload makes the last search run also reload the snapshot once a
	// second, with AdminToken.
	Reload bool
	Seed   uint64
	// ReadToken, when set, is sent with every read.
	ReadToken, AdminToken string
	// Out, when set, gets a line per run as it ends.
	Out io.Writer
}

// HTTPResult is one run: one kind of request at one concurrency.
type HTTPResult struct {
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

// HTTPReport is what RunHTTP measured.
type HTTPReport struct {
	Results []HTTPResult
	opts    HTTPOptions
}

// RunHTTP sends hybrid searches (a user and one or two words of the
// server's item titles) and recommendation requests to a running server,
// and measures requests per second, latency and failures.
func RunHTTP(ctx context.Context, o HTTPOptions) (_ *HTTPReport, err error) {
	defer prefixError(&err, "bench http")
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	users, err := eventUsers(ctx, o.Events)
	if err != nil {
		return nil, err
	}
	words, err := titleWords(ctx, o.URL, o.ReadToken)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0}, Timeout: 10 * time.Second}
	rep := &HTTPReport{opts: o}
	fmt.Fprintf(out, "%-10s %5s %9s %7s %9s %8s %8s\n", "kind", "conc", "requests", "failed", "req/s", "p50 ms", "p99 ms")
	for _, kind := range o.Kinds {
		for ci, c := range o.Concurrency {
			withReload := o.Reload && kind == "search" && ci == len(o.Concurrency)-1
			rng := rand.New(rand.NewPCG(o.Seed, uint64(c)))
			bases := append([]string{o.URL}, o.More...)
			target := func(base string) string {
				user := users[rng.IntN(len(users))]
				if kind == "recommend" {
					return fmt.Sprintf("%s/v1/users/%s/recommendations?k=%d", base, url.PathEscape(user), o.K)
				}
				q := words[rng.IntN(len(words))]
				if rng.IntN(2) == 0 {
					q += " " + words[rng.IntN(len(words))]
				}
				return fmt.Sprintf("%s/v1/search?k=%d&user=%s&q=%s", base, o.K, url.QueryEscape(user), url.QueryEscape(q))
			}
			// Targets are drawn up front so workers share no generator.
			targets := make([]string, min(o.MaxRequests, 200000))
			for i := range targets {
				targets[i] = target(bases[i%len(bases)])
			}
			r, err := loadRun(ctx, client, targets, c, withReload, o)
			if err != nil {
				return nil, err
			}
			r.Kind = kind
			rep.Results = append(rep.Results, r)
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
	return rep, nil
}

// loadRun sends targets with c workers until they are used up or the
// run's duration has passed, and measures each request; with reload it
// asks the server to reload its snapshot once a second meanwhile.
func loadRun(ctx context.Context, client *http.Client, targets []string, c int, reload bool, o HTTPOptions) (HTTPResult, error) {
	var (
		errMu     sync.Mutex
		errs      = map[string]int{}
		lat       = make([][]time.Duration, parallel.Workers(c, len(targets)))
		reloads   int
		reloadErr error
		stop      = make(chan struct{})
		stopped   = make(chan struct{})
	)
	go func() {
		defer close(stopped)
		if reload {
			reloads, reloadErr = reloadEverySecond(ctx, o.URL, o.AdminToken, stop)
		}
	}()
	deadline := time.Now().Add(o.Duration)
	start := time.Now()
	err := parallel.For(ctx, len(targets), c, func(w, i int) error {
		if time.Now().After(deadline) {
			return errTimeUp
		}
		t := time.Now()
		if err := get(ctx, client, targets[i], o.ReadToken); err != nil {
			errMu.Lock()
			errs[err.Error()]++
			errMu.Unlock()
		}
		lat[w] = append(lat[w], time.Since(t))
		return nil
	})
	el := time.Since(start)
	close(stop)
	<-stopped
	if err != nil && !errors.Is(err, errTimeUp) {
		return HTTPResult{}, err
	}
	if reloadErr != nil {
		return HTTPResult{}, fmt.Errorf("reload during the run: %w", reloadErr)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := HTTPResult{Concurrency: c, Requests: len(all), Seconds: el.Seconds(), Reloads: reloads}
	for _, n := range errs {
		r.Failed += n
	}
	if len(errs) > 0 {
		r.Errors = errs
	}
	if len(all) > 0 {
		r.QPS = float64(len(all)) / el.Seconds()
		r.P50ms = ms(percentile(all, 50))
		r.P99ms = ms(percentile(all, 99))
	}
	return r, nil
}

// reloadEverySecond asks the server at base to reload its snapshot once a
// second until stop is closed or a reload fails, and returns how many it
// made.
func reloadEverySecond(ctx context.Context, base, token string, stop <-chan struct{}) (int, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-stop:
			return n, nil
		case <-tick.C:
		}
		select {
		case <-stop: // the run ended during the tick
			return n, nil
		default:
		}
		if err := rebuild.Reload(ctx, base, token); err != nil {
			return n, err
		}
		n++
	}
}

// get sends one GET and reads the answer; a status other than 200 OK is
// an error.
func get(ctx context.Context, client *http.Client, target, token string) error {
	resp, err := send(ctx, client, target, token)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func send(ctx context.Context, client *http.Client, target, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", target, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return client.Do(req)
}

// eventUsers returns the users of the events file, in order of their
// first event.
func eventUsers(ctx context.Context, path string) ([]string, error) {
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

// titleWords reads the words of item titles from the server's first page
// of items.
func titleWords(ctx context.Context, base, token string) ([]string, error) {
	resp, err := send(ctx, http.DefaultClient, base+"/v1/items?limit=1000", token)
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

// WriteJSON writes the report to path.
func (r *HTTPReport) WriteJSON(path string) error {
	o := r.opts
	return Report{
		Name: "http",
		Params: map[string]any{
			"url": o.URL, "more": o.More, "concurrency": o.Concurrency, "duration_s": o.Duration.Seconds(), "max_requests": o.MaxRequests, "k": o.K, "reload": o.Reload,
		},
		Results: r.Results,
	}.WriteJSON(path)
}
