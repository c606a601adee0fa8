package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/server"
)

func TestSearch_Routes(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		method string
		target string
		body   string
		check  func(r search.Request) bool
	}{
		{"get with everything", "GET", "/v1/search?q=space+opera&user=u1&k=5&offset=2&mode=vector&fusion=relative&alpha=0.3&rrf_k=10&user_weight=0.7&category=a&category=b&tag=t&attr=year:1990..2000&attr=lang:en&attr=price:..9.5&exclude_seen=true&mmr=0.5&max_per_category=2&explain=true", "",
			func(r search.Request) bool {
				a := r.Filters.Attributes
				return r.Query == "space opera" && r.UserID == "u1" && r.K == 5 && r.Offset == 2 && r.Mode == "vector" && r.Fusion == "relative" &&
					*r.Alpha == 0.3 && r.RRFK == 10 && *r.UserWeight == 0.7 && strings.Join(r.Filters.Categories, ",") == "a,b" && r.Filters.Tags[0] == "t" &&
					len(a) == 3 && *a[0].Min == 1990 && *a[0].Max == 2000 && a[1].Equals.Str == "en" && a[2].Min == nil && *a[2].Max == 9.5 &&
					r.ExcludeSeen && r.Diversity.MMRLambda == 0.5 && r.Diversity.MaxPerCategory == 2 && r.Explain
			}},
		{"as you type by default", "GET", "/v1/search?q=spa", "", func(r search.Request) bool {
			return r.Prefix && r.Typos == search.DefaultTypos
		}},
		{"exact words only", "GET", "/v1/search?q=spa&prefix=false&typos=off", "", func(r search.Request) bool {
			return !r.Prefix && r.Typos == search.Typos{}
		}},
		{"typos from other lengths", "GET", "/v1/search?q=spa&typos=4,0", "", func(r search.Request) bool {
			return r.Typos == search.Typos{One: 4}
		}},
		{"post as you type by default", "POST", "/v1/search", `{"q":"spa"}`, func(r search.Request) bool {
			return r.Prefix && r.Typos == search.DefaultTypos
		}},
		{"post exact words only", "POST", "/v1/search", `{"q":"spa","prefix":false,"typos":"0"}`, func(r search.Request) bool {
			return !r.Prefix && r.Typos == search.Typos{}
		}},
		{"faceted", "GET", "/v1/search?q=spa&facets=category,attr.year&facet_size=3", "", func(r search.Request) bool {
			return strings.Join(r.Facets, ",") == "category,attr.year" && r.FacetSize == 3
		}},
		{"post faceted", "POST", "/v1/search", `{"q":"spa","facets":["tag"],"facet_size":4}`, func(r search.Request) bool {
			return strings.Join(r.Facets, ",") == "tag" && r.FacetSize == 4
		}},
		{"sorted", "GET", "/v1/search?q=spa&sort=attr.year:desc", "", func(r search.Request) bool {
			return r.Sort != nil && r.Sort.Field == "attr.year" && r.Sort.Desc
		}},
		{"post sorted, ascending by default", "POST", "/v1/search", `{"q":"spa","sort":"created_at"}`, func(r search.Request) bool {
			return r.Sort != nil && r.Sort.Field == search.SortCreatedAt && !r.Sort.Desc
		}},
		{"numeric equality", "GET", "/v1/search?q=x&attr=year:1995", "", func(r search.Request) bool {
			return r.Filters.Attributes[0].Equals.IsNum && r.Filters.Attributes[0].Equals.Num == 1995
		}},
		{"post", "POST", "/v1/search", `{"q":"jazz","k":3,"filters":{"categories":["music"],"attributes":[{"key":"year","min":2000},{"key":"lang","equals":"en"}]},"diversity":{"mmr_lambda":0.7},"explain":true}`,
			func(r search.Request) bool {
				return r.Query == "jazz" && r.K == 3 && r.Filters.Categories[0] == "music" && *r.Filters.Attributes[0].Min == 2000 &&
					!r.Filters.Attributes[1].Equals.IsNum && r.Diversity.MMRLambda == 0.7 && r.Explain && r.Mode == search.ModeHybrid
			}},
		{"recommendations exclude seen by default", "GET", "/v1/users/u9/recommendations?k=4", "", func(r search.Request) bool {
			return r.UserID == "u9" && r.K == 4 && r.ExcludeSeen && r.Query == "recommend for u9" && len(r.Sources) == 0
		}},
		{"recommendations from chosen sources", "GET", "/v1/users/u9/recommendations?sources=cf,popular&fusion=rrf", "", func(r search.Request) bool {
			return strings.Join(r.Sources, ",") == "cf,popular" && r.Fusion == search.FusionRRF
		}},
		{"recommendations may include seen", "GET", "/v1/users/u9/recommendations?exclude_seen=false", "", func(r search.Request) bool {
			return !r.ExcludeSeen
		}},
		{"similar", "GET", "/v1/items/i1/similar?k=2&category=c", "", func(r search.Request) bool {
			return r.Query == "similar to i1" && r.K == 2 && r.Filters.Categories[0] == "c"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.do(c.method, c.target, "", c.body)
			if rec.Code != 200 {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			var resp struct {
				Hits   []search.Hit
				TookMS float64 `json:"took_ms"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Hits) != 1 {
				t.Fatalf("response %s: %v", rec.Body, err)
			}
			f.live.mu.Lock()
			last := f.live.last
			f.live.mu.Unlock()
			if !c.check(last) {
				t.Fatalf("request read as %+v", last)
			}
		})
	}
}

func TestAdmin(t *testing.T) {
	f := newFixture(t)
	if rec := f.do("POST", "/admin/snapshots/reload", editorTok, ""); rec.Code != 401 {
		t.Fatalf("reload with the editor token: %d", rec.Code)
	}
	f.do("POST", "/v1/items", editorTok, `{"id":"a"}`)
	rec := f.do("GET", "/admin/stats", adminTok, "")
	var st struct {
		Store    content.Stats
		Snapshot server.BackendInfo
		Lag      int
	}
	json.Unmarshal(rec.Body.Bytes(), &st)
	if rec.Code != 200 || st.Store.Items != 1 || st.Snapshot.Snapshot != "snapshot-1" || st.Lag != 0 {
		t.Fatalf("stats: %d %s", rec.Code, rec.Body)
	}
	old := f.live
	rec = f.do("POST", "/admin/snapshots/reload", adminTok, "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "snapshot-2") || !old.closed {
		t.Fatalf("reload: %d %s, old closed %v", rec.Code, rec.Body, old.closed)
	}
	if rec := f.do("GET", "/v1/search?q=x", "", ""); !strings.Contains(rec.Body.String(), "snapshot-2") {
		t.Fatalf("search after reload: %s", rec.Body)
	}
}

// Writes made after a snapshot was built reach the new backend through the
// replay, whether they came before the load or during it.
func TestReload_ReplaysChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.store.PutItem(ctx, content.Item{ID: "before"})
	f.store.PutItem(ctx, content.Item{ID: "gone"})
	f.store.DeleteItem(ctx, "gone")
	// The loader builds its snapshot at the current sequence number, so put
	// a write behind its back: a snapshot as of an older state.
	st, _ := f.store.Stats(ctx)
	f.store.PutItem(ctx, content.Item{ID: "after"})
	be := &fakeBackend{name: "old-state", seq: st.Seq - 3}
	srv, err := server.New(f.store, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loader: func(context.Context) (server.Backend, error) {
		return be, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// Changes after the snapshot: put before, put gone, delete gone, put after.
	// Each item is applied once, in its state when replayed, so "gone",
	// which no longer exists, is deleted.
	slices.Sort(be.puts)
	if got := strings.Join(be.puts, ","); got != "after,before" {
		t.Fatalf("replayed puts %s", got)
	}
	if got := strings.Join(be.deletes, ","); got != "gone" {
		t.Fatalf("replayed deletes %s", got)
	}
}

// No request fails while snapshots are swapped under load.
func TestReload_UnderLoad(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.SearchRate = -1 })
	var failed, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := f.do("GET", "/v1/search?q=x", "", "")
				if rec.Code != 200 {
					failed.Add(1)
				}
				done.Add(1)
			}
		})
	}
	for reloads := 0; reloads < 20 || done.Load() < 500; reloads++ {
		if _, err := f.srv.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || done.Load() == 0 {
		t.Fatalf("%d of %d requests failed during reloads", failed.Load(), done.Load())
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.SearchRate, c.SearchBurst = 1, 3 })
	codes := map[int]int{}
	for range 6 {
		req, _ := http.NewRequest("GET", "/v1/search?q=x", nil)
		req.RemoteAddr = "203.0.113.9:1234"
		req.Header.Set("X-Forwarded-For", "198.51.100."+string(rune('1'+len(codes))))
		rec := newRecorder()
		f.srv.Handler().ServeHTTP(rec, req)
		codes[rec.Code]++
	}
	if codes[200] != 3 || codes[429] != 3 {
		t.Fatalf("status counts %v: the limit must hold whatever X-Forwarded-For says", codes)
	}
}

func TestNoIndexLoaded(t *testing.T) {
	st, err := content.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.New(st, server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loader: func(context.Context) (server.Backend, error) {
		return nil, io.ErrUnexpectedEOF
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/search?q=x", "/readyz"} {
		rec := newRecorder()
		srv.Handler().ServeHTTP(rec, mustRequest("GET", p))
		if rec.Code != 503 {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	if _, err := srv.Reload(context.Background()); err == nil {
		t.Fatal("a failed load reported success")
	}
}

func TestAdminBackup(t *testing.T) {
	f := newFixture(t)
	f.do("POST", "/v1/items", editorTok, `{"id":"a","title":"Alpha"}`)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.srv.Serve(ctx, ln)
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+adminTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	path := filepath.Join(t.TempDir(), "copy.db")
	out, _ := os.Create(path)
	io.Copy(out, resp.Body)
	out.Close()
	if resp.StatusCode != 200 || resp.Trailer.Get("X-Duet-Seq") != "1" {
		t.Fatalf("status %d, trailer %v", resp.StatusCode, resp.Trailer)
	}
	st, err := content.OpenFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if it, err := st.Item(ctx, "a"); err != nil || it.Title != "Alpha" {
		t.Fatalf("item in the copy: %+v %v", it, err)
	}
}
