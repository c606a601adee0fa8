package search

import (
	"iter"
	"sort"
	"sync"
	"time"

	"github.com/duetrec/duet/content"
)

// Catalog is the engine's in-memory view of the items: what filters test
// on vector candidates, what hits display, and how popular each item is.
// It is safe for concurrent use; items handed out must not be modified.
type Catalog struct {
	mu    sync.RWMutex
	items map[string]entry
	pop   map[string]float64
	nums  map[string]int // items holding a number under each attribute key
	keys  map[string]int // items holding each attribute key
	// post are the items by category, tag and number, for filters: made
	// the first time a filter asks (a catalog of a million items takes a
	// second, which a snapshot's load should not wait for), then kept up
	// to date. chunks are what NewCatalogOf was given: slots follow them.
	post   *postings
	chunks [][]content.Item

	rankMu   sync.Mutex
	ranked   []Scored // items by popularity, rebuilt when stale
	dirty    bool
	rankedAt time.Time
}

// popularityRefresh bounds how often a flood of events re-sorts the
// popularity ranking.
const popularityRefresh = time.Second

// NewCatalog returns an empty catalog.
func NewCatalog() *Catalog {
	return &Catalog{items: map[string]entry{}, pop: map[string]float64{}, nums: map[string]int{}, keys: map[string]int{}, dirty: true}
}

// entry is an item of the catalog and its slot in the postings.
type entry struct {
	it   *content.Item
	slot uint32
}

// NewCatalogOf returns a catalog of the items in chunks, each kept in
// place in its slice, with the popularity counts pop, which it keeps: a
// load of millions of items makes one map at its size and no copies. An
// id twice leaves the later item.
func NewCatalogOf(chunks [][]content.Item, pop map[string]float64) *Catalog {
	n := 0
	for _, items := range chunks {
		n += len(items)
	}
	c := NewCatalog()
	c.items, c.pop, c.chunks = make(map[string]entry, n), pop, chunks
	for _, items := range chunks {
		for i := range items {
			it := &items[i]
			c.count(c.items[it.ID].it, -1)
			c.items[it.ID] = entry{it: it}
			c.count(it, 1)
		}
	}
	return c
}

// postings returns the catalog's postings, made on first use.
func (c *Catalog) postings() *postings {
	c.mu.RLock()
	p := c.post
	c.mu.RUnlock()
	if p != nil {
		return p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.post == nil {
		c.post = c.makePostings()
	}
	return c.post
}

// makePostings indexes the items: those of the chunks still in the catalog
// in slots numbered by their place in the chunks, which is where a
// snapshot's graph holds them (the slots of replaced and deleted ones left
// free), then the items put since; c.mu is held.
func (c *Catalog) makePostings() *postings {
	n := 0
	for _, items := range c.chunks {
		n += len(items)
	}
	p := newPostings(n)
	b := p.bulk()
	for _, items := range c.chunks {
		for i := range items {
			it := &items[i]
			if e, ok := c.items[it.ID]; ok && e.it == it {
				c.items[it.ID] = b.add(it)
			} else {
				b.skip()
			}
		}
	}
	b.done()
	for id, e := range c.items {
		if int(e.slot) >= len(p.slots) || p.slots[e.slot] != e.it {
			c.items[id] = p.add(e.it)
		}
	}
	return p
}

// Put adds or replaces an item.
func (c *Catalog) Put(it content.Item) {
	c.mu.Lock()
	old, ok := c.items[it.ID]
	if ok {
		c.count(old.it, -1)
	}
	if c.post == nil {
		c.items[it.ID] = entry{it: &it}
	} else {
		if ok {
			c.post.remove(old)
		}
		c.items[it.ID] = c.post.add(&it)
	}
	c.count(&it, 1)
	c.mu.Unlock()
	c.markDirty()
}

// Delete removes an item; its popularity is kept should it come back.
func (c *Catalog) Delete(id string) {
	c.mu.Lock()
	if old, ok := c.items[id]; ok {
		c.count(old.it, -1)
		if c.post != nil {
			c.post.remove(old)
		}
		delete(c.items, id)
	}
	c.mu.Unlock()
	c.markDirty()
}

// count adds d to the number attribute counts of it's keys (it may be
// nil); c.mu is held.
func (c *Catalog) count(it *content.Item, d int) {
	if it == nil {
		return
	}
	for k, v := range it.Attributes {
		if c.keys[k] += d; c.keys[k] == 0 {
			delete(c.keys, k)
		}
		if v.IsNum {
			if c.nums[k] += d; c.nums[k] == 0 {
				delete(c.nums, k)
			}
		}
	}
}

// HasAttribute reports whether some item holds attribute key.
func (c *Catalog) HasAttribute(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.keys[key] > 0
}

// HasNumber reports whether some item holds a number under attribute key.
func (c *Catalog) HasNumber(key string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.nums[key] > 0
}

// Item returns an item by id.
func (c *Catalog) Item(id string) (*content.Item, bool) {
	c.mu.RLock()
	e, ok := c.items[id]
	c.mu.RUnlock()
	return e.it, ok
}

// Items returns every item, in id order.
func (c *Catalog) Items() []content.Item {
	c.mu.RLock()
	out := make([]content.Item, 0, len(c.items))
	for _, e := range c.items {
		out = append(out, *e.it)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// All yields every item, in no order, under the catalog's read lock: the
// loop's body must not write to the catalog.
func (c *Catalog) All() iter.Seq[*content.Item] {
	return func(yield func(*content.Item) bool) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		for _, e := range c.items {
			if !yield(e.it) {
				return
			}
		}
	}
}

// Len returns the number of items.
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// AddPopularity adds weight to an item's popularity.
func (c *Catalog) AddPopularity(id string, w float64) {
	c.mu.Lock()
	c.pop[id] += w
	c.mu.Unlock()
	c.markDirty()
}

func (c *Catalog) markDirty() {
	c.rankMu.Lock()
	c.dirty = true
	c.rankMu.Unlock()
}

// Popular returns up to n of the most popular items that allow accepts
// (nil accepts all), best first.
func (c *Catalog) Popular(n int, allow func(*content.Item) bool) []Scored {
	ranked := c.ranking()
	out := make([]Scored, 0, n)
	for _, s := range ranked {
		if len(out) == n {
			break
		}
		it, ok := c.Item(s.ID)
		if !ok || (allow != nil && !allow(it)) {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (c *Catalog) ranking() []Scored {
	c.rankMu.Lock()
	defer c.rankMu.Unlock()
	if c.ranked != nil && (!c.dirty || time.Since(c.rankedAt) < popularityRefresh) {
		return c.ranked
	}
	c.mu.RLock()
	ranked := make([]Scored, 0, len(c.items))
	for id := range c.items {
		ranked = append(ranked, Scored{ID: id, Score: c.pop[id]})
	}
	c.mu.RUnlock()
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].Score != ranked[j].Score {
			return ranked[i].Score > ranked[j].Score
		}
		return ranked[i].ID < ranked[j].ID
	})
	c.ranked, c.dirty, c.rankedAt = ranked, false, time.Now()
	return ranked
}

// plan returns the part of f the postings list with the fewest items and
// how many it lists; f must be listable.
func (c *Catalog) plan(f *Filters) (listing, int) {
	p := c.postings()
	c.mu.RLock()
	defer c.mu.RUnlock()
	return p.plan(f)
}

// listed returns the items l, the listing of f, lists that pass f and are
// not in exclude.
func (c *Catalog) listed(l listing, f *Filters, exclude map[string]bool) []listedItem {
	p := c.postings()
	c.mu.RLock()
	defer c.mu.RUnlock()
	return p.items(l, f, exclude)
}

// slotted returns an item by id with its slot once the postings are made
// (-1 before: a slot is only a hint).
func (c *Catalog) slotted(id string) (*content.Item, int32, bool) {
	c.mu.RLock()
	e, ok := c.items[id]
	slot := int32(-1)
	if c.post != nil {
		slot = int32(e.slot)
	}
	c.mu.RUnlock()
	return e.it, slot, ok
}

// listable reports whether the postings can list the items f may pass:
// f names categories, tags, or a number or numeric range.
func (f *Filters) listable() bool {
	if len(f.Categories)+len(f.Tags) > 0 {
		return true
	}
	for _, a := range f.Attributes {
		if a.Min != nil || a.Max != nil || a.Equals != nil && a.Equals.IsNum {
			return true
		}
	}
	return false
}

// match reports whether an item passes the filters, with the same meaning
// as the text index gives them: categories and tags any-of and exact,
// attribute equality by type, numeric ranges inclusive.
func (f *Filters) match(it *content.Item) bool {
	if len(f.Categories) > 0 && !anyOf(it.Categories, f.Categories) {
		return false
	}
	if len(f.Tags) > 0 && !anyOf(it.Tags, f.Tags) {
		return false
	}
	for _, a := range f.Attributes {
		v, ok := it.Attributes[a.Key]
		if !ok {
			return false
		}
		if a.Equals != nil && (v.IsNum != a.Equals.IsNum || v.IsNum && v.Num != a.Equals.Num || !v.IsNum && v.Str != a.Equals.Str) {
			return false
		}
		if a.Min != nil || a.Max != nil {
			if !v.IsNum || a.Min != nil && v.Num < *a.Min || a.Max != nil && v.Num > *a.Max {
				return false
			}
		}
	}
	return true
}

func anyOf(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}
