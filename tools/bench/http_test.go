package bench_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/server"
	"github.com/duetrec/duet/tools/bench"
)

// serve serves the data directory's newest snapshot with the given tokens
// and no rate limit, and returns its base URL.
func serve(t *testing.T, data, readToken, adminToken string) string {
	t.Helper()
	ctx := context.Background()
	st, err := content.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(st, server.Config{
		ReadToken: readToken, AdminToken: adminToken, SearchRate: -1, Logger: log,
		Loader: server.SnapshotLoader(snapshot.NewRoot(data), st, log),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if _, err := srv.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestRunHTTP(t *testing.T) {
	data, events := snapshotData(t, 200, 100)
	base := serve(t, data, "reader", "admin")
	tests := []struct {
		name        string
		o           bench.HTTPOptions
		wantResults int
		wantErr     string // "" for none
	}{
		{
			name:        "search and recommend",
			o:           bench.HTTPOptions{Kinds: []string{"search", "recommend"}, Concurrency: []int{1, 3}, Duration: 5 * time.Second, MaxRequests: 60, ReadToken: "reader"},
			wantResults: 4,
		},
		{
			name:        "reloads during the last search run",
			o:           bench.HTTPOptions{Kinds: []string{"search"}, Concurrency: []int{2}, Duration: 1500 * time.Millisecond, MaxRequests: 1 << 30, Reload: true, ReadToken: "reader", AdminToken: "admin"},
			wantResults: 1,
		},
		{
			name:    "wrong admin token",
			o:       bench.HTTPOptions{Kinds: []string{"search"}, Concurrency: []int{1}, Duration: 1500 * time.Millisecond, MaxRequests: 1 << 30, Reload: true, ReadToken: "reader", AdminToken: "wrong"},
			wantErr: "reload during the run",
		},
		{
			name:    "no read token",
			o:       bench.HTTPOptions{Kinds: []string{"search"}, Concurrency: []int{1}, Duration: time.Second, MaxRequests: 10},
			wantErr: "list items: 401",
		},
		{
			name:    "no events",
			o:       bench.HTTPOptions{Events: filepath.Join(t.TempDir(), "absent.csv"), Kinds: []string{"search"}, Concurrency: []int{1}, Duration: time.Second, MaxRequests: 10, ReadToken: "reader"},
			wantErr: "absent.csv",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.URL, o.K, o.Seed = base, 5, 1
			if o.Events == "" {
				o.Events = events
			}
			var out bytes.Buffer
			o.Out = &out
			rep, err := bench.RunHTTP(context.Background(), o)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), "bench http: ") || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if len(rep.Results) != tc.wantResults {
				t.Fatalf("%d results, want %d", len(rep.Results), tc.wantResults)
			}
			if lines := strings.Count(out.String(), "\n"); lines != 1+tc.wantResults {
				t.Errorf("%d lines, want a header and one per run:\n%s", lines, out.String())
			}
			for _, r := range rep.Results {
				if r.Requests == 0 || r.Failed != 0 || r.QPS <= 0 || r.P99ms < r.P50ms {
					t.Errorf("run %+v", r)
				}
				if r.Kind == "search" && o.Reload && (r.Reloads == 0 || !strings.Contains(out.String(), "snapshot reloads during the run")) {
					t.Errorf("no reload during the run: %+v\n%s", r, out.String())
				}
			}
			j, b := readReport[bench.HTTPResult](t, rep)
			if j.Name != "http" || j.Params["url"] != base || len(j.Results) != tc.wantResults {
				t.Errorf("report %s", b)
			}
		})
	}
}
