package index

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/tower/cf"
)

// Factored holds EASE's item-to-item weights by item id in the dual form
// (cf.LowRankEASE), where Neighbours holds each item's strongest weights:
// a history's scores for every item are exact, at the cost of users²
// multiply-adds a request. It answers as Neighbours does, and is
// read-only once made and safe for concurrent use.
type Factored struct {
	ids     []string
	pos     map[string]int32
	m       *cf.LowRankEASE
	scratch sync.Pool // *factoredScratch
}

type factoredScratch struct {
	scores  []float32
	history []int32
	weights []float32
	heap    topk.Heap
}

// NewFactored serves the factor m of the items ids (by index). m is kept,
// not copied; its YT is not needed.
func NewFactored(ids []string, m *cf.LowRankEASE) (*Factored, error) {
	if m == nil || m.N != len(ids) {
		return nil, fmt.Errorf("new factored: %w: a factor of another catalogue for %d ids", ErrCorrupt, len(ids))
	}
	pos, err := positions(ids)
	if err != nil {
		return nil, fmt.Errorf("new factored: %w", err)
	}
	return &Factored{ids: ids, pos: pos, m: m}, nil
}

// Len is the number of items.
func (f *Factored) Len() int { return len(f.ids) }

// Users is the number of users the factor was fitted on.
func (f *Factored) Users() int { return f.m.K }

// Bytes is the memory of the factor's scoring parts.
func (f *Factored) Bytes() int64 { return f.m.Bytes() }

// Recommend returns the k items filter accepts (nil accepts all) with the
// highest positive EASE score from the history, highest first, ties to
// the earlier item. History items the factor does not know (new items)
// add nothing.
func (f *Factored) Recommend(ctx context.Context, history []string, k int, filter Filter) ([]Result, error) {
	return f.RecommendWeighted(ctx, history, nil, k, filter)
}

// RecommendWeighted is Recommend with history[i]'s row of weights scaled
// by weights[i] (all 1 when weights is nil).
func (f *Factored) RecommendWeighted(ctx context.Context, history []string, weights []float32, k int, filter Filter) ([]Result, error) {
	if weights != nil && len(weights) != len(history) {
		return nil, fmt.Errorf("factored: %d weights for %d history items", len(weights), len(history))
	}
	if k < 1 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc, _ := f.scratch.Get().(*factoredScratch)
	if sc == nil || len(sc.scores) != len(f.ids) {
		sc = &factoredScratch{scores: make([]float32, len(f.ids))}
	}
	defer f.scratch.Put(sc)
	sc.history, sc.weights = sc.history[:0], sc.weights[:0]
	for h, id := range history {
		if i, ok := f.pos[id]; ok {
			sc.history = append(sc.history, i)
			if weights != nil {
				sc.weights = append(sc.weights, weights[h])
			}
		}
	}
	if len(sc.history) == 0 {
		return nil, nil
	}
	w := sc.weights
	if weights == nil {
		w = nil
	}
	clear(sc.scores)
	f.m.ScoresWeighted(sc.history, w, sc.scores)
	all := acceptAll(filter)
	sc.heap.Reset(k)
	for j, s := range sc.scores {
		// The filter after the score, only for items that would enter
		// the top k: a filter that looks the item up costs more than
		// the whole scoring of it.
		if s <= 0 || sc.heap.Full() && s <= sc.heap.Worst() {
			continue
		}
		if all || filter.Allow(f.ids[j]) {
			sc.heap.Push(int32(j), s)
		}
	}
	best := sc.heap.Sorted()
	out := make([]Result, len(best))
	for i, s := range best {
		out[i] = Result{ID: f.ids[s.ID], Score: s.Score}
	}
	return out, nil
}

const (
	factoredMagic   = "DUETEASE"
	factoredVersion = 1
	// maxFactorUsers bounds a loaded factor's users: its triangle holds
	// users²/2 floats.
	maxFactorUsers = 1 << 16
)

// Save writes the factor: a versioned header, the ids with each item's
// user count, the users as int32, the diagonal and U⁻¹'s packed triangle
// as float32, and a CRC-32C.
func (f *Factored) Save(ctx context.Context, w io.Writer) error {
	m := f.m
	e := newEncoder(w)
	e.write([]byte(factoredMagic))
	e.u32(factoredVersion)
	e.u32(uint32(len(f.ids)))
	e.u32(uint32(m.K))
	var entries uint64
	for _, us := range m.Users {
		entries += uint64(len(us))
	}
	e.u64(entries)
	for i, id := range f.ids {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e.str(id)
		e.u32(uint32(len(m.Users[i])))
	}
	for _, us := range m.Users {
		e.i32s(us)
	}
	e.f32s(m.D)
	e.f32s(m.UInv)
	if err := e.finish(); err != nil {
		return fmt.Errorf("save factored: %w", err)
	}
	return nil
}

// LoadFactored reads a factor Save wrote. Input that is truncated,
// corrupt or of another version is refused with an error wrapping
// ErrCorrupt.
func LoadFactored(ctx context.Context, r io.Reader) (*Factored, error) {
	d := newDecoder(r)
	d.header(factoredMagic, factoredVersion, factoredVersion)
	count, k := int(d.u32()), int(d.u32())
	entries := d.u64()
	if d.err == nil && (count > maxItems || k < 1 || k > maxFactorUsers || entries > uint64(count)*uint64(k)) {
		d.fail("%d items, %d users, %d entries", count, k, entries)
	}
	var ids []string
	var lens []int
	sum := uint64(0)
	for i := 0; i < count && d.err == nil; i++ {
		if i%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		ids = append(ids, d.str())
		lens = append(lens, int(d.u32()))
		sum += uint64(lens[i])
	}
	if d.err == nil && sum != entries {
		d.fail("items hold %d users, header says %d", sum, entries)
	}
	// One array for every list, grown as the bytes arrive: a lying header
	// cannot make a large allocation.
	flat := d.i32s(nil, int(entries))
	users := make([][]int32, 0, len(lens))
	at := 0
	for _, l := range lens {
		if d.err != nil {
			break
		}
		users = append(users, flat[at:at+l:at+l])
		at += l
	}
	diag := d.f32s(nil, count)
	uinv := d.f32s(nil, k*(k+1)/2)
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("load factored: %w", err)
	}
	m, err := cf.NewLowRankEASE(count, k, diag, uinv, users)
	if err != nil {
		return nil, fmt.Errorf("load factored: %w: %w", ErrCorrupt, err)
	}
	return NewFactored(ids, m)
}
