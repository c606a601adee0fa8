package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/server"
)

const (
	editorTok = "editor-secret"
	eventsTok = "events-secret"
	adminTok  = "admin-secret"
)

// fakeBackend records what reaches it and answers searches with the
// request it got, so tests can see how the server read it.
type fakeBackend struct {
	mu      sync.Mutex
	name    string
	seq     uint64
	puts    []string
	deletes []string
	events  int
	closed  bool
	last    search.Request
}

func (b *fakeBackend) Search(_ context.Context, req search.Request) (*search.Result, error) {
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("search on a closed backend")
	}
	b.last = req
	return &search.Result{Hits: []search.Hit{{ID: b.name, Score: 1}}, Mode: req.Mode, Fusion: req.Fusion, Source: "query"}, nil
}

func (b *fakeBackend) Similar(ctx context.Context, id string, req search.Request) (*search.Result, error) {
	if id == "missing" {
		return nil, search.ErrNotFound
	}
	req.Query = "similar to " + id
	return b.Search(ctx, req)
}

func (b *fakeBackend) Recommend(ctx context.Context, req search.Request) (*search.Result, error) {
	req.Query = "recommend for " + req.UserID
	return b.Search(ctx, req)
}

func (b *fakeBackend) Suggest(ctx context.Context, req search.SuggestRequest) (*search.Suggestions, error) {
	if _, err := b.Search(ctx, search.Request{Query: req.Query, UserID: req.UserID, K: req.K}); err != nil {
		return nil, err
	}
	return &search.Suggestions{Queries: []string{req.Query + "…"}, Items: []search.SuggestedItem{{ID: b.name}}}, nil
}

func (b *fakeBackend) ItemPut(_ context.Context, it content.Item) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.puts = append(b.puts, it.ID)
	return nil
}

func (b *fakeBackend) ItemDeleted(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deletes = append(b.deletes, id)
	return nil
}

func (b *fakeBackend) EventsAdded(evs []content.Event) {
	b.mu.Lock()
	b.events += len(evs)
	b.mu.Unlock()
}

func (b *fakeBackend) Info() server.BackendInfo {
	return server.BackendInfo{Snapshot: b.name, Seq: b.seq, Items: 1}
}

func (b *fakeBackend) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

type fixture struct {
	t     testing.TB
	store *content.Store
	srv   *server.Server
	live  *fakeBackend // the backend in service
	loads int
}

func newFixture(t testing.TB, mutate ...func(*server.Config)) *fixture {
	t.Helper()
	st, err := content.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := server.Config{
		EditorToken: editorTok, EventsToken: eventsTok, AdminToken: adminTok,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	f := &fixture{t: t, store: st}
	loader := func(ctx context.Context) (server.Backend, error) {
		f.loads++
		seq := uint64(0)
		if st, err := f.store.Stats(ctx); err == nil {
			seq = st.Seq
		}
		f.live = &fakeBackend{name: fmt.Sprint("snapshot-", f.loads), seq: seq}
		return f.live, nil
	}
	cfg.Loader = loader
	srv, err := server.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f.srv = srv
	if _, err := srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f
}

// do sends a request; token "" sends none.
func (f *fixture) do(method, target, token, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func errorCode(t testing.TB, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("status %d: body %q is not an API error", rec.Code, rec.Body.String())
	}
	return body.Error.Code
}

func TestItems_CRUD(t *testing.T) {
	f := newFixture(t)
	rec := f.do("POST", "/v1/items", editorTok, `{"id":"a","title":"Alpha","tags":["x"],"attributes":{"year":1999}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var w struct {
		Item content.Item
		Seq  uint64
	}
	json.Unmarshal(rec.Body.Bytes(), &w)
	if w.Item.ID != "a" || w.Item.CreatedAt.IsZero() || w.Seq == 0 {
		t.Fatalf("create answer %s", rec.Body)
	}
	if rec := f.do("POST", "/v1/items", editorTok, `{"id":"a"}`); rec.Code != http.StatusConflict || errorCode(t, rec) != "exists" {
		t.Fatalf("create twice: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("GET", "/v1/items/a", "", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"title":"Alpha"`) {
		t.Fatalf("get: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("PUT", "/v1/items/a", editorTok, `{"title":"Alpha 2"}`); rec.Code != 200 {
		t.Fatalf("put: %d %s", rec.Code, rec.Body)
	}
	if it, _ := f.store.Item(context.Background(), "a"); it.Title != "Alpha 2" {
		t.Fatalf("stored title %q", it.Title)
	}
	if rec := f.do("PUT", "/v1/items/b", editorTok, `{"id":"b","title":"Beta"}`); rec.Code != 200 {
		t.Fatalf("put new: %d %s", rec.Code, rec.Body)
	}
	rec = f.do("POST", "/v1/items:batch", editorTok, `{"items":[{"id":"c"},{"id":"d","title":"Delta"}]}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"count":2`) {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	rec = f.do("GET", "/v1/items?limit=3", "", "")
	var page struct {
		Items []content.Item
		Next  string
	}
	json.Unmarshal(rec.Body.Bytes(), &page)
	if rec.Code != 200 || len(page.Items) != 3 || page.Next != "c" {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	rec = f.do("GET", "/v1/items?limit=3&after=c", "", "")
	page.Next = ""
	json.Unmarshal(rec.Body.Bytes(), &page)
	if len(page.Items) != 1 || page.Items[0].ID != "d" || page.Next != "" {
		t.Fatalf("second page: %s", rec.Body)
	}
	if rec := f.do("DELETE", "/v1/items/b", editorTok, ""); rec.Code != 200 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("GET", "/v1/items/b", "", ""); rec.Code != 404 || errorCode(t, rec) != "not_found" {
		t.Fatalf("get deleted: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("DELETE", "/v1/items/b", editorTok, ""); rec.Code != 404 {
		t.Fatalf("delete twice: %d", rec.Code)
	}
	if got := strings.Join(f.live.puts, ","); got != "a,a,b,c,d" || strings.Join(f.live.deletes, ",") != "b" {
		t.Fatalf("live saw puts %v deletes %v", f.live.puts, f.live.deletes)
	}
}

func TestEventsAndHistory(t *testing.T) {
	f := newFixture(t)
	f.do("POST", "/v1/items:batch", editorTok, `{"items":[{"id":"a"},{"id":"b"}]}`)
	rec := f.do("POST", "/v1/events", eventsTok, `{"user_id":"u","item_id":"a","kind":"view","timestamp":1700000000}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"accepted":1`) {
		t.Fatalf("one event: %d %s", rec.Code, rec.Body)
	}
	rec = f.do("POST", "/v1/events", eventsTok, `{"events":[{"user_id":"u","item_id":"b","kind":"rating","value":4,"timestamp":"2023-11-14T22:13:21Z"},{"user_id":"u","item_id":"a","kind":"click"}]}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"accepted":2`) {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	rec = f.do("GET", "/v1/users/u/history", "", "")
	var h struct {
		Events []struct {
			ItemID    string `json:"item_id"`
			Kind      string
			Value     float64
			Timestamp string
		}
	}
	json.Unmarshal(rec.Body.Bytes(), &h)
	if rec.Code != 200 || len(h.Events) != 3 || h.Events[1].Value != 4 || h.Events[2].Kind != "click" || h.Events[2].Timestamp == "" {
		t.Fatalf("history: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("GET", "/v1/users/u/history?limit=1", "", ""); !strings.Contains(rec.Body.String(), `"kind":"click"`) || strings.Count(rec.Body.String(), "item_id") != 1 {
		t.Fatalf("history limit 1: %s", rec.Body)
	}
}

func TestAuth_UnsetTokens(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.EditorToken, c.EventsToken = "", "" })
	if rec := f.do("POST", "/v1/items", "anything", `{"id":"a"}`); rec.Code != 401 {
		t.Fatalf("unset editor token: %d", rec.Code)
	}
	if rec := f.do("POST", "/v1/events", "", `{}`); rec.Code != 401 {
		t.Fatalf("unset events token: %d", rec.Code)
	}
	r := newFixture(t, func(c *server.Config) { c.ReadToken = "reader" })
	if rec := r.do("GET", "/v1/items", "", ""); rec.Code != 401 {
		t.Fatalf("read without token: %d", rec.Code)
	}
	if rec := r.do("GET", "/v1/items", "reader", ""); rec.Code != 200 {
		t.Fatalf("read with token: %d", rec.Code)
	}
	if rec := r.do("GET", "/healthz", "", ""); rec.Code != 200 {
		t.Fatalf("healthz needs no token: %d", rec.Code)
	}
}

func TestOps(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if rec := f.do("GET", p, "", ""); rec.Code != 200 {
			t.Fatalf("%s: %d", p, rec.Code)
		}
	}
	f.do("GET", "/v1/items/a", "", "")
	rec := f.do("GET", "/metrics", "", "")
	body := rec.Body.String()
	for _, want := range []string{
		`duet_http_requests_total{method="GET",route="/v1/items/:id",status="404"} 1`,
		`duet_http_request_duration_seconds_bucket{method="GET",route="/v1/items/:id"`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
	if rec := f.do("GET", "/v1/items/a", "", ""); rec.Header().Get("X-Request-Id") == "" {
		t.Fatal("no request id")
	}
}

// The OpenAPI document and the router agree: every route is documented and
// every documented operation is routed.
func TestOpenAPI_MatchesRoutes(t *testing.T) {
	f := newFixture(t)
	rec := f.do("GET", "/openapi.json", "", "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("document: %v %q", err, doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	param := regexp.MustCompile(`/:([a-z]+)`)
	var routed []string
	for _, r := range server.Routes(f.srv) {
		path := param.ReplaceAllString(r.Path, "/{$1}")
		path = strings.ReplaceAll(path, `\:`, ":")
		path = strings.Replace(path, "/*", "/{path}", 1) // the rest of the path
		routed = append(routed, r.Method+" "+path)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	if strings.Join(documented, "\n") != strings.Join(routed, "\n") {
		t.Fatalf("documented:\n%s\n\nrouted:\n%s", strings.Join(documented, "\n"), strings.Join(routed, "\n"))
	}
}

// X-Forwarded-For names the client only when the peer is a trusted proxy,
// so a client cannot dodge the rate limit by inventing addresses.
func TestClientIP(t *testing.T) {
	cases := []struct {
		name    string
		trusted []string
		peer    string
		xff     string
		want    string
	}{
		{"header ignored by default", nil, "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"trusted proxy", []string{"10.0.0.0/8"}, "10.1.2.3:5000", "198.51.100.1", "198.51.100.1"},
		{"untrusted peer", []string{"10.0.0.0/8"}, "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(cfg *server.Config) { cfg.TrustedProxies = c.trusted })
			req := httptest.NewRequest("GET", "/healthz", nil)
			req.RemoteAddr = c.peer
			req.Header.Set("X-Forwarded-For", c.xff)
			if got := server.ClientIP(f.srv, req); got != c.want {
				t.Fatalf("client ip %q, want %q", got, c.want)
			}
		})
	}
	if _, err := server.New(nil, server.Config{TrustedProxies: []string{"nonsense"}}); err == nil {
		t.Fatal("accepted a bad CIDR")
	}
}

// Serve drains in-flight requests when its context ends.
func TestServe_GracefulShutdown(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestPages(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		path, ctype, text string
		status            int
	}{
		{"/", "text/html", `id="search"`, 200},
		{"/editor", "text/html", `id="item"`, 200},
		{"/ui/style.css", "text/css", "--accent", 200},
		{"/ui/playground.js", "javascript", "/v1/search", 200},
		{"/ui/editor.js", "javascript", "/v1/items", 200},
		{"/ui/nothing.js", "application/json", "not_found", 404},
		{"/ui/..%2fserver.go", "application/json", "not_found", 404},
	}
	for _, c := range cases {
		rec := f.do("GET", c.path, "", "")
		if rec.Code != c.status || !strings.Contains(rec.Header().Get("Content-Type"), c.ctype) || !strings.Contains(rec.Body.String(), c.text) {
			t.Errorf("%s: %d %q %.80q", c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	}
}

func TestAuth_EditorMayRead(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.ReadToken = "reader" })
	if rec := f.do("GET", "/v1/items", editorTok, ""); rec.Code != 200 {
		t.Fatalf("editor reading: %d", rec.Code)
	}
	if rec := f.do("GET", "/v1/items", eventsTok, ""); rec.Code != 401 {
		t.Fatalf("events token reading: %d", rec.Code)
	}
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}
