package index

import (
	"context"
	"fmt"
	"io"
)

// Kind names a vector index implementation, as snapshots record it and
// the rebuild's --ann flag gives it.
type Kind string

// The vector indexes.
const (
	KindHNSW  Kind = "hnsw"  // HNSW, the default
	KindExact Kind = "exact" // Exact
	KindCoder Kind = "coder" // CoderHNSW
)

// New returns an empty index of the kind, of dimension dim. A coder index
// takes M, EfSearch and Seed from o.
func New(kind Kind, dim int, o HNSWOptions) (Vector, error) {
	switch kind {
	case KindHNSW:
		return NewHNSW(dim, o)
	case KindExact:
		return NewExact(dim)
	case KindCoder:
		return NewCoderHNSW(dim, CoderOptions{M: o.M, EfSearch: o.EfSearch, Seed: int64(o.Seed)})
	}
	return nil, fmt.Errorf("%w: unknown vector index %q (want hnsw, exact or coder)", ErrUnsupported, kind)
}

// Load reads an index of the kind, as its Save wrote it.
func Load(ctx context.Context, kind Kind, r io.Reader) (Vector, error) {
	switch kind {
	case KindHNSW:
		return LoadHNSW(ctx, r)
	case KindExact:
		return LoadExact(ctx, r)
	case KindCoder:
		return LoadCoderHNSW(ctx, r)
	}
	return nil, fmt.Errorf("%w: unknown vector index %q", ErrCorrupt, kind)
}
