package weaviate_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/internal/weaviatetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	weaviatetest.StopShared()
	os.Exit(code)
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"weaviate://127.0.0.1:8080", []string{"127.0.0.1:8080"}},
		{"weaviate://a:1,b:2,c:3/", []string{"a:1", "b:2", "c:3"}},
		{"weaviate://", nil},
		{"weaviate://a", nil},
		{"weaviate://a:1,,b:2", nil},
		{"http://a:1", nil},
	} {
		got, err := weaviate.ParseURL(tc.in)
		if tc.want == nil {
			if !errors.Is(err, weaviate.ErrBadURL) {
				t.Errorf("ParseURL(%q) = %v, %v; want ErrBadURL", tc.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseURL(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestUUID(t *testing.T) {
	a, b := weaviate.UUID("item-1"), weaviate.UUID("item-2")
	if a == b || a != weaviate.UUID("item-1") {
		t.Fatalf("UUIDs not deterministic and distinct: %s %s", a, b)
	}
	if len(a) != 36 || a[14] != '5' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Fatalf("UUID %s is not a version 5 RFC 4122 UUID", a)
	}
}

// testItems makes n items in a few categories, tagged by parity, with a
// year attribute, each with a random unit vector.
func testItems(n, dim int, seed uint64) ([]content.Item, map[string][]float32) {
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"space", "opera", "love", "story", "heist", "comedy", "robots", "dragons", "detective", "ocean"}
	items := make([]content.Item, n)
	vecs := map[string][]float32{}
	for i := range items {
		id := fmt.Sprintf("it-%03d", i)
		tag := "even"
		if i%2 == 1 {
			tag = "odd"
		}
		items[i] = content.Item{
			ID:          id,
			Title:       words[i%len(words)] + " " + words[(i/len(words))%len(words)],
			Description: "The " + words[(i*7)%len(words)] + "s of item " + id,
			Categories:  []string{fmt.Sprintf("cat%d", i%4)},
			Tags:        []string{tag},
			Attributes:  map[string]content.Value{"year": content.Number(float64(1990 + i%30)), "lang": content.String([]string{"en", "fr"}[i%2])},
		}
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		vec.Normalize(v)
		vecs[id] = v
	}
	return items, vecs
}

var collections atomic.Int64

func newCollection(t *testing.T, c *weaviate.Client, items []content.Item, vecs map[string][]float32, opts weaviate.Options) *weaviate.Collection {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("Duet_test_%d_%d", os.Getpid(), collections.Add(1))
	col, err := c.Create(ctx, name, items, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Drop(context.Background(), name) })
	objs := make([]weaviate.Object, len(items))
	for i := range items {
		objs[i] = weaviate.Object{Item: &items[i], Vector: vecs[items[i].ID]}
	}
	if err := col.Put(ctx, objs); err != nil {
		t.Fatal(err)
	}
	return col
}

func client(t *testing.T) *weaviate.Client {
	t.Helper()
	cl := weaviatetest.Shared(t)
	c, err := weaviate.Open(cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// exact is the brute-force answer: the k items passing allow with the
// highest inner product.
func exact(items []content.Item, vecs map[string][]float32, q []float32, k int, allow func(*content.Item) bool) []string {
	type scored struct {
		id string
		s  float32
	}
	var all []scored
	for i := range items {
		if allow == nil || allow(&items[i]) {
			all = append(all, scored{items[i].ID, vec.Dot(vecs[items[i].ID], q)})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].s > all[j].s })
	var out []string
	for _, s := range all[:min(k, len(all))] {
		out = append(out, s.id)
	}
	return out
}

func ids(rs []index.Result) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// condFilter is a filter with conditions, as the search engine makes.
type condFilter struct {
	cond  text.Filter
	allow func(string) bool
}

func (f condFilter) Allow(id string) bool    { return f.allow(id) }
func (f condFilter) Conditions() text.Filter { return f.cond }

func TestCollection_VectorSearch(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	const dim = 16
	items, vecs := testItems(300, dim, 1)
	col := newCollection(t, c, items, vecs, weaviate.Options{Shards: 3, Replicas: 3})
	// A node counts what its replicas hold so far: the third copy of a
	// write acknowledged by a quorum may still be on its way.
	settled(t, "count", func() (bool, string) {
		n, err := col.Count(ctx)
		return err == nil && n == len(items), fmt.Sprintf("Count = %d, %v; want %d", n, err, len(items))
	})
	x := weaviate.NewIndex(col, dim, 0)
	vx := x.Vectors()
	byID := map[string]*content.Item{}
	for i := range items {
		byID[items[i].ID] = &items[i]
	}
	lo, hi := 2000.0, 2010.0
	excluded := "it-004"
	for _, tc := range []struct {
		name   string
		filter index.Filter
		allow  func(*content.Item) bool
	}{
		{"none", nil, nil},
		{"category", condFilter{cond: text.Filter{Categories: []string{"cat1", "cat2"}}, allow: func(string) bool { return true }},
			func(it *content.Item) bool { return it.Categories[0] == "cat1" || it.Categories[0] == "cat2" }},
		{"tag, string attribute and range", condFilter{
			cond:  text.Filter{Tags: []string{"even"}, Attributes: map[string]content.Value{"lang": content.String("en")}, Ranges: []text.Range{{Attribute: "year", Min: &lo, Max: &hi}}},
			allow: func(string) bool { return true }},
			func(it *content.Item) bool {
				y := it.Attributes["year"].Num
				return it.Tags[0] == "even" && it.Attributes["lang"].Str == "en" && y >= lo && y <= hi
			}},
		{"conditions and an exclusion only Allow knows", condFilter{
			cond:  text.Filter{Categories: []string{"cat0"}},
			allow: func(id string) bool { return id != excluded }},
			func(it *content.Item) bool { return it.Categories[0] == "cat0" && it.ID != excluded }},
		{"a predicate alone", index.FilterFunc(func(id string) bool { return byID[id].Attributes["year"].Num < 1995 }),
			func(it *content.Item) bool { return it.Attributes["year"].Num < 1995 }},
		{"an attribute no item has", condFilter{cond: text.Filter{Attributes: map[string]content.Value{"nope": content.Number(1)}}, allow: func(string) bool { return true }},
			func(*content.Item) bool { return false }},
		// Scored one by one, from vectors fetched at once: exactly.
		{"a short list", index.NewAllowSet("it-003", "it-028", "it-053", "it-078", "it-103", "it-128", "it-153", "it-178", "it-203", "it-228", "it-253", "it-278", "missing"),
			func(it *content.Item) bool { n, _ := strconv.Atoi(it.ID[3:]); return n%25 == 3 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits, recall := 0, 0
			for q := range 20 {
				qv := vecs[items[q*7].ID]
				got, err := vx.Search(ctx, qv, 10, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				want := exact(items, vecs, qv, 10, tc.allow)
				for _, id := range ids(got) {
					if tc.allow != nil && !tc.allow(byID[id]) {
						t.Fatalf("query %d: hit %s fails the filter", q, id)
					}
				}
				if len(got) != len(want) {
					t.Fatalf("query %d: %d hits, want %d", q, len(got), len(want))
				}
				if _, listed := tc.filter.(index.ListedFilter); listed && !slices.Equal(ids(got), want) {
					t.Fatalf("query %d: hits %v, want exactly %v", q, ids(got), want)
				}
				hits += len(want)
				for _, id := range ids(got) {
					if slices.Contains(want, id) {
						recall++
					}
				}
				if len(got) > 0 {
					if want := vec.Dot(vecs[got[0].ID], qv); abs(got[0].Score-want) > 1e-4 {
						t.Fatalf("score %v, want the inner product %v", got[0].Score, want)
					}
				}
			}
			if hits > 0 && float64(recall)/float64(hits) < 0.95 {
				t.Fatalf("recall@10 %.3f against exact", float64(recall)/float64(hits))
			}
		})
	}
	// Vectors found by search are cached; one never seen is fetched.
	x2 := weaviate.NewIndex(col, dim, 0).Vectors()
	v, ok := x2.Vector("it-042")
	if !ok || !slices.Equal(v, vecs["it-042"]) {
		t.Fatalf("Vector(it-042) = %v, %v", v, ok)
	}
	if s, ok := x2.Similarity("it-042", vecs["it-042"]); !ok || abs(s-1) > 1e-5 {
		t.Fatalf("Similarity to itself = %v, %v", s, ok)
	}
	if _, ok := x2.Vector("missing"); ok {
		t.Fatal("Vector of a missing item found")
	}
}

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestCollection_TextSearch(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	items, vecs := testItems(100, 8, 2)
	items[5].Title = "Galactic Dragons Returning"
	col := newCollection(t, c, items, vecs, weaviate.Options{})
	tx := weaviate.NewIndex(col, 8, 0).Text()

	// Stemmed like the embedded index: "dragon" finds "Dragons".
	res, err := tx.Search(ctx, text.Query{Text: "galactic dragon return", K: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 || res.Hits[0].ID != items[5].ID {
		t.Fatalf("hits %v; want %s first", res.Hits, items[5].ID)
	}
	// Filters apply; words found in tags and categories too.
	res, err = tx.Search(ctx, text.Query{Text: "dragons", K: 100, Filter: text.Filter{Tags: []string{"odd"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) == 0 {
		t.Fatal("no hits")
	}
	for _, h := range res.Hits {
		var it *content.Item
		for i := range items {
			if items[i].ID == h.ID {
				it = &items[i]
			}
		}
		if it.Tags[0] != "odd" || !strings.Contains(strings.ToLower(it.Title+it.Description), "dragon") {
			t.Fatalf("hit %s (%q, %v) fails the query", h.ID, it.Title, it.Tags)
		}
	}
	// Stop words alone match nothing; blank text browses in id order.
	if res, err := tx.Search(ctx, text.Query{Text: "the of", K: 5}); err != nil || len(res.Hits) != 0 {
		t.Fatalf("stop words: %v, %v", res.Hits, err)
	}
	res, err = tx.Search(ctx, text.Query{K: 3, Offset: 2, Filter: text.Filter{Categories: []string{"cat3"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{res.Hits[0].ID, res.Hits[1].ID, res.Hits[2].ID}; !slices.Equal(got, []string{"it-011", "it-015", "it-019"}) {
		t.Fatalf("browse = %v", got)
	}
	// Bad queries are refused as the embedded index refuses them.
	if _, err := tx.Search(ctx, text.Query{Text: "x", K: 0}); !errors.Is(err, text.ErrInvalidQuery) {
		t.Fatalf("K 0: %v", err)
	}
}

// BM25's top k are the k best: with many items matching, a short field
// holding the word outscores a long one, whatever the order of writes.
// (Weaviate's block-max WAND, its default, fails this; the test cluster
// runs with USE_INVERTED_SEARCHABLE=false.)
func TestCollection_TextTopK(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	var items []content.Item
	vecs := map[string][]float32{}
	for i := range 400 {
		it := content.Item{ID: fmt.Sprintf("long-%03d", i), Title: "x", Categories: []string{"Sci-Fi", "Drama", "Horror", "Thriller"}}
		if i%20 == 7 {
			it.ID, it.Categories = fmt.Sprintf("short-%03d", i), []string{"Sci-Fi"}
		}
		items = append(items, it)
		vecs[it.ID] = []float32{1, 0}
	}
	col := newCollection(t, c, items, vecs, weaviate.Options{})
	res, err := weaviate.NewIndex(col, 2, 0).Text().Search(ctx, text.Query{Text: "sci-fi", K: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range res.Hits {
		if !strings.HasPrefix(h.ID, "short-") {
			t.Fatalf("hit %d is %s (score %.3f), want the 20 short ones first: %v", i, h.ID, h.Score, res.Hits)
		}
	}
}

func TestCollection_Edits(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	items, vecs := testItems(20, 8, 3)
	col := newCollection(t, c, items, vecs, weaviate.Options{Replicas: 3})
	x := weaviate.NewIndex(col, 8, 0)
	vx, tx := x.Vectors(), x.Text()

	// A new item with an attribute key the collection has not seen.
	it := content.Item{ID: "new-1", Title: "Submarine Cartography", Attributes: map[string]content.Value{"pages ü": content.Number(300)}}
	v := make([]float32, 8)
	v[0] = 1
	if err := vx.PutItem(ctx, it, v); err != nil {
		t.Fatal(err)
	}
	// A search is answered by one replica's index, which can show an
	// acknowledged write a moment late (docs/ARCHITECTURE.md): each check
	// after a write is given up to five seconds.
	lo := 250.0
	settled(t, "new item by words and new attribute", func() (bool, string) {
		res, err := tx.Search(ctx, text.Query{Text: "submarine", K: 5, Filter: text.Filter{Ranges: []text.Range{{Attribute: "pages ü", Min: &lo}}}})
		return err == nil && len(res.Hits) == 1 && res.Hits[0].ID == "new-1", fmt.Sprint(res, err)
	})
	// Rewritten: the old words no longer find it, the new ones do.
	it.Title = "Volcano Atlas"
	if err := vx.PutItem(ctx, it, v); err != nil {
		t.Fatal(err)
	}
	settled(t, "old words no longer match", func() (bool, string) {
		res, err := tx.Search(ctx, text.Query{Text: "submarine", K: 5})
		return err == nil && len(res.Hits) == 0, fmt.Sprint(res, err)
	})
	settled(t, "new words match", func() (bool, string) {
		res, err := tx.Search(ctx, text.Query{Text: "volcano", K: 5})
		return err == nil && len(res.Hits) == 1, fmt.Sprint(res, err)
	})
	// Deleted: gone from both sides; deleting again is no error.
	if err := vx.DeleteItem(ctx, "new-1"); err != nil {
		t.Fatal(err)
	}
	if err := vx.DeleteItem(ctx, "new-1"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	settled(t, "deleted item gone", func() (bool, string) {
		got, err := vx.Search(ctx, v, 30, nil)
		return err == nil && !slices.Contains(ids(got), "new-1") && len(got) == len(items), fmt.Sprint(ids(got), err)
	})
	if _, ok := vx.Vector("new-1"); ok {
		t.Fatal("deleted item's vector still found")
	}
	// Bad vectors change nothing.
	if err := vx.PutItem(ctx, it, make([]float32, 8)); !errors.Is(err, index.ErrZeroVector) {
		t.Fatalf("zero vector: %v", err)
	}
	if err := vx.PutItem(ctx, it, make([]float32, 3)); !errors.Is(err, index.ErrDimension) {
		t.Fatalf("short vector: %v", err)
	}
	settled(t, "count after bad writes", func() (bool, string) {
		n, err := col.Count(ctx)
		return err == nil && n == len(items), fmt.Sprintf("count %d, %v; want %d", n, err, len(items))
	})
}

// settled fails the test unless check holds within five seconds; last
// says what it saw.
func settled(t *testing.T, what string, check func() (ok bool, last string)) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var ok bool
		if ok, last = check(); ok {
			return
		}
	}
	t.Fatalf("%s: not within 5 s; last saw %s", what, last)
}

func TestClient_Collections(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	items, vecs := testItems(5, 4, 4)
	col := newCollection(t, c, items, vecs, weaviate.Options{})
	names, err := c.Collections(ctx)
	if err != nil || !slices.Contains(names, col.Name()) {
		t.Fatalf("Collections = %v, %v; want %s among them", names, err, col.Name())
	}
	if _, err := c.Collection(ctx, "Duet_missing"); !errors.Is(err, weaviate.ErrNoCollection) {
		t.Fatalf("missing collection: %v", err)
	}
	if _, err := c.Create(ctx, col.Name(), items, weaviate.Options{}); !errors.Is(err, weaviate.ErrRejected) {
		t.Fatalf("creating it again: %v", err)
	}
	if _, err := c.Create(ctx, "bad name", items, weaviate.Options{}); !errors.Is(err, weaviate.ErrRejected) {
		t.Fatalf("bad name: %v", err)
	}
	if err := c.Drop(ctx, col.Name()); err != nil {
		t.Fatal(err)
	}
	if err := c.Drop(ctx, col.Name()); err != nil {
		t.Fatalf("dropping it again: %v", err)
	}
	// Searches of a collection gone fail; they do not answer nothing.
	x := weaviate.NewIndex(col, 4, 0)
	if _, err := x.Text().Search(ctx, text.Query{Text: "space", K: 1}); err == nil {
		t.Fatal("text search of a dropped collection: no error")
	}
	if _, err := x.Vectors().Search(ctx, vecs[items[0].ID], 1, nil); err == nil {
		t.Fatal("vector search of a dropped collection: no error")
	}
	// A cluster that does not answer.
	dead, _ := weaviate.Open("weaviate://127.0.0.1:1")
	if err := dead.Ping(ctx); !errors.Is(err, weaviate.ErrUnavailable) {
		t.Fatalf("dead cluster: %v", err)
	}
}

// A node that stalls (stopped where it is: its connections hang) does not
// stall a search's reads: each goes on to the next node after a moment
// and answers as the whole cluster does, whichever node it tries first.
func TestClient_StalledNodeReads(t *testing.T) {
	cl := weaviatetest.Shared(t)
	c := client(t)
	ctx := context.Background()
	const dim = 8
	items, vecs := testItems(200, dim, 3)
	items[7].Title = "Quixotic Lanterns"
	col := newCollection(t, c, items, vecs, weaviate.Options{Shards: 2, Replicas: 3})
	x := weaviate.NewIndex(col, dim, 0)
	q := vecs[items[11].ID]
	wantNear := exact(items, vecs, q, 5, nil)
	// A search is answered from one replica's index, which takes the
	// objects a moment after the write: wait until every node's does.
	for deadline := time.Now().Add(20 * time.Second); ; {
		agreed := 0
		for range len(cl.Nodes) {
			near, err := x.Vectors().Search(ctx, q, 5, nil)
			res, err2 := x.Text().Search(ctx, text.Query{Text: "quixotic", K: 3})
			if err == nil && err2 == nil && slices.Equal(ids(near), wantNear) && len(res.Hits) > 0 && res.Hits[0].ID == items[7].ID {
				agreed++
			}
		}
		if agreed == len(cl.Nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the collection's searches do not settle on the exact answer")
		}
		time.Sleep(200 * time.Millisecond)
	}
	for node := range cl.Nodes {
		if err := cl.PauseNode(node); err != nil {
			t.Fatal(err)
		}
		func() {
			defer cl.ResumeNode(node)
			var slowest time.Duration
			defer func() { t.Logf("node %d stalled: three reads in at most %v", node, slowest) }()
			// As many rounds as nodes: every node is tried first once.
			for range len(cl.Nodes) {
				start := time.Now()
				res, err := x.Text().Search(ctx, text.Query{Text: "quixotic", K: 3})
				if err != nil || len(res.Hits) == 0 || res.Hits[0].ID != items[7].ID {
					t.Fatalf("node %d stalled: text search %v, %v", node, res.Hits, err)
				}
				near, err := x.Vectors().Search(ctx, q, 5, nil)
				if err != nil || !slices.Equal(ids(near), wantNear) {
					t.Fatalf("node %d stalled: near-vector %v, %v; want %v", node, ids(near), err, wantNear)
				}
				got, err := col.Vectors(ctx, []string{items[3].ID, items[4].ID})
				if err != nil || !slices.Equal(got[items[3].ID], vecs[items[3].ID]) || !slices.Equal(got[items[4].ID], vecs[items[4].ID]) {
					t.Fatalf("node %d stalled: vectors %v, %v", node, got, err)
				}
				// A stall costs a read the hedge's wait, not the
				// attempt's 10 s timeout (generous for a loaded machine).
				// (Schema reads are not on a search's path: they go
				// through the Raft leader and wait while it stalls.)
				d := time.Since(start)
				slowest = max(slowest, d)
				if d > 4*time.Second {
					t.Fatalf("node %d stalled: three reads took %v", node, d)
				}
			}
			if !weaviate.ReadsWeak(c) {
				t.Fatalf("node %d stalled: reads still ask QUORUM", node)
			}
		}()
	}
	// The stall over, a read asks QUORUM again once the weak spell ends,
	// and its answer ends the spell.
	for deadline := time.Now().Add(20 * time.Second); weaviate.ReadsWeak(c); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("reads still ask ONE 20 s after every node is back")
		}
		if _, err := x.Vectors().Search(ctx, q, 5, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// wordyItems makes n items whose words are drawn unevenly from a
// vocabulary of 300 (a few common, many rare), titles of one to four
// words, descriptions of none to twenty, up to five tags: fields of many
// lengths, where Weaviate's BM25 and the embedded index's part ways.
func wordyItems(n int, seed uint64) ([]content.Item, map[string][]float32) {
	r := rand.New(rand.NewPCG(seed, 2))
	word := func() string { return fmt.Sprintf("w%d", int(300*r.Float64()*r.Float64()*r.Float64())) }
	words := func(lo, hi int) []string {
		out := make([]string, lo+r.IntN(hi-lo+1))
		for i := range out {
			out[i] = word()
		}
		return out
	}
	items := make([]content.Item, n)
	vecs := map[string][]float32{}
	for i := range items {
		id := fmt.Sprintf("it-%03d", i)
		items[i] = content.Item{ID: id, Title: strings.Join(words(1, 4), " "), Description: strings.Join(words(0, 20), " "),
			Tags: words(0, 5), Categories: []string{fmt.Sprintf("cat%d", i%3)}}
		v := []float32{float32(r.NormFloat64()), float32(r.NormFloat64()), 1}
		vec.Normalize(v)
		vecs[id] = v
	}
	return items, vecs
}

// TestText_RanksAsEmbedded holds the text side, given its items'
// statistics, to the embedded index's ranking over the same items: the
// same scores in the same order (items tied on a score may come in another
// order), for queries of one to three words, with a filter and a page
// offset, with the last word cut or mistyped (Prefix, Typos), and after
// edits and deletions.
func TestText_RanksAsEmbedded(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	items, vecs := wordyItems(500, 3)
	col := newCollection(t, c, items, vecs, weaviate.Options{})
	x := weaviate.NewIndex(col, 3, 0)
	stats := text.NewStats()
	for i := range items {
		if err := stats.Replace(nil, &items[i]); err != nil {
			t.Fatal(err)
		}
	}
	x.ScoreWith(stats)
	emb, err := text.Open(ctx, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	if err := emb.IndexBatch(ctx, items); err != nil {
		t.Fatal(err)
	}

	r := rand.New(rand.NewPCG(4, 4))
	// After deletions the embedded index's dictionary still counts the
	// deleted items in a segment's counts (Bleve's), which weigh its
	// completions and order its corrections, where the statistics count
	// the items there are: edited, words are matched as typed.
	compare := func(t *testing.T, live []content.Item, typing bool) {
		t.Helper()
		if err := emb.Compact(ctx); err != nil { // as a built snapshot's: one segment
			t.Fatal(err)
		}
		for i := range 40 {
			var q []string
			for range 1 + i%3 {
				it := &live[r.IntN(len(live))]
				pool := strings.Fields(it.Title + " " + strings.Join(it.Tags, " "))
				q = append(q, pool[r.IntN(len(pool))])
			}
			query := text.Query{Text: strings.Join(q, " "), K: 10}
			if typing && i%3 == 0 {
				// As a search box asks: the last word cut, or mistyped.
				query.Prefix, query.Typos = true, text.Typos{One: 2, Two: 4}
				w := []rune(q[len(q)-1])
				if i%2 == 0 && len(w) > 2 {
					w = w[:len(w)-1]
				} else {
					w[0] = 'v'
				}
				q[len(q)-1] = string(w)
				query.Text = strings.Join(q, " ")
			}
			if i%4 == 1 {
				query.Filter.Categories = []string{"cat1"}
			}
			if i%5 == 2 {
				query.Offset = 5
			}
			want, err := emb.Search(ctx, query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := x.Text().Search(ctx, query)
			if err != nil {
				t.Fatal(err)
			}
			all := query
			all.K, all.Offset = text.MaxK, 0
			every, err := emb.Search(ctx, all)
			if err != nil {
				t.Fatal(err)
			}
			embScore := map[string]float64{}
			for _, h := range every.Hits {
				embScore[h.ID] = h.Score
			}
			close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(a, b) }
			if len(got.Hits) != len(want.Hits) {
				t.Fatalf("query %+v: %d hits, embedded %d", query, len(got.Hits), len(want.Hits))
			}
			for j, h := range got.Hits {
				if !close(h.Score, want.Hits[j].Score) || !close(h.Score, embScore[h.ID]) {
					t.Fatalf("query %q (filter %v, offset %d): hit %d is %s at %v (embedded: %v there, %s at %v)",
						query.Text, query.Filter.Categories, query.Offset, j, h.ID, h.Score, embScore[h.ID], want.Hits[j].ID, want.Hits[j].Score)
				}
			}
		}
	}
	t.Run("built", func(t *testing.T) { compare(t, items, true) })

	live := slices.Clone(items)
	for i := 0; i < len(live); i += 9 {
		old := live[i]
		it := live[(i+4)%len(live)]
		it.ID = old.ID
		if err := x.Vectors().PutItem(ctx, it, vecs[it.ID]); err != nil {
			t.Fatal(err)
		}
		if err := x.Text().ItemChanged(&old, &it); err != nil {
			t.Fatal(err)
		}
		if err := emb.Upsert(ctx, it); err != nil {
			t.Fatal(err)
		}
		live[i] = it
	}
	var kept []content.Item
	for i, it := range live {
		if i%11 != 5 {
			kept = append(kept, it)
			continue
		}
		if err := x.Vectors().DeleteItem(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
		if err := x.Text().ItemChanged(&it, nil); err != nil {
			t.Fatal(err)
		}
		if err := emb.Delete(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("edited", func(t *testing.T) { compare(t, kept, false) })
}
