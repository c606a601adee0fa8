package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

// The postings' contract, checked here against a brute force over the
// catalog: for listable filters f, listed(plan(f)) holds every item of the
// catalog f.match passes (and maybe others), only ids of items in the
// catalog, none twice, and plan's count is at least the matches and the
// ids listed.

const (
	postCats = 12
	postTags = 20
)

// postGen makes random items and filters over a small vocabulary, so that
// filters match some items and numbers fall on range bounds.
type postGen struct{ r *rand.Rand }

func newPostGen(seed uint64) *postGen {
	return &postGen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *postGen) item(id string) content.Item {
	r := g.r
	it := content.Item{ID: id, Attributes: map[string]content.Value{}}
	for range r.IntN(3) { // may repeat a category
		it.Categories = append(it.Categories, fmt.Sprintf("c%d", r.IntN(postCats)))
	}
	for range r.IntN(4) {
		it.Tags = append(it.Tags, fmt.Sprintf("t%d", r.IntN(postTags)))
	}
	switch x := r.IntN(10); {
	case x < 8:
		it.Attributes["price"] = content.Number(g.price())
	case x < 9:
		it.Attributes["price"] = content.String("cheap")
	}
	if r.IntN(2) == 0 {
		it.Attributes["year"] = content.Number(float64(1990 + r.IntN(35)))
	}
	if r.IntN(3) == 0 {
		it.Attributes["lang"] = content.String([]string{"en", "fr", "de"}[r.IntN(3)])
	}
	return it
}

func (g *postGen) price() float64 {
	switch x := g.r.IntN(20); {
	case x == 0:
		return math.Copysign(0, -1)
	case x == 1:
		return -float64(g.r.IntN(50))
	case x == 2:
		return float64(g.r.IntN(1000)) + 0.5
	default:
		return float64(g.r.IntN(200))
	}
}

func (g *postGen) pick(prefix string, n, k int) []string {
	out := make([]string, 0, k)
	for range k {
		out = append(out, fmt.Sprintf("%s%d", prefix, g.r.IntN(n)))
	}
	if g.r.IntN(5) == 0 {
		out = append(out, prefix+"-none") // a value no item holds
	}
	return out
}

func postF64(v float64) *float64 { return &v }

// numFilter is a numeric test on price or year: only Min, only Max, both,
// or Equals (sometimes with bounds too).
func (g *postGen) numFilter() AttrFilter {
	r := g.r
	key, lo, width := "price", -10, 210
	if r.IntN(3) == 0 {
		key, lo, width = "year", 1988, 40
	}
	a := AttrFilter{Key: key}
	x := float64(lo + r.IntN(width))
	switch r.IntN(5) {
	case 0:
		a.Min = postF64(x)
	case 1:
		a.Max = postF64(x)
	case 2, 3:
		a.Min, a.Max = postF64(x), postF64(x+float64(r.IntN(width/4)))
	case 4:
		v := content.Number(x)
		a.Equals = &v
		if r.IntN(2) == 0 {
			a.Min = postF64(x - 5)
		}
	}
	return a
}

func (g *postGen) filter() Filters {
	r := g.r
	var f Filters
	switch r.IntN(8) {
	case 0:
		f.Categories = g.pick("c", postCats, 1)
	case 1:
		f.Categories = g.pick("c", postCats, 2+r.IntN(2))
	case 2:
		f.Tags = g.pick("t", postTags, 1+r.IntN(3))
	case 3:
		f.Categories, f.Tags = g.pick("c", postCats, 1+r.IntN(2)), g.pick("t", postTags, 1+r.IntN(3))
	case 4, 5:
		f.Attributes = []AttrFilter{g.numFilter()}
	case 6:
		f.Categories, f.Attributes = g.pick("c", postCats, 1+r.IntN(3)), []AttrFilter{g.numFilter()}
	case 7:
		f.Attributes = []AttrFilter{g.numFilter(), g.numFilter()}
	}
	if r.IntN(3) == 0 { // a string equality, which the postings do not list
		v := content.String([]string{"en", "fr", "de"}[r.IntN(3)])
		f.Attributes = append(f.Attributes, AttrFilter{Key: "lang", Equals: &v})
	}
	return f
}

func showPostFilters(f Filters) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cats %v tags %v", f.Categories, f.Tags)
	for _, a := range f.Attributes {
		fmt.Fprintf(&b, " [%s", a.Key)
		if a.Equals != nil {
			fmt.Fprintf(&b, " = %#v", a.Equals.String())
			if a.Equals.IsNum {
				b.WriteString(" (num)")
			}
		}
		if a.Min != nil {
			fmt.Fprintf(&b, " >= %v", *a.Min)
		}
		if a.Max != nil {
			fmt.Fprintf(&b, " <= %v", *a.Max)
		}
		b.WriteString("]")
	}
	return b.String()
}

// showPostSlot tells where the postings hold id's item, to explain a miss.
func showPostSlot(c *Catalog, id string) string {
	e := c.items[id]
	var b strings.Builder
	fmt.Fprintf(&b, "item %+v in slot %d;", *e.it, e.slot)
	for k, np := range c.postings().nums {
		var vals []float64
		for _, se := range np.sorted {
			if se.slot == e.slot {
				vals = append(vals, se.v)
			}
		}
		fmt.Fprintf(&b, " %s: sorted %v edited %v;", k, vals, np.edited.Contains(e.slot))
	}
	return b.String()
}

// checkPostListed checks the contract for f on c, and returns the count plan
// gave and the ids listed.
func checkPostListed(t *testing.T, c *Catalog, f Filters, where string) (int, []string) {
	t.Helper()
	return checkPostListedIn(t, c, postSnapshotOf(c), f, where)
}

// postSnapshot is the items of a catalog, for checks of many filters.
type postSnapshot struct {
	items []*content.Item
	in    map[string]bool
}

func postSnapshotOf(c *Catalog) postSnapshot {
	s := postSnapshot{in: map[string]bool{}}
	for it := range c.All() {
		s.items = append(s.items, it)
		s.in[it.ID] = true
	}
	return s
}

func checkPostListedIn(t *testing.T, c *Catalog, snap postSnapshot, f Filters, where string) (int, []string) {
	t.Helper()
	if !f.listable() {
		t.Fatalf("%s: %s: not listable", where, showPostFilters(f))
	}
	l, n := c.plan(&f)
	var ids []string
	for _, it := range c.listed(l, &f, nil) {
		ids = append(ids, it.id)
	}
	inCat := snap.in
	var matches []string
	for _, it := range snap.items {
		if f.match(it) {
			matches = append(matches, it.ID)
		}
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s: %s: %s listed twice", where, showPostFilters(f), id)
		}
		seen[id] = true
		if !inCat[id] {
			t.Fatalf("%s: %s: lists %s, which the catalog does not hold", where, showPostFilters(f), id)
		}
	}
	for _, id := range matches {
		if !seen[id] {
			t.Fatalf("%s: %s: %d matches, %d listed (n %d), misses %s: %s",
				where, showPostFilters(f), len(matches), len(ids), n, id, showPostSlot(c, id))
		}
	}
	if n < len(matches) || n < len(ids) {
		t.Fatalf("%s: %s: n %d, below %d matches or %d listed", where, showPostFilters(f), n, len(matches), len(ids))
	}
	// Exactly the matches, each with its slot.
	exact := c.listed(l, &f, nil)
	if len(exact) != len(matches) {
		t.Fatalf("%s: %s: %d listed, want the %d matches", where, showPostFilters(f), len(exact), len(matches))
	}
	for _, it := range exact {
		if e := c.items[it.id]; e.slot != uint32(it.slot) || !f.match(e.it) {
			t.Fatalf("%s: %s: %s listed with slot %d, holds slot %d (matches %t)", where, showPostFilters(f), it.id, it.slot, e.slot, f.match(e.it))
		}
	}
	return n, ids
}

// checkPostNone checks that filters on values no item holds list nothing.
func checkPostNone(t *testing.T, c *Catalog, where string) {
	t.Helper()
	snap := postSnapshotOf(c)
	for _, f := range []Filters{
		{Categories: []string{"c-none"}},
		{Tags: []string{"t-none"}},
		{Categories: []string{"c-none", "c-none2"}, Tags: []string{"t-none"}},
		{Categories: []string{"c-none"}, Attributes: []AttrFilter{{Key: "price", Min: postF64(0)}}},
		{Attributes: []AttrFilter{{Key: "no-such-key", Min: postF64(0), Max: postF64(10)}}},
	} {
		if n, ids := checkPostListedIn(t, c, snap, f, where); n != 0 || len(ids) != 0 {
			t.Fatalf("%s: %s: n %d, listed %v; want nothing", where, showPostFilters(f), n, ids)
		}
	}
}

// postIDs is a set of ids that can pick one at random.
type postIDs struct {
	list []string
	at   map[string]int
}

func (s *postIDs) add(id string) {
	if s.at == nil {
		s.at = map[string]int{}
	}
	if _, ok := s.at[id]; !ok {
		s.at[id] = len(s.list)
		s.list = append(s.list, id)
	}
}

func (s *postIDs) remove(id string) {
	i, ok := s.at[id]
	if !ok {
		return
	}
	last := s.list[len(s.list)-1]
	s.list[i], s.at[last] = last, i
	s.list = s.list[:len(s.list)-1]
	delete(s.at, id)
}

func (s *postIDs) random(r *rand.Rand) string { return s.list[r.IntN(len(s.list))] }

func clonePostItem(it content.Item) content.Item {
	it.Categories, it.Tags = slices.Clone(it.Categories), slices.Clone(it.Tags)
	attrs := make(map[string]content.Value, len(it.Attributes))
	for k, v := range it.Attributes {
		attrs[k] = v
	}
	it.Attributes = attrs
	return it
}

// postChunks returns n distinct items in chunks of random sizes (one
// empty), with repeats more of their ids, within a chunk and across
// chunks, each a different item that must replace the earlier.
func postChunks(g *postGen, n, repeats int) [][]content.Item {
	var all []content.Item
	for i := range n {
		all = append(all, g.item(fmt.Sprintf("i%d", i)))
	}
	for range repeats {
		// Insert the repeat after the first: later in the same chunk or in
		// a later one.
		j := g.r.IntN(len(all))
		pos := j + 1 + g.r.IntN(min(len(all)-j, 40))
		if g.r.IntN(2) == 0 {
			pos = j + 1 + g.r.IntN(len(all)-j)
		}
		all = slices.Insert(all, pos, g.item(all[j].ID))
	}
	var chunks [][]content.Item
	for len(all) > 0 {
		k := min(len(all), 1+g.r.IntN(300))
		chunks = append(chunks, all[:k:k])
		all = all[k:]
		if len(chunks) == 2 {
			chunks = append(chunks, nil)
		}
	}
	return chunks
}

// merges counts the merges of key's numbers seen as drops in the number
// of edited slots.
type postMerges struct {
	key  string
	last uint64
	n    int
}

func (m *postMerges) observe(c *Catalog) {
	np := c.postings().nums[m.key]
	if np == nil {
		return
	}
	card := np.edited.GetCardinality()
	if card < m.last {
		m.n++
	}
	m.last = card
}

// TestPostings_ListsEveryMatch loads a catalog both ways (NewCatalogOf,
// with repeated ids, and Put), applies a few thousand random edits to
// both, enough on price to merge its edits several times, and checks the
// listings of random filters against a brute force every few hundred.
func TestPostings_ListsEveryMatch(t *testing.T) {
	for _, tc := range []struct {
		seed    uint64
		repeats int // ids repeated in the bulk load
	}{
		{1, 120},
		{2, 400}, // past the 256 edited slots that merge during the load
	} {
		t.Run(fmt.Sprintf("seed%d_repeats%d", tc.seed, tc.repeats), func(t *testing.T) { testListsEveryMatch(t, tc.seed, tc.repeats) })
	}
}

func testListsEveryMatch(t *testing.T, seed uint64, repeats int) {
	g := newPostGen(seed)
	const n = 1500
	chunks := postChunks(g, n, repeats)

	bulk := NewCatalogOf(chunks, map[string]float64{})
	byPut := NewCatalog()
	for _, items := range chunks {
		for _, it := range items {
			byPut.Put(it)
		}
	}
	cats := []struct {
		name string
		c    *Catalog
		m    postMerges
	}{{"bulk", bulk, postMerges{key: "price"}}, {"put", byPut, postMerges{key: "price"}}}
	if bulk.Len() != n || byPut.Len() != n {
		t.Fatalf("%d and %d items, want %d", bulk.Len(), byPut.Len(), n)
	}
	// The later of two items with one id stands, in place.
	last := map[string]*content.Item{}
	for _, items := range chunks {
		for i := range items {
			last[items[i].ID] = &items[i]
		}
	}
	for id, want := range last {
		if it, _ := bulk.Item(id); it != want {
			t.Fatalf("bulk holds %+v under %s, want the later %+v", it, id, want)
		}
	}
	var live, gone postIDs
	for i := range n {
		live.add(fmt.Sprintf("i%d", i))
	}
	check := func(step int) {
		t.Helper()
		fr := newPostGen(seed*1000 + uint64(step))
		for _, cc := range cats {
			where := fmt.Sprintf("%s after %d edits", cc.name, step)
			if cc.c.Len() != len(live.list) {
				t.Fatalf("%s: %d items, want %d", where, cc.c.Len(), len(live.list))
			}
			snap := postSnapshotOf(cc.c)
			for range 24 {
				checkPostListedIn(t, cc.c, snap, fr.filter(), where)
			}
			checkPostNone(t, cc.c, where)
		}
	}
	check(0)

	next := n
	put := func(it content.Item) {
		for i := range cats {
			cats[i].c.Put(it)
			cats[i].m.observe(cats[i].c)
		}
		live.add(it.ID)
		gone.remove(it.ID)
	}
	const edits = 4000
	for step := 1; step <= edits; step++ {
		r := g.r
		switch x := r.IntN(20); {
		case x < 5 || len(live.list) < 100: // a new item
			put(g.item(fmt.Sprintf("i%d", next)))
			next++
		case x < 9: // another item under an id
			put(g.item(live.random(r)))
		case x < 13: // the same item, its price moved
			it, _ := bulk.Item(live.random(r))
			c := clonePostItem(*it)
			c.Attributes["price"] = content.Number(g.price())
			put(c)
		case x < 14: // price from number to string and back
			it, _ := bulk.Item(live.random(r))
			c := clonePostItem(*it)
			if v, ok := c.Attributes["price"]; ok && v.IsNum {
				c.Attributes["price"] = content.String(v.String())
			} else {
				c.Attributes["price"] = content.Number(g.price())
			}
			put(c)
		case x < 18: // delete
			id := live.random(r)
			for i := range cats {
				cats[i].c.Delete(id)
				cats[i].m.observe(cats[i].c)
			}
			live.remove(id)
			gone.add(id)
		default: // back after a delete
			if len(gone.list) == 0 {
				continue
			}
			put(g.item(gone.random(r)))
		}
		if step%400 == 0 {
			check(step)
		}
	}
	for _, cc := range cats {
		t.Logf("%s: price merged %d times", cc.name, cc.m.n)
		if cc.m.n < 3 {
			t.Errorf("%s: price merged %d times, want several", cc.name, cc.m.n)
		}
	}
}

// TestPostings_BulkLoadRepeats loads more repeated ids than the merge
// threshold (256 edited slots), each repeat with another number: the
// edits of the bulk load must not be lost when it sorts its numbers.
func TestPostings_BulkLoadRepeats(t *testing.T) {
	for _, repeats := range []int{10, 256, 257, 300, 700} {
		t.Run(fmt.Sprint(repeats), func(t *testing.T) {
			first := make([]content.Item, 1000)
			for i := range first {
				first[i] = content.Item{ID: fmt.Sprintf("d%d", i), Categories: []string{"old"},
					Attributes: map[string]content.Value{"price": content.Number(1)}}
			}
			var later []content.Item
			for i := range repeats {
				later = append(later, content.Item{ID: fmt.Sprintf("d%d", i), Categories: []string{"new"},
					Attributes: map[string]content.Value{"price": content.Number(2)}})
			}
			c := NewCatalogOf([][]content.Item{first, later}, map[string]float64{})
			for _, f := range []Filters{
				{Categories: []string{"new"}},
				{Categories: []string{"old"}},
				{Attributes: []AttrFilter{{Key: "price", Min: postF64(2)}}},
				{Attributes: []AttrFilter{{Key: "price", Max: postF64(1)}}},
				{Attributes: []AttrFilter{{Key: "price", Equals: &content.Value{Num: 2, IsNum: true}}}},
			} {
				checkPostListed(t, c, f, fmt.Sprintf("%d repeats", repeats))
			}
		})
	}
}

// TestPostings_PlansSmallestPart checks which part of the filters plan
// lists and its count, on a catalog whose parts have known sizes.
func TestPostings_PlansSmallestPart(t *testing.T) {
	// Item i: price i; year 2000 + i%10; in "big" when i < 50, also in
	// "small" when i < 3; tagged "common" when i < 100, "mid" when 40 <= i
	// < 60.
	const size = 400
	items := make([]content.Item, size)
	for i := range items {
		it := content.Item{ID: fmt.Sprintf("s%d", i), Attributes: map[string]content.Value{
			"price": content.Number(float64(i)),
			"year":  content.Number(float64(2000 + i%10)),
			"lang":  content.String("en"),
		}}
		if i < 50 {
			it.Categories = append(it.Categories, "big")
		}
		if i < 3 {
			it.Categories = append(it.Categories, "small")
		}
		if i < 100 {
			it.Tags = append(it.Tags, "common")
		}
		if 40 <= i && i < 60 {
			it.Tags = append(it.Tags, "mid")
		}
		items[i] = it
	}
	num := func(v float64) *content.Value { x := content.Number(v); return &x }
	en := content.String("en")
	price := func(lo, hi *float64) AttrFilter { return AttrFilter{Key: "price", Min: lo, Max: hi} }
	cases := []struct {
		name string
		f    Filters
		n    int
		key  string // the range listed; "" for categories and tags
	}{
		{"category", Filters{Categories: []string{"big"}}, 50, ""},
		{"two categories", Filters{Categories: []string{"big", "small"}}, 50, ""},
		{"range under category", Filters{Categories: []string{"big"}, Attributes: []AttrFilter{price(postF64(45), postF64(49))}}, 5, "price"},
		{"range outside category", Filters{Categories: []string{"big"}, Attributes: []AttrFilter{price(postF64(100), postF64(104))}}, 5, "price"},
		{"category under range", Filters{Categories: []string{"small"}, Attributes: []AttrFilter{price(postF64(0), postF64(399))}}, 3, ""},
		{"category and tag", Filters{Categories: []string{"big"}, Tags: []string{"mid"}}, 10, ""},
		{"category and tags", Filters{Categories: []string{"big"}, Tags: []string{"mid", "common"}}, 50, ""},
		{"category, tag and range", Filters{Categories: []string{"big"}, Tags: []string{"mid"}, Attributes: []AttrFilter{price(postF64(45), postF64(46))}}, 2, "price"},
		{"only min", Filters{Attributes: []AttrFilter{price(postF64(395), nil)}}, 5, "price"},
		{"only max", Filters{Attributes: []AttrFilter{price(nil, postF64(3))}}, 4, "price"},
		{"min between numbers", Filters{Attributes: []AttrFilter{price(postF64(394.5), nil)}}, 5, "price"},
		{"empty range", Filters{Attributes: []AttrFilter{price(postF64(10.2), postF64(10.8))}}, 0, "price"},
		{"equals", Filters{Attributes: []AttrFilter{{Key: "price", Equals: num(7)}}}, 1, "price"},
		{"equals and bounds", Filters{Attributes: []AttrFilter{{Key: "price", Equals: num(7), Min: postF64(0), Max: postF64(399)}}}, 1, "price"},
		{"two ranges", Filters{Attributes: []AttrFilter{price(postF64(0), postF64(99)), {Key: "year", Min: postF64(2001), Max: postF64(2002)}}}, 80, "year"},
		{"year equals", Filters{Attributes: []AttrFilter{price(postF64(0), postF64(99)), {Key: "year", Equals: num(2003)}}}, 40, "year"},
		{"string equals aside", Filters{Categories: []string{"big"}, Attributes: []AttrFilter{{Key: "lang", Equals: &en}}}, 50, ""},
		{"unknown category", Filters{Categories: []string{"nope"}, Attributes: []AttrFilter{price(postF64(0), nil)}}, 0, ""},
		{"unknown key", Filters{Categories: []string{"big"}, Attributes: []AttrFilter{{Key: "nope", Min: postF64(0)}}}, 0, "nope"},
	}
	c := NewCatalogOf([][]content.Item{items}, map[string]float64{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, n := c.plan(&tc.f)
			if n != tc.n || l.key != tc.key || (l.bits == nil) != (tc.key != "") {
				t.Errorf("%s: n %d, range %q (bits %v); want n %d, range %q", showPostFilters(tc.f), n, l.key, l.bits != nil, tc.n, tc.key)
			}
			// No edits since the bulk load: the listing is exact.
			if got := c.listed(l, &tc.f, nil); len(got) > tc.n {
				t.Errorf("%s: listed %d, more than n %d", showPostFilters(tc.f), len(got), tc.n)
			}
			checkPostListed(t, c, tc.f, "bulk")
		})
	}

	// Edits count against a range until they are merged.
	inRange := Filters{Categories: []string{"big"}, Attributes: []AttrFilter{price(postF64(45), postF64(49))}}
	edited := func() int { return int(c.postings().nums["price"].edited.GetCardinality()) }
	for i := range 20 {
		c.Put(content.Item{ID: fmt.Sprintf("n%d", i), Attributes: map[string]content.Value{"price": content.Number(float64(1000 + i))}})
	}
	l, n := c.plan(&inRange)
	if e := edited(); e != 20 || n > 5+e || l.key != "price" {
		t.Fatalf("20 edits: n %d, range %q, %d edited; want the range, n <= 25", n, l.key, e)
	}
	checkPostListed(t, c, inRange, "20 edits")
	for i := 20; i < 60; i++ {
		c.Put(content.Item{ID: fmt.Sprintf("n%d", i), Attributes: map[string]content.Value{"price": content.Number(float64(1000 + i))}})
	}
	// 5 + 60 listed by the range: the category's 50 are fewer.
	if l, n := c.plan(&inRange); n != 50 || l.bits == nil {
		t.Fatalf("60 edits: n %d, range %q; want the category's 50", n, l.key)
	}
	checkPostListed(t, c, inRange, "60 edits")
	// Past n/8+256 = 306 edited slots the edits are merged: the range is
	// exact again.
	for i := 60; i < 307; i++ {
		c.Put(content.Item{ID: fmt.Sprintf("n%d", i), Attributes: map[string]content.Value{"price": content.Number(float64(1000 + i))}})
	}
	if e := edited(); e != 0 {
		t.Fatalf("307 edits: %d edited, want them merged", e)
	}
	if l, n := c.plan(&inRange); n != 5 || l.key != "price" {
		t.Fatalf("merged: n %d, range %q; want the range's 5", n, l.key)
	}
	if _, got := checkPostListed(t, c, inRange, "merged"); len(got) != 5 {
		t.Fatalf("merged: listed %v, want 5", got)
	}
	// The moved numbers are found where they went.
	if n, got := checkPostListed(t, c, Filters{Attributes: []AttrFilter{price(postF64(1000), postF64(1009))}}, "merged"); n != 10 || len(got) != 10 {
		t.Fatalf("merged: 1000..1009: n %d, listed %v; want 10", n, got)
	}
}

// TestPostings_StringEqualsWithRange: a string equality and a range on
// one key pass no item; listable says the filters can be listed, so plan
// must still give a count of at least zero.
func TestPostings_StringEqualsWithRange(t *testing.T) {
	c := NewCatalogOf([][]content.Item{{
		{ID: "a", Attributes: map[string]content.Value{"price": content.Number(5)}},
		{ID: "b", Attributes: map[string]content.Value{"price": content.String("5")}},
	}}, map[string]float64{})
	s := content.String("5")
	f := Filters{Attributes: []AttrFilter{{Key: "price", Equals: &s, Min: postF64(0)}}}
	if err := f.validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if n, ids := checkPostListed(t, c, f, "string and range"); n != 0 || len(ids) != 0 {
		t.Fatalf("n %d, listed %v; want 0, nothing", n, ids)
	}
}

// TestPostings_DeleteAllReusesSlots deletes every item, checks that
// nothing is listed, and that items put back take the freed slots.
func TestPostings_DeleteAllReusesSlots(t *testing.T) {
	g := newPostGen(7)
	const n = 1500
	repeated := postChunks(g, n, 30)
	plain := postChunks(g, n, 0)
	byPut := NewCatalog()
	for _, items := range repeated {
		for _, it := range items {
			byPut.Put(it)
		}
	}
	for _, cc := range []struct {
		name string
		c    *Catalog
	}{
		{"bulk", NewCatalogOf(plain, map[string]float64{})},
		{"bulk with repeats", NewCatalogOf(repeated, map[string]float64{})},
		{"put", byPut},
	} {
		t.Run(cc.name, func(t *testing.T) {
			c := cc.c
			// A repeated id's earlier places in the chunks are free slots.
			slots := len(c.postings().slots)
			if slots-len(c.postings().free) != n {
				t.Fatalf("%d slots, %d free, for %d items", slots, len(c.postings().free), n)
			}
			var ids []string
			for it := range c.All() {
				ids = append(ids, it.ID)
			}
			g.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			for _, id := range ids {
				c.Delete(id)
			}
			c.Delete(ids[0]) // twice: nothing happens
			if c.Len() != 0 || len(c.postings().free) != slots {
				t.Fatalf("deleted all: %d items, %d free slots of %d", c.Len(), len(c.postings().free), slots)
			}
			if len(c.postings().cats) != 0 || len(c.postings().tags) != 0 {
				t.Fatalf("deleted all: %d category and %d tag postings left", len(c.postings().cats), len(c.postings().tags))
			}
			fr := newPostGen(8)
			snap := postSnapshotOf(c)
			for range 50 {
				f := fr.filter()
				n, listed := checkPostListedIn(t, c, snap, f, "deleted all")
				if len(listed) != 0 || len(f.Categories)+len(f.Tags) > 0 && n != 0 {
					t.Fatalf("deleted all: %s: n %d, listed %v", showPostFilters(f), n, listed)
				}
			}
			checkPostNone(t, c, "deleted all")

			// Put back as many items, old ids and new: no new slot.
			for i, id := range ids {
				if i%2 == 1 {
					id = "new" + id
				}
				c.Put(g.item(id))
			}
			if len(c.postings().slots) != slots || len(c.postings().free) != slots-n {
				t.Fatalf("put back: %d slots, %d free; want %d, %d", len(c.postings().slots), len(c.postings().free), slots, slots-n)
			}
			snap = postSnapshotOf(c)
			for range 30 {
				checkPostListedIn(t, c, snap, fr.filter(), "put back")
			}
			// Delete half and put it back, replace the other half: the
			// slots stay.
			all := c.Items()
			for round := range 3 {
				for i, it := range all {
					if i%2 == round%2 {
						c.Delete(it.ID)
					}
				}
				for _, it := range all {
					c.Put(g.item(it.ID))
				}
				if len(c.postings().slots) != slots || len(c.postings().free) != slots-n {
					t.Fatalf("round %d: %d slots, %d free; want %d, %d", round, len(c.postings().slots), len(c.postings().free), slots, slots-n)
				}
				where := fmt.Sprintf("round %d", round)
				snap := postSnapshotOf(c)
				for range 20 {
					checkPostListedIn(t, c, snap, fr.filter(), where)
				}
				checkPostNone(t, c, where)
			}
		})
	}
}

// TestPostings_SlotsFollowTheChunks checks that the items of a catalog
// made from chunks get the slots of their places in the chunks (what a
// snapshot's graph holds them at: the hints filters give), a replaced or
// deleted item's place left free, whatever was put or deleted before the
// postings were made.
func TestPostings_SlotsFollowTheChunks(t *testing.T) {
	item := func(id string) content.Item { return content.Item{ID: id, Categories: []string{"all"}} }
	chunks := [][]content.Item{{item("a"), item("b")}, {item("c"), item("d"), item("b")}}
	c := NewCatalogOf(chunks, map[string]float64{})
	c.Put(item("e"))
	c.Delete("c")
	f := Filters{Categories: []string{"all"}}
	l, n := c.plan(&f)
	got := map[string]int32{}
	for _, it := range c.listed(l, &f, nil) {
		got[it.id] = it.slot
	}
	if n != 4 || len(got) != 4 || got["a"] != 0 || got["d"] != 3 || got["b"] != 4 {
		t.Fatalf("n %d, slots %v; want a 0, d 3, b 4 and e in a free one", n, got)
	}
	if s := got["e"]; s != 1 && s != 2 {
		t.Errorf("e in slot %d, want a free one (1 or 2)", s)
	}
}
