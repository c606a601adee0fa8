package search

import (
	"cmp"
	"slices"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/duetrec/duet/content"
)

// postings index the catalog's items by category, tag and numeric
// attribute, so that a request's filters can say how many items they may
// pass and list them (index.ListedFilter): a vector search then scores a
// few thousand allowed items directly instead of walking a graph of a
// million past the rejected ones. Each item has a slot, a small integer
// the bitmaps hold; a freed slot is reused. They are guarded by the
// catalog's lock.
type postings struct {
	slots []*content.Item // by slot; nil when free
	free  []uint32
	cats  map[string]*roaring.Bitmap
	tags  map[string]*roaring.Bitmap
	nums  map[string]*numPostings
}

// numPostings list the items holding a number under one attribute key:
// sorted by value as of the last merge, and the slots put or deleted
// since, whose items a range lists too for the filter to check. Keeping
// the edits aside spares a sort per write; they are merged in once they
// are an eighth of the sorted entries.
type numPostings struct {
	sorted []numEntry
	edited *roaring.Bitmap
}

type numEntry struct {
	v    float64
	slot uint32
}

func newPostings(n int) *postings {
	return &postings{
		slots: make([]*content.Item, 0, n),
		cats:  map[string]*roaring.Bitmap{},
		tags:  map[string]*roaring.Bitmap{},
		nums:  map[string]*numPostings{},
	}
}

// add gives it a slot and indexes it.
func (p *postings) add(it *content.Item) entry {
	var slot uint32
	if n := len(p.free); n > 0 {
		slot, p.free = p.free[n-1], p.free[:n-1]
		p.slots[slot] = it
	} else {
		slot = uint32(len(p.slots))
		p.slots = append(p.slots, it)
	}
	for _, c := range it.Categories {
		bitmapOf(p.cats, c).Add(slot)
	}
	for _, t := range it.Tags {
		bitmapOf(p.tags, t).Add(slot)
	}
	p.edited(it, slot)
	return entry{it: it, slot: slot}
}

// remove unindexes e's item and frees its slot.
func (p *postings) remove(e entry) {
	for _, c := range e.it.Categories {
		unset(p.cats, c, e.slot)
	}
	for _, t := range e.it.Tags {
		unset(p.tags, t, e.slot)
	}
	// Free the slot before noting the edit: a merge it sets off must not
	// sort the removed item's numbers back in.
	p.slots[e.slot] = nil
	p.edited(e.it, e.slot)
	p.free = append(p.free, e.slot)
}

// edited notes that slot, which holds or held it, changed under each of
// it's numeric keys, and merges the edits of a key once they are many.
func (p *postings) edited(it *content.Item, slot uint32) {
	for k, v := range it.Attributes {
		if !v.IsNum {
			continue
		}
		np := p.nums[k]
		if np == nil {
			np = &numPostings{edited: roaring.New()}
			p.nums[k] = np
		}
		np.edited.Add(slot)
		if np.edited.GetCardinality() > uint64(len(np.sorted)/8+256) {
			p.merge(k, np)
		}
	}
}

// merge folds the edited slots of key k into its sorted entries: the
// entries of those slots are dropped, their items' current numbers sorted
// and merged in.
func (p *postings) merge(k string, np *numPostings) {
	kept := make([]numEntry, 0, len(np.sorted)+int(np.edited.GetCardinality()))
	for _, e := range np.sorted {
		if !np.edited.Contains(e.slot) {
			kept = append(kept, e)
		}
	}
	var added []numEntry
	np.edited.Iterate(func(slot uint32) bool {
		if it := p.slots[slot]; it != nil {
			if v, ok := it.Attributes[k]; ok && v.IsNum {
				added = append(added, numEntry{v.Num, slot})
			}
		}
		return true
	})
	slices.SortFunc(added, compareEntries)
	merged := make([]numEntry, 0, len(kept)+len(added))
	i, j := 0, 0
	for i < len(kept) && j < len(added) {
		if compareEntries(kept[i], added[j]) <= 0 {
			merged = append(merged, kept[i])
			i++
		} else {
			merged = append(merged, added[j])
			j++
		}
	}
	merged = append(append(merged, kept[i:]...), added[j:]...)
	if len(merged) == 0 {
		delete(p.nums, k)
		return
	}
	np.sorted, np.edited = merged, roaring.New()
}

func compareEntries(a, b numEntry) int {
	return cmp.Or(cmp.Compare(a.v, b.v), cmp.Compare(a.slot, b.slot))
}

func bitmapOf(m map[string]*roaring.Bitmap, key string) *roaring.Bitmap {
	b := m[key]
	if b == nil {
		b = roaring.New()
		m[key] = b
	}
	return b
}

func unset(m map[string]*roaring.Bitmap, key string, slot uint32) {
	if b := m[key]; b != nil {
		b.Remove(slot)
		if b.IsEmpty() {
			delete(m, key)
		}
	}
}

// bulkLoad indexes a catalog's items in one pass: slots in order, each
// key's slots gathered and made into a bitmap at the end, each numeric
// key's entries sorted once.
type bulkLoad struct {
	p          *postings
	cats, tags map[string][]uint32
	nums       map[string][]numEntry
}

func (p *postings) bulk() *bulkLoad {
	return &bulkLoad{p: p, cats: map[string][]uint32{}, tags: map[string][]uint32{}, nums: map[string][]numEntry{}}
}

// add indexes it in the next slot.
func (b *bulkLoad) add(it *content.Item) entry {
	slot := uint32(len(b.p.slots))
	b.p.slots = append(b.p.slots, it)
	for _, c := range it.Categories {
		b.cats[c] = append(b.cats[c], slot)
	}
	for _, t := range it.Tags {
		b.tags[t] = append(b.tags[t], slot)
	}
	for k, v := range it.Attributes {
		if v.IsNum {
			b.nums[k] = append(b.nums[k], numEntry{v.Num, slot})
		}
	}
	return entry{it: it, slot: slot}
}

// skip leaves the next slot free.
func (b *bulkLoad) skip() {
	b.p.free = append(b.p.free, uint32(len(b.p.slots)))
	b.p.slots = append(b.p.slots, nil)
}

// done makes the postings of what was added.
func (b *bulkLoad) done() {
	for c, slots := range b.cats {
		bitmapOf(b.p.cats, c).AddMany(slots)
	}
	for t, slots := range b.tags {
		bitmapOf(b.p.tags, t).AddMany(slots)
	}
	for k, es := range b.nums {
		slices.SortFunc(es, compareEntries)
		b.p.nums[k] = &numPostings{sorted: es, edited: roaring.New()}
	}
}

// listing is the part of a request's filters the postings can list: the
// items in any of the categories and in any of the tags, or those with a
// number in a range. A request's filters have one listing, the part
// listing the fewest items; the other parts are checked item by item.
type listing struct {
	bits     *roaring.Bitmap // categories and tags; nil for a range
	attr     int             // the range's filter in Filters.Attributes
	key      string          // the range's attribute
	min, max *float64
}

// plan returns the listing of f with the fewest items and how many it
// lists. A listable f may list nothing (a string equal to something and
// in a numeric range can match no item): then the listing is empty.
func (p *postings) plan(f *Filters) (listing, int) {
	var (
		best  listing
		n     = -1
		parts []*roaring.Bitmap
	)
	if len(f.Categories) > 0 {
		parts = append(parts, union(p.cats, f.Categories))
	}
	if len(f.Tags) > 0 {
		parts = append(parts, union(p.tags, f.Tags))
	}
	if len(parts) > 0 {
		bits := parts[0]
		if len(parts) == 2 {
			bits.And(parts[1])
		}
		best, n = listing{bits: bits}, int(bits.GetCardinality())
	}
	for i, a := range f.Attributes {
		lo, hi := a.Min, a.Max
		if a.Equals != nil {
			if !a.Equals.IsNum {
				continue
			}
			lo, hi = &a.Equals.Num, &a.Equals.Num
		}
		if lo == nil && hi == nil {
			continue
		}
		r := listing{attr: i, key: a.Key, min: lo, max: hi}
		if m := p.rangeLen(r); n < 0 || m < n {
			best, n = r, m
		}
	}
	return best, max(n, 0)
}

// union returns a new bitmap of the items under any of keys.
func union(m map[string]*roaring.Bitmap, keys []string) *roaring.Bitmap {
	bs := make([]*roaring.Bitmap, 0, len(keys))
	for _, k := range keys {
		if b := m[k]; b != nil {
			bs = append(bs, b)
		}
	}
	if len(bs) == 1 {
		return bs[0].Clone()
	}
	return roaring.FastOr(bs...)
}

// span returns the sorted entries of r's key whose numbers lie in r.
func (p *postings) span(r listing) ([]numEntry, *roaring.Bitmap) {
	np := p.nums[r.key]
	if np == nil {
		return nil, nil
	}
	lo, hi := 0, len(np.sorted)
	if r.min != nil {
		lo = sort.Search(len(np.sorted), func(i int) bool { return np.sorted[i].v >= *r.min })
	}
	if r.max != nil {
		hi = sort.Search(len(np.sorted), func(i int) bool { return np.sorted[i].v > *r.max })
	}
	return np.sorted[lo:max(lo, hi)], np.edited
}

func (p *postings) rangeLen(r listing) int {
	es, edited := p.span(r)
	if edited == nil {
		return 0
	}
	return len(es) + int(edited.GetCardinality())
}

// listedItem is an item a listing yields: its id and its slot, which is
// the position a vector index built in the catalog's order holds it at.
type listedItem struct {
	id   string
	slot int32
}

// items returns the items l, the listing of f, lists that pass f and are
// not in exclude. What the listing guarantees is not checked again: the
// categories and tags of an item from the bitmaps, the range of one from
// the sorted entries that no edit has touched since they were sorted.
func (p *postings) items(l listing, f *Filters, exclude map[string]bool) []listedItem {
	rest := Filters{Attributes: f.Attributes} // what a bitmap leaves to check
	if l.bits == nil {
		rest = *f
		rest.Attributes = slices.Delete(slices.Clone(f.Attributes), l.attr, l.attr+1)
	}
	var out []listedItem
	take := func(slot uint32, check *Filters) {
		if it := p.slots[slot]; it != nil && !exclude[it.ID] && check.match(it) {
			out = append(out, listedItem{it.ID, int32(slot)})
		}
	}
	if l.bits != nil {
		out = make([]listedItem, 0, l.bits.GetCardinality())
		l.bits.Iterate(func(slot uint32) bool {
			take(slot, &rest)
			return true
		})
		return out
	}
	es, edited := p.span(l)
	if edited == nil {
		return nil
	}
	out = make([]listedItem, 0, len(es)+int(edited.GetCardinality()))
	for _, e := range es {
		if !edited.Contains(e.slot) {
			take(e.slot, &rest)
		}
	}
	edited.Iterate(func(slot uint32) bool {
		take(slot, f)
		return true
	})
	return out
}
