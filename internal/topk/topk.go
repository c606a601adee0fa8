// Package topk keeps the best k of a stream of scored candidates: the
// selection every ranking in Duet ends with (vector search, ItemKNN's
// neighbour lists, the evaluation's rankings, the text index's hits).
//
// Heap keeps Scored pairs, an item index and a float32 score, which is
// what the vector indexes and the baselines rank. Its sift steps are also
// exported (MinUp, MinDown, MaxUp, MaxPop) for the HNSW walk, which drives
// a candidate queue and a result heap by hand. They are written out for
// Scored rather than generic: a sift-down through a comparison function
// is not inlined, and took 1.15–1.4 times as long per push
// (BenchmarkPush) and made the text index's matching 15% slower.
//
// KeyHeap keeps values with a score and a key, ties going to the lower
// key, with that order written in (the text index's hits, in document
// order; ItemKNN's neighbours). Of keeps values of any type under an
// order the caller gives, for rankings whose ties need more (the
// evaluation breaks them by a hash of user and item).
//
// All keep the worst of their k at the root: a newcomer is compared with
// it once and, when better, replaces it with one sift. None is safe for
// concurrent use.
package topk

import (
	"cmp"
	"slices"
)

// Scored is an item, by its index in the caller's arrays, with its score.
type Scored struct {
	ID    int32
	Score float32
}

// Heap keeps the k highest-scored pairs pushed. The zero value keeps
// none; set its size with Reset.
type Heap struct {
	k     int
	items []Scored
}

// New returns a heap that keeps the k best pairs, with room for them.
func New(k int) *Heap { return &Heap{k: k, items: make([]Scored, 0, max(k, 0))} }

// Reset empties the heap and sets the number of pairs it keeps, reusing
// its storage.
func (h *Heap) Reset(k int) {
	h.k = k
	h.items = h.items[:0]
}

// Use empties the heap, sets the number of pairs it keeps and makes it
// keep them in buf's storage, so that a pooled buffer serves many
// searches.
func (h *Heap) Use(k int, buf []Scored) {
	h.k = k
	h.items = buf[:0]
}

// Len is the number of pairs kept.
func (h *Heap) Len() int { return len(h.items) }

// Full reports whether the heap holds k pairs, so that Worst is the score
// to beat.
func (h *Heap) Full() bool { return len(h.items) >= h.k }

// Worst returns the lowest score kept; the heap must not be empty.
func (h *Heap) Worst() float32 { return h.items[0].Score }

// Push offers a pair. Once the heap is full, a pair no better than the
// worst kept is dropped.
func (h *Heap) Push(id int32, score float32) {
	if len(h.items) < h.k {
		h.items = append(h.items, Scored{id, score})
		MinUp(h.items, len(h.items)-1)
		return
	}
	if h.k <= 0 || score <= h.items[0].Score {
		return
	}
	h.items[0] = Scored{id, score}
	MinDown(h.items, 0)
}

// Sorted returns the pairs kept, best first, ties to the lower id. It
// reorders the heap's storage, which the result shares: Reset the heap
// before pushing again.
func (h *Heap) Sorted() []Scored {
	SortBest(h.items)
	return h.items
}

// SortBest sorts pairs best first, ties to the lower id.
func SortBest(s []Scored) {
	slices.SortFunc(s, func(a, b Scored) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return int(a.ID) - int(b.ID)
	})
}

// MinUp restores a min-heap on score (the worst at the root) after the
// element at i was appended or lowered.
func MinUp(h []Scored, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].Score <= h[i].Score {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

// MinDown restores a min-heap on score after the element at i was raised,
// typically the root replaced by a better pair.
func MinDown(h []Scored, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].Score < h[l].Score {
			m = r
		}
		if h[i].Score <= h[m].Score {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// MaxUp restores a max-heap on score (the best at the root) after the
// element at i was appended.
func MaxUp(h []Scored, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].Score >= h[i].Score {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

// MaxPop removes the best pair of a max-heap and returns it with the
// shortened heap.
func MaxPop(h []Scored) (Scored, []Scored) {
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	maxDown(h, 0)
	return top, h
}

func maxDown(h []Scored, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h[r].Score > h[l].Score {
			m = r
		}
		if h[i].Score >= h[m].Score {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// Of keeps the k best values pushed under an order: better(a, b) reports
// whether a ranks before b, and must be a strict weak order.
type Of[T any] struct {
	k      int
	better func(a, b T) bool
	h      []T
}

// NewOf returns a heap of the k best values under better.
func NewOf[T any](k int, better func(a, b T) bool) *Of[T] {
	return &Of[T]{k: k, better: better, h: make([]T, 0, max(k, 0))}
}

// Reset empties the heap and sets the number of values it keeps.
func (o *Of[T]) Reset(k int) {
	o.k = k
	o.h = o.h[:0]
}

// Len is the number of values kept.
func (o *Of[T]) Len() int { return len(o.h) }

// Full reports whether the heap holds k values, so that Worst is the
// value to beat.
func (o *Of[T]) Full() bool { return len(o.h) >= o.k }

// Worst returns the worst value kept; the heap must not be empty.
func (o *Of[T]) Worst() T { return o.h[0] }

// Push offers x and reports whether it was kept.
func (o *Of[T]) Push(x T) bool {
	if len(o.h) < o.k {
		o.h = append(o.h, x)
		for i := len(o.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !o.better(o.h[p], o.h[i]) {
				break
			}
			o.h[p], o.h[i] = o.h[i], o.h[p]
			i = p
		}
		return true
	}
	if o.k <= 0 || !o.better(x, o.h[0]) {
		return false
	}
	o.h[0] = x
	o.down(0)
	return true
}

// down sifts the value at i towards the leaves, the worse child up.
func (o *Of[T]) down(i int) {
	for {
		w := 2*i + 1
		if w >= len(o.h) {
			return
		}
		if r := w + 1; r < len(o.h) && o.better(o.h[w], o.h[r]) {
			w = r
		}
		if !o.better(o.h[i], o.h[w]) {
			return
		}
		o.h[i], o.h[w] = o.h[w], o.h[i]
		i = w
	}
}

// Sorted removes the values kept and returns them best first, in a new
// slice; the heap is empty afterwards.
func (o *Of[T]) Sorted() []T {
	out := make([]T, len(o.h))
	for i := len(o.h) - 1; i >= 0; i-- {
		out[i] = o.h[0]
		o.h[0] = o.h[i]
		o.h = o.h[:i]
		o.down(0)
	}
	return out
}

// Keyed is a value with a score and a key. Higher scores rank first and
// the lower key breaks a tie, so that which of several equal scores make
// the cut does not depend on the order they arrive in. Scores must not be
// NaN.
type Keyed[S, K cmp.Ordered] struct {
	Score S
	Key   K
}

// Better reports whether a ranks before b.
func (a Keyed[S, K]) Better(b Keyed[S, K]) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	return a.Key < b.Key
}

// KeyHeap keeps the k best Keyed values pushed. It is Of with Keyed's
// order written in, so that the comparisons are inlined: through Of's
// comparison function the text index's walk, which pushes often, measured
// 10–15% slower. The zero value keeps none; set its size with Reset or
// Use.
type KeyHeap[S, K cmp.Ordered] struct {
	k int
	h []Keyed[S, K]
}

// Reset empties the heap and sets the number of values it keeps, reusing
// its storage.
func (o *KeyHeap[S, K]) Reset(k int) {
	o.k = k
	o.h = o.h[:0]
}

// Use empties the heap, sets the number of values it keeps and makes it
// keep them in buf's storage.
func (o *KeyHeap[S, K]) Use(k int, buf []Keyed[S, K]) {
	o.k = k
	o.h = buf[:0]
}

// Len is the number of values kept.
func (o *KeyHeap[S, K]) Len() int { return len(o.h) }

// Full reports whether the heap holds k values, so that Worst is the
// value to beat.
func (o *KeyHeap[S, K]) Full() bool { return len(o.h) >= o.k }

// Worst returns the worst value kept; the heap must not be empty.
func (o *KeyHeap[S, K]) Worst() Keyed[S, K] { return o.h[0] }

// Push offers x and reports whether it was kept.
func (o *KeyHeap[S, K]) Push(x Keyed[S, K]) bool {
	if len(o.h) < o.k {
		o.h = append(o.h, x)
		h := o.h
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !h[p].Better(h[i]) {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		return true
	}
	if o.k <= 0 || !x.Better(o.h[0]) {
		return false
	}
	o.h[0] = x
	keyDown(o.h, 0)
	return true
}

// Sorted returns the values kept, best first. It sorts the heap's
// storage, which the result shares: Reset the heap before pushing again.
func (o *KeyHeap[S, K]) Sorted() []Keyed[S, K] {
	h := o.h
	// Heapsort: the worst of h[:i+1] goes to i.
	for i := len(h) - 1; i > 0; i-- {
		h[0], h[i] = h[i], h[0]
		keyDown(h[:i], 0)
	}
	return h
}

// keyDown sifts the value at i towards the leaves, the worse child up.
func keyDown[S, K cmp.Ordered](h []Keyed[S, K], i int) {
	for {
		w := 2*i + 1
		if w >= len(h) {
			return
		}
		if r := w + 1; r < len(h) && h[w].Better(h[r]) {
			w = r
		}
		if !h[i].Better(h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}
