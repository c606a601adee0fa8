package index

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/duetrec/duet/internal/topk"
)

// Neighbours holds item-to-item neighbour lists by item id: for every item,
// the items that go with it and a weight each, as a collaborative model
// (tower/cf) computed them. A user's score for an item is the sum of the
// weights from the items of their history; Recommend ranks by it. It is
// read-only once made, and safe for concurrent use.
type Neighbours struct {
	ids     []string
	pos     map[string]int32
	offsets []int64 // item i's lists are items[offsets[i]:offsets[i+1]]
	items   []int32
	weights []float32
	scratch sync.Pool // *neighbourScratch
	maps    [][]byte  // what a load mapped, for Close
}

type neighbourScratch struct {
	acc     []float32
	touched []int32
	heap    topk.Heap
}

// NewNeighbours makes the lists of the items ids, in compressed rows:
// item i's neighbours are items[offsets[i]:offsets[i+1]], indices into
// ids, with their weights. The slices are kept, not copied.
func NewNeighbours(ids []string, offsets []int64, items []int32, weights []float32) (*Neighbours, error) {
	n := &Neighbours{ids: ids, offsets: offsets, items: items, weights: weights}
	if err := n.check(); err != nil {
		return nil, fmt.Errorf("new neighbours: %w", err)
	}
	return n, nil
}

// check validates the lists and fills pos.
func (n *Neighbours) check() error {
	if len(n.offsets) != len(n.ids)+1 || n.offsets[0] != 0 || len(n.items) != len(n.weights) || n.offsets[len(n.ids)] != int64(len(n.items)) {
		return fmt.Errorf("%w: %d ids, %d offsets, %d items, %d weights", ErrCorrupt, len(n.ids), len(n.offsets), len(n.items), len(n.weights))
	}
	for i := range n.ids {
		if n.offsets[i+1] < n.offsets[i] {
			return fmt.Errorf("%w: offsets go back at item %d", ErrCorrupt, i)
		}
	}
	for k, it := range n.items {
		if it < 0 || int(it) >= len(n.ids) {
			return fmt.Errorf("%w: neighbour %d is item %d of %d", ErrCorrupt, k, it, len(n.ids))
		}
		if w := float64(n.weights[k]); math.IsNaN(w) || math.IsInf(w, 0) {
			return fmt.Errorf("%w: neighbour %d has weight %v", ErrCorrupt, k, w)
		}
	}
	var err error
	n.pos, err = positions(n.ids)
	return err
}

// positions maps each of ids to its index, refusing duplicates.
func positions(ids []string) (map[string]int32, error) {
	pos := make(map[string]int32, len(ids))
	for i, id := range ids {
		if _, dup := pos[id]; dup {
			return nil, fmt.Errorf("%w: item %q twice", ErrCorrupt, id)
		}
		pos[id] = int32(i)
	}
	return pos, nil
}

// ShareItems makes n use o's ids and their positions when the two hold the
// same items in the same order, and reports whether they did. A snapshot's
// collaborative and sequence lists are made over one catalogue: at a
// million items each kept a copy of the ids and a map of them, 70 MB.
func (n *Neighbours) ShareItems(o *Neighbours) bool {
	if !slices.Equal(n.ids, o.ids) {
		return false
	}
	n.ids, n.pos = o.ids, o.pos
	return true
}

// Len is the number of items with lists.
func (n *Neighbours) Len() int { return len(n.ids) }

// Entries is the number of neighbours over all lists.
func (n *Neighbours) Entries() int { return len(n.items) }

// Recommend returns the k items filter accepts (nil accepts all) with the
// highest summed weight from the history items, highest first, ties to
// the earlier item of the lists. History items the lists do not know (new
// items) add nothing; items no history item points to are not returned.
func (n *Neighbours) Recommend(ctx context.Context, history []string, k int, filter Filter) ([]Result, error) {
	return n.RecommendWeighted(ctx, history, nil, k, filter)
}

// RecommendWeighted is Recommend with history[i]'s list scaled by
// weights[i] (all 1 when weights is nil): recent items can count more.
func (n *Neighbours) RecommendWeighted(ctx context.Context, history []string, weights []float32, k int, filter Filter) ([]Result, error) {
	if weights != nil && len(weights) != len(history) {
		return nil, fmt.Errorf("neighbours: %d weights for %d history items", len(weights), len(history))
	}
	if k < 1 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc, _ := n.scratch.Get().(*neighbourScratch)
	if sc == nil || len(sc.acc) != len(n.ids) {
		sc = &neighbourScratch{acc: make([]float32, len(n.ids))}
	}
	defer n.scratch.Put(sc)
	touched := sc.touched[:0]
	for h, id := range history {
		i, ok := n.pos[id]
		if !ok {
			continue
		}
		hw := float32(1)
		if weights != nil {
			hw = weights[h]
		}
		lo, hi := n.offsets[i], n.offsets[i+1]
		for p := lo; p < hi; p++ {
			j := n.items[p]
			if sc.acc[j] == 0 {
				touched = append(touched, j)
			}
			sc.acc[j] += hw * n.weights[p]
		}
	}
	all := acceptAll(filter)
	sc.heap.Reset(k)
	for _, j := range touched {
		// The filter only for items that would enter the top k (see
		// Factored.RecommendWeighted).
		if s := sc.acc[j]; s > 0 && !(sc.heap.Full() && s <= sc.heap.Worst()) && (all || filter.Allow(n.ids[j])) {
			sc.heap.Push(j, s)
		}
		sc.acc[j] = 0
	}
	sc.touched = touched
	best := sc.heap.Sorted()
	out := make([]Result, len(best))
	for i, s := range best {
		out[i] = Result{ID: n.ids[s.ID], Score: s.Score}
	}
	return out, nil
}

const (
	neighboursMagic = "DUETNBRS"
	// Version 2 starts the neighbours and the weights at multiples of
	// pageAlign, so that a load from a file maps them (see hnsw_map.go);
	// version 1, without the padding, is still read.
	neighboursVersion = 2
)

// Save writes the lists: a versioned header, the ids, each item's list
// length, the neighbours as int32 positions, the weights as float32 (each
// page-aligned), and a CRC-32C.
func (n *Neighbours) Save(ctx context.Context, w io.Writer) error {
	e := newEncoder(w)
	e.write([]byte(neighboursMagic))
	e.u32(neighboursVersion)
	e.u32(uint32(len(n.ids)))
	e.u64(uint64(len(n.items)))
	for i, id := range n.ids {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e.str(id)
		e.u32(uint32(n.offsets[i+1] - n.offsets[i]))
	}
	e.pad(pageAlign)
	e.i32s(n.items)
	e.pad(pageAlign)
	e.f32s(n.weights)
	if err := e.finish(); err != nil {
		return fmt.Errorf("save neighbours: %w", err)
	}
	return nil
}

// LoadNeighbours reads lists Save wrote. Input that is truncated, corrupt
// or of another version is refused with an error wrapping ErrCorrupt.
func LoadNeighbours(ctx context.Context, r io.Reader) (*Neighbours, error) {
	d := newDecoder(r)
	version := d.header(neighboursMagic, 1, neighboursVersion)
	count := int(d.u32())
	entries := d.u64()
	if d.err == nil && (count > maxItems || entries > uint64(count)*uint64(count) || entries > 1<<34) {
		d.fail("%d items, %d neighbours", count, entries)
	}
	n := &Neighbours{}
	if d.err == nil {
		// Grown as the bytes arrive: a lying header cannot make a large
		// allocation.
		n.offsets = append(n.offsets, 0)
		if d.fits(5 * count) {
			n.ids, n.offsets = make([]string, 0, count), make([]int64, 1, count+1)
		}
	}
	for i := 0; i < count && d.err == nil; i++ {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		n.ids = append(n.ids, d.str())
		n.offsets = append(n.offsets, n.offsets[i]+int64(d.u32()))
	}
	if d.err == nil && uint64(n.offsets[count]) != entries {
		d.fail("lists hold %d neighbours, header says %d", n.offsets[count], entries)
	}
	if version >= 2 {
		d.pad(pageAlign)
		n.items = as[int32](d.section(4*int(entries), 4, 0, &n.maps))
		d.pad(pageAlign)
		n.weights = as[float32](d.section(4*int(entries), 4, 0, &n.maps))
	} else {
		n.items = d.i32s(nil, int(entries))
		n.weights = d.f32s(nil, int(entries))
	}
	err := d.finish()
	if err == nil {
		err = n.check()
	}
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("load neighbours: %w", err)
	}
	return n, nil
}

// Close releases the memory a load mapped from the file; the lists must
// not be used after it. Lists made in memory or read from a stream have
// nothing to release.
func (n *Neighbours) Close() error {
	var err error
	for _, mem := range n.maps {
		if uerr := unmap(mem); err == nil {
			err = uerr
		}
	}
	n.maps, n.items, n.weights, n.offsets, n.ids, n.pos = nil, nil, nil, []int64{0}, nil, nil
	return err
}
