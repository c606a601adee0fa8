package index

import (
	"context"
	"fmt"
	"io"
	"iter"
	"math"

	"github.com/duetrec/duet/internal/topk"
)

// Vector is a nearest-neighbour index over unit vectors with string ids.
//
// Implementations store unit-length copies of the vectors they are given
// and normalise queries: a Result's Score is the cosine similarity (for unit
// vectors, the inner product). All methods are safe for concurrent use.
// Load (or LoadExact, LoadHNSW, LoadCoderHNSW) reads what Save wrote, and
// New makes an empty index of a Kind.
//
// Writes refuse a vector of the wrong length (ErrDimension), a zero vector
// (ErrZeroVector) or one with NaN or infinite components
// (ErrInvalidVector), changing nothing.
type Vector interface {
	// Add inserts a vector under a new id; an existing id is ErrExists.
	Add(id string, vec []float32) error
	// Upsert inserts a vector or replaces the one stored under id.
	Upsert(id string, vec []float32) error
	// Delete removes id, or returns ErrNotFound.
	Delete(id string) error
	// Search returns up to k items accepted by filter (nil accepts all),
	// sorted by score, highest first.
	Search(ctx context.Context, vec []float32, k int, filter Filter) ([]Result, error)
	// Len returns the number of items (deleted ones excluded).
	Len() int
	// Dim returns the dimension of the vectors.
	Dim() int
	// Save writes the index in its binary format.
	Save(ctx context.Context, w io.Writer) error
}

// Result is one search hit.
type Result struct {
	ID    string
	Score float32
}

// DefaultExactCutoff is the default number of allowed items at or below
// which a filtered search scores the allowed items directly instead of
// walking the graph: at that size the scan is cheaper than a walk that has
// to step over the many rejected items around the few accepted ones.
const DefaultExactCutoff = 2000

// Filter restricts a search to some ids. A nil Filter accepts every item.
type Filter interface {
	Allow(id string) bool
}

// FilterFunc is a Filter given by a predicate. The index cannot know how
// many ids it accepts, so it estimates that by sampling.
type FilterFunc func(id string) bool

// Allow reports whether f accepts id; a nil FilterFunc accepts everything.
func (f FilterFunc) Allow(id string) bool { return f == nil || f(id) }

// A ListedFilter is a Filter that can list the ids it accepts. A search
// given one knows how many items can pass without sampling, and when
// scoring the listed items directly costs less than walking a graph past
// the many rejected ones, it scores them.
type ListedFilter interface {
	Filter
	// Len returns how many ids Listed yields, or a bound on it: a search
	// plans with it before anything is listed.
	Len() int
	// Listed yields the ids Allow accepts, each with a hint: the position
	// the index holds the id at when the index was filled in the order of
	// the filter's source (a snapshot builds its catalogue and its graph
	// in one order), or -1. An index uses a hint only after checking that
	// it holds the id there, and looks the id up otherwise.
	Listed() iter.Seq2[string, int32]
}

// AllowSet is a Filter accepting exactly the ids in the set. Its size is
// known, so a small set is searched by scoring its members directly.
type AllowSet map[string]struct{}

// NewAllowSet returns an AllowSet of ids.
func NewAllowSet(ids ...string) AllowSet {
	s := make(AllowSet, len(ids))
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}

// Allow reports whether id is in s.
func (s AllowSet) Allow(id string) bool {
	_, ok := s[id]
	return ok
}

// Len returns the size of s.
func (s AllowSet) Len() int { return len(s) }

// Listed yields the ids in s, without hints.
func (s AllowSet) Listed() iter.Seq2[string, int32] {
	return func(yield func(string, int32) bool) {
		for id := range s {
			if !yield(id, -1) {
				return
			}
		}
	}
}

// acceptAll reports whether f lets everything through, so the search can
// skip calling it.
func acceptAll(f Filter) bool {
	switch f := f.(type) {
	case nil:
		return true
	case FilterFunc:
		return f == nil
	}
	return false
}

// normalized validates v against dim and returns a unit-length copy.
func normalized(v []float32, dim int) ([]float32, error) {
	out := make([]float32, dim)
	if err := normalizeInto(out, v, dim); err != nil {
		return nil, err
	}
	return out, nil
}

// normalizeInto validates v against dim and writes it at unit length to
// dst, which has dim elements. The norm is summed in float64 so that very
// small or very large components neither underflow to a false zero vector
// nor overflow to infinity.
func normalizeInto(dst, v []float32, dim int) error {
	if len(v) != dim {
		return fmt.Errorf("%w: got %d, want %d", ErrDimension, len(v), dim)
	}
	var ss float64
	for _, x := range v {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return ErrInvalidVector
		}
		ss += f * f
	}
	n := math.Sqrt(ss)
	if n == 0 || math.IsInf(n, 0) {
		if n == 0 {
			return ErrZeroVector
		}
		return ErrInvalidVector
	}
	for i, x := range v {
		dst[i] = float32(float64(x) / n)
	}
	// A vector whose components all underflow after scaling has no usable
	// direction either.
	var check float64
	for _, x := range dst[:dim] {
		check += float64(x) * float64(x)
	}
	if check < 0.5 {
		return ErrZeroVector
	}
	return nil
}

func checkDim(dim int) error {
	if dim < 1 || dim > maxDim {
		return fmt.Errorf("%w: dimension %d out of range [1, %d]", ErrDimension, dim, maxDim)
	}
	return nil
}

// maxDim bounds the dimension so that a corrupt header cannot ask for an
// absurd allocation.
const maxDim = 1 << 16

// results turns an index's best pairs into hits, naming items by ids.
func results(ids []string, best []topk.Scored) []Result {
	out := make([]Result, len(best))
	for j, b := range best {
		out[j] = Result{ID: ids[b.ID], Score: b.Score}
	}
	return out
}
