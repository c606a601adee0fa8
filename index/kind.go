package index

import (
	"context"
	"fmt"
	"io"
	"os"
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

// LoadFile reads an index of the kind from the file at path, as its Save
// wrote it.
func LoadFile(ctx context.Context, kind Kind, path string) (Vector, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Load(ctx, kind, f)
}

// Load reads an index of the kind, as its Save wrote it.
func Load(ctx context.Context, kind Kind, r io.Reader) (Vector, error) {
	var v Vector
	var err error
	// Each case assigns its own pointer type: a failed load is a nil
	// interface, not an interface holding a nil pointer.
	switch kind {
	case KindHNSW:
		var h *HNSW
		if h, err = LoadHNSW(ctx, r); err == nil {
			v = h
		}
	case KindExact:
		var e *Exact
		if e, err = LoadExact(ctx, r); err == nil {
			v = e
		}
	case KindCoder:
		var c *CoderHNSW
		if c, err = LoadCoderHNSW(ctx, r); err == nil {
			v = c
		}
	default:
		err = fmt.Errorf("%w: unknown vector index %q", ErrCorrupt, kind)
	}
	return v, err
}
