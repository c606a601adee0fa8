package server_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/weaviatetest"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/server"
	"github.com/duetrec/duet/tower"
)

var indexFlag = flag.String("index", "", "run the engine's tests with this index: weaviate (a private three-node cluster) or the embedded indexes (empty)")

// weaviateClient returns a client of the tests' Weaviate cluster; the
// collections it makes are dropped when the test ends.
func weaviateClient(t testing.TB) *weaviate.Client {
	t.Helper()
	cluster := weaviatetest.Shared(t)
	c, err := weaviate.Open(cluster.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the Weaviate nodes' logs end:\n%s", cluster.Logs())
		}
	})
	before, err := c.Collections(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		after, _ := c.Collections(context.Background())
		for _, name := range after {
			if !slices.Contains(before, name) {
				c.Drop(context.Background(), name)
			}
		}
		c.Close()
	})
	return c
}

// engineFixture is a server over a real engine: a small generated catalog
// in the store, a model trained on it, and a snapshot of both.
type engineFixture struct {
	*fixture
	items []content.Item // as generated, in file order
	users []string
	// rebuild writes a new snapshot of the store as it is, with the
	// fixture's model and build options.
	rebuild func() error
	// loadBackend loads the fixture's snapshot anew, as the server does.
	loadBackend func() (server.Backend, error)
	root        *snapshot.Root
}

func newEngineFixture(t testing.TB, mutate ...func(*server.Config)) *engineFixture {
	t.Helper()
	return newEngineFixtureOf(t, content.GenOptions{Items: 300, Users: 120, Seed: 5}, mutate...)
}

// newEngineFixtureOf is newEngineFixture over a generated catalog of the
// given shape.
func newEngineFixtureOf(t testing.TB, gen content.GenOptions, mutate ...func(*server.Config)) *engineFixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, gen); err != nil {
		t.Fatal(err)
	}
	itemsPath, eventsPath := filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile)
	st, err := content.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := content.ImportGeneric(ctx, st, itemsPath, eventsPath, content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := tower.LoadDataset(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	model, err := tower.Train(ctx, ds, nil, nil, tower.Config{Epochs: 2, Workers: 1, Buckets: 1 << 12, Dim: 16})
	if err != nil {
		t.Fatal(err)
	}
	stats, _ := st.Stats(ctx)
	root := snapshot.NewRoot(filepath.Join(dir, "data"))
	bo := snapshot.BuildOptions{ANN: index.KindHNSW}
	if *indexFlag == "weaviate" {
		bo.Weaviate = weaviateClient(t)
		bo.Collection = weaviate.Options{Shards: 2, Replicas: 3}
		root.UseIndex(bo.Weaviate, "")
	}
	if _, err := root.Build(ctx, stats.Seq, model, ds.Items, nil, bo); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		EditorToken: editorTok, EventsToken: eventsTok, AdminToken: adminTok,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		ArmLoader: server.NamedSnapshotLoader(root, st),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	f := &engineFixture{fixture: &fixture{t: t, store: st}, items: ds.Items, users: ds.Users, root: root}
	f.rebuild = func() error {
		// The sequence number first: what the dataset read holds beyond
		// it is replayed after the load, which does no harm.
		stats, err := st.Stats(ctx)
		if err != nil {
			return err
		}
		ds, err := tower.LoadDataset(ctx, st)
		if err != nil {
			return err
		}
		_, err = root.Build(ctx, stats.Seq, model, ds.Items, nil, bo)
		return err
	}
	load := server.SnapshotLoader(root, st, cfg.Logger)
	f.loadBackend = func() (server.Backend, error) { return load(ctx) }
	cfg.Loader = func(ctx context.Context) (server.Backend, error) {
		f.loads++
		return load(ctx)
	}
	srv, err := server.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f.srv = srv
	if _, err := srv.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// hitIDs sends a read request and returns the ids of its hits.
func (f *engineFixture) hitIDs(target string) []string {
	f.t.Helper()
	rec := f.do("GET", target, "", "")
	if rec.Code != 200 {
		f.t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	var resp struct {
		Hits []struct {
			ID string `json:"id"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		f.t.Fatalf("GET %s: %v", target, err)
	}
	ids := make([]string, len(resp.Hits))
	for i, h := range resp.Hits {
		ids[i] = h.ID
	}
	return ids
}

// POST /v1/search takes a vector in the model's space for the vector side.
func TestSearch_VectorInBody(t *testing.T) {
	f := newEngineFixture(t)
	v := make([]string, 16)
	for i := range v {
		v[i] = fmt.Sprint(float32(i%5) - 2)
	}
	rec := f.do("POST", "/v1/search", "", `{"vector":[`+strings.Join(v, ",")+`],"mode":"vector","k":5}`)
	var resp struct {
		Hits   []json.RawMessage `json:"hits"`
		Source string            `json:"source"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || len(resp.Hits) != 5 || resp.Source != "query" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// A word typed in part or with a typo finds an item an editor has just
// added, unless the request asks for exact words.
func TestSearch_AsYouType(t *testing.T) {
	f := newEngineFixture(t)
	if rec := f.do("POST", "/v1/items", editorTok, `{"id":"zz-new","title":"Zephyrine Quasarium"}`); rec.Code != 201 {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		query string
		found bool
	}{
		{"quasarium", true},
		{"quasari", true},
		{"quasari&prefix=false", false},
		{"quasari+", false}, // a finished word
		{"zephyrlne", true},
		{"zephyrlne&typos=off", false},
		{"zephyrlne&typos=10,0", false},
		{"zephyrlnee&typos=5,9", true}, // two typos in ten letters
	} {
		ids := f.hitIDs("/v1/search?mode=keyword&k=5&q=" + c.query)
		if slices.Contains(ids, "zz-new") != c.found {
			t.Errorf("q=%s: %v, want zz-new found %v", c.query, ids, c.found)
		}
	}
	// The words that found it, marked; every hit of the hybrid list, the
	// vector side's included, is highlighted by the same words.
	for _, c := range []struct{ target, want string }{
		{"/v1/search?k=20&highlight=true&q=zephyrlne+quasari", "<mark>Zephyrine</mark> <mark>Quasarium</mark>"},
		{"/v1/search?k=20&highlight=true&q=quasarium+%3Cb%3E", "Zephyrine <mark>Quasarium</mark>"},
		{"/v1/search?k=20&q=quasarium", ""},
	} {
		rec := f.do("GET", c.target, "", "")
		var resp struct {
			Hits []struct {
				ID         string            `json:"id"`
				Highlights map[string]string `json:"highlights"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", c.target, rec.Code, rec.Body)
		}
		found := false
		for _, h := range resp.Hits {
			if h.ID == "zz-new" {
				found = true
				if h.Highlights["title"] != c.want {
					t.Errorf("%s: highlights %q, want title %q", c.target, h.Highlights, c.want)
				}
			}
		}
		if !found {
			t.Errorf("%s: zz-new not found", c.target)
		}
	}
}

// While the word is typed, the vector list is drawn from the items
// holding a word it begins: here an editor's new item alone.
func TestSearch_UnfinishedNarrowsVectors(t *testing.T) {
	f := newEngineFixture(t)
	if rec := f.do("POST", "/v1/items", editorTok, `{"id":"zz-new","title":"Zephyrine Quasarium"}`); rec.Code != 201 {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		query      string
		unfinished int
	}{
		{"quasari", 1},
		{"quasari+", 0},
		{"quasari&prefix=false", 0},
	} {
		rec := f.do("GET", "/v1/search?mode=vector&k=5&q="+c.query, "", "")
		var resp struct {
			Hits []struct {
				ID string `json:"id"`
			} `json:"hits"`
			Unfinished int `json:"unfinished"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", c.query, rec.Code, rec.Body)
		}
		if resp.Unfinished != c.unfinished || c.unfinished == 1 && (len(resp.Hits) != 1 || resp.Hits[0].ID != "zz-new") {
			t.Errorf("q=%s, vector mode: %s, want unfinished %d", c.query, rec.Body, c.unfinished)
		}
	}
}

// Suggestions complete the word being typed from the catalogue's words
// and show the items a search would, an editor's new item at once.
func TestSuggest(t *testing.T) {
	f := newEngineFixture(t)
	if rec := f.do("POST", "/v1/items", editorTok, `{"id":"zz-new","title":"Zephyrine Quasarium"}`); rec.Code != 201 {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	type answer struct {
		Queries []string `json:"queries"`
		Items   []struct {
			ID, Title, Highlight string
		} `json:"items"`
	}
	get := func(target string) answer {
		t.Helper()
		rec := f.do("GET", target, "", "")
		var a answer
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("%s: %d %s", target, rec.Code, rec.Body)
		}
		return a
	}
	for _, target := range []string{"/v1/suggest?q=zephyrine+quasari", "/v1/suggest?q=zephyrine+quasari&k=3&user=" + f.users[0]} {
		a := get(target)
		want := "<mark>Zephyrine</mark> <mark>Quasarium</mark>"
		if len(a.Queries) != 1 || a.Queries[0] != "zephyrine quasarium" {
			t.Errorf("%s: queries %q", target, a.Queries)
		}
		if len(a.Items) == 0 || a.Items[0].ID != "zz-new" || a.Items[0].Title != "Zephyrine Quasarium" || a.Items[0].Highlight != want {
			t.Errorf("%s: items %+v", target, a.Items)
		}
	}
	// A whole word typed is not offered back to itself, whatever its case.
	for _, q := range []string{"zephyrine+quasarium", "Zephyrine+Quasarium"} {
		if a := get("/v1/suggest?q=" + q); slices.ContainsFunc(a.Queries, func(s string) bool { return strings.EqualFold(s, "zephyrine quasarium") }) {
			t.Errorf("q=%s: queries %q offer the query itself", q, a.Queries)
		}
	}
	// A finished word has nothing to complete; the items still come.
	if a := get("/v1/suggest?q=quasarium+"); len(a.Queries) != 0 || len(a.Items) == 0 {
		t.Errorf("a finished word: %+v", a)
	}
	for _, c := range []struct{ target, code string }{
		{"/v1/suggest", "invalid_request"},
		{"/v1/suggest?q=+", "invalid_request"},
		{"/v1/suggest?q=x&k=21", "invalid_request"},
		{"/v1/suggest?q=x&k=-1", "invalid_request"},
		{"/v1/suggest?q=x&k=five", "invalid_parameter"},
		{"/v1/suggest?q=x&mode=keyword", "invalid_parameter"},
		{"/v1/suggest?q=a%ffb", "invalid_request"},
	} {
		if rec := f.do("GET", c.target, "", ""); rec.Code != 400 || errorCode(t, rec) != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.target, rec.Code, rec.Body, c.code)
		}
	}
}

// Sorted by a number attribute, newest first, relevance breaking ties;
// the total says how many were ranked and whether that is every match.
func TestSearch_SortAndTotal(t *testing.T) {
	f := newEngineFixture(t)
	word := strings.ToLower(strings.Fields(f.items[0].Title)[0])
	rec := f.do("GET", "/v1/search?k=50&sort=attr.year:desc&q="+word, "", "")
	var resp struct {
		Hits []struct {
			Item struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"item"`
		} `json:"hits"`
		Total      int  `json:"total"`
		TotalExact bool `json:"total_exact"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 || len(resp.Hits) < 5 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	last, missing := 1e9, false
	for i, h := range resp.Hits {
		y, ok := h.Item.Attributes["year"].(float64)
		if !ok {
			missing = true
			continue
		}
		if missing || y > last {
			t.Fatalf("hit %d: year %v after %v (or after one without a year)", i, y, last)
		}
		last = y
	}
	if resp.Total < len(resp.Hits) || resp.TotalExact {
		t.Fatalf("hybrid total %d, exact %v", resp.Total, resp.TotalExact)
	}
	rec = f.do("GET", "/v1/search?mode=keyword&k=1&q="+word, "", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Total < 1 || !resp.TotalExact {
		t.Fatalf("keyword: %s", rec.Body)
	}
}

// Facet counts over every keyword match equal a count over the hits when
// the page holds them all; a hybrid search counts its candidates.
func TestSearch_Facets(t *testing.T) {
	f := newEngineFixture(t)
	word := strings.ToLower(strings.Fields(f.items[0].Title)[0])
	var resp struct {
		Hits []struct {
			Item struct {
				Categories []string `json:"categories"`
			} `json:"item"`
		} `json:"hits"`
		Total      int                            `json:"total"`
		TotalExact bool                           `json:"total_exact"`
		Facets     map[string][]search.FacetCount `json:"facets"`
	}
	rec := f.do("GET", "/v1/search?mode=keyword&k=1000&window=5000&facets=category&facet_size=100&q="+word, "", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 || !resp.TotalExact || len(resp.Hits) != resp.Total {
		t.Fatalf("%d %s: total %d exact %v, %d hits", rec.Code, rec.Body, resp.Total, resp.TotalExact, len(resp.Hits))
	}
	want := map[string]int{}
	for _, h := range resp.Hits {
		for _, c := range h.Item.Categories {
			want[c]++
		}
	}
	got := map[string]int{}
	for _, fc := range resp.Facets["category"] {
		got[fc.Value] = fc.Count
	}
	if len(want) == 0 || !maps.Equal(got, want) {
		t.Fatalf("facets %v, counted %v", got, want)
	}
	rec = f.do("GET", "/v1/search?k=5&facets=category,tag,attr.year&q="+word, "", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 || len(resp.Facets) != 3 || len(resp.Facets["attr.year"]) == 0 {
		t.Fatalf("hybrid: %s", rec.Body)
	}
	for name, fcs := range resp.Facets {
		for _, fc := range fcs {
			if fc.Count < 1 || fc.Count > resp.Total {
				t.Fatalf("%s: %+v of %d candidates", name, fc, resp.Total)
			}
		}
	}
}

// An editor's synonyms and stop words apply to the next search, with no
// rebuild; explanations say which terms came from which set; they outlast
// a snapshot swap and a restart.
func TestVocabulary_AppliedAtOnce(t *testing.T) {
	f := newEngineFixture(t)
	for _, body := range []string{`{"id":"zz-a","title":"Quibbleton Frobnicator"}`, `{"id":"zz-b","title":"Wumpus Gizmotron"}`, `{"id":"zz-c","title":"Laptop Sleeve Zanzibarian"}`} {
		if rec := f.do("POST", "/v1/items", editorTok, body); rec.Code != 201 {
			t.Fatalf("add: %d %s", rec.Code, rec.Body)
		}
	}
	found := func(q string) []string {
		var out []string
		for _, id := range f.hitIDs("/v1/search?mode=keyword&k=20&q=" + q) {
			if strings.HasPrefix(id, "zz-") {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	write := func(method, target, body string, want int) {
		t.Helper()
		if rec := f.do(method, target, editorTok, body); rec.Code != want {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
	}
	checks := func(stage string, cases map[string][]string) {
		t.Helper()
		for q, want := range cases {
			if got := found(q); !slices.Equal(got, want) {
				t.Errorf("%s: q=%s found %v, want %v", stage, q, got, want)
			}
		}
	}
	checks("before", map[string][]string{"frobnicator": {"zz-a"}, "gizmotron": {"zz-b"}, "quibbleton+wumpus": {"zz-a", "zz-b"}, "notebook+zanzibarian&prefix=false": {"zz-c"}})

	write("PUT", "/v1/synonyms/gadgets", `{"terms":["Frobnicator","gizmotron"]}`, 200)
	write("PUT", "/v1/synonyms/zz", `{"root":"notebook","terms":["laptop sleeve"]}`, 200)
	write("PUT", "/v1/stop-words", `{"stop_words":["Quibbleton"]}`, 200)
	during := map[string][]string{"frobnicator": {"zz-a", "zz-b"}, "gizmotron": {"zz-a", "zz-b"}, "quibbleton+wumpus": {"zz-b"}, "notebook": {"zz-c"}}
	checks("with the vocabulary", during)

	// Explained: the reading, and each hit's terms.
	rec := f.do("GET", "/v1/search?mode=keyword&explain=true&q=quibbleton+gizmotron", "", "")
	var resp struct {
		Hits []struct {
			ID      string `json:"id"`
			Explain struct {
				Matched []struct{ Term, From, Why, Set string } `json:"matched"`
			} `json:"explain"`
		} `json:"hits"`
		Reading struct {
			Terms     []struct{ Term, Why, Set string } `json:"terms"`
			StopWords []string                          `json:"stop_words"`
		} `json:"reading"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !slices.Equal(resp.Reading.StopWords, []string{"quibbleton"}) || len(resp.Reading.Terms) != 2 ||
		resp.Reading.Terms[1].Why != "synonym" || resp.Reading.Terms[1].Set != "gadgets" {
		t.Fatalf("reading %+v", resp.Reading)
	}
	for _, h := range resp.Hits {
		if h.ID == "zz-a" && (len(h.Explain.Matched) != 1 || h.Explain.Matched[0].Why != "synonym" || h.Explain.Matched[0].From != "gizmotron") {
			t.Fatalf("zz-a explained as %+v", h.Explain)
		}
	}

	// A snapshot swap, then a restart, keep it.
	write("POST", "/admin/snapshots/reload", "", 401) // the editor's token is no admin's
	if rec := f.do("POST", "/admin/snapshots/reload", adminTok, ""); rec.Code != 200 {
		t.Fatalf("reload: %d %s", rec.Code, rec.Body)
	}
	checks("after a reload", during)
	f.srv.Close()
	srv, err := server.New(f.store, server.Config{EditorToken: editorTok, AdminToken: adminTok, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Loader: func(context.Context) (server.Backend, error) { return f.loadBackend() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if _, err := srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	checks("after a restart", during)
	var stats struct {
		Vocabulary struct {
			SynonymSets int `json:"synonym_sets"`
			StopWords   int `json:"stop_words"`
		} `json:"vocabulary"`
	}
	json.Unmarshal(f.do("GET", "/admin/stats", adminTok, "").Body.Bytes(), &stats)
	if stats.Vocabulary.SynonymSets != 2 || stats.Vocabulary.StopWords != 1 {
		t.Fatalf("stats %+v", stats)
	}

	// Deleted and emptied: back to the words alone.
	write("DELETE", "/v1/synonyms/gadgets", "", 200)
	write("DELETE", "/v1/synonyms/gadgets", "", 404)
	write("PUT", "/v1/stop-words", `{"stop_words":[]}`, 200)
	checks("after", map[string][]string{"frobnicator": {"zz-a"}, "quibbleton+wumpus": {"zz-a", "zz-b"}, "notebook": {"zz-c"}})
}
