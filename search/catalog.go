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
	items map[string]*content.Item
	pop   map[string]float64
	nums  map[string]int // items holding a number under each attribute key
	keys  map[string]int // items holding each attribute key

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
	return &Catalog{items: map[string]*content.Item{}, pop: map[string]float64{}, nums: map[string]int{}, keys: map[string]int{}, dirty: true}
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
	c.items, c.pop = make(map[string]*content.Item, n), pop
	for _, items := range chunks {
		for i := range items {
			it := &items[i]
			c.count(c.items[it.ID], -1)
			c.items[it.ID] = it
			c.count(it, 1)
		}
	}
	return c
}

// Put adds or replaces an item.
func (c *Catalog) Put(it content.Item) {
	c.mu.Lock()
	c.count(c.items[it.ID], -1)
	c.items[it.ID] = &it
	c.count(&it, 1)
	c.mu.Unlock()
	c.markDirty()
}

// Delete removes an item; its popularity is kept should it come back.
func (c *Catalog) Delete(id string) {
	c.mu.Lock()
	c.count(c.items[id], -1)
	delete(c.items, id)
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
	it, ok := c.items[id]
	c.mu.RUnlock()
	return it, ok
}

// Items returns every item, in id order.
func (c *Catalog) Items() []content.Item {
	c.mu.RLock()
	out := make([]content.Item, 0, len(c.items))
	for _, it := range c.items {
		out = append(out, *it)
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
		for _, it := range c.items {
			if !yield(it) {
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
