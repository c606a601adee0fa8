package index

import "errors"

// Errors of the vector indexes; callers test them with errors.Is.
var (
	// ErrDimension means a vector's length differs from the index's
	// dimension.
	ErrDimension = errors.New("vector has the wrong dimension")

	// ErrZeroVector means a vector has length zero (all components zero, or
	// too small to normalise); it has no direction to compare.
	ErrZeroVector = errors.New("zero vector")

	// ErrInvalidVector means a vector has a NaN or infinite component.
	ErrInvalidVector = errors.New("vector has a NaN or infinite component")

	// ErrExists means Add was given an id the index already holds; Upsert
	// replaces instead.
	ErrExists = errors.New("id already in the index")

	// ErrNotFound means the index holds no item with the given id.
	ErrNotFound = errors.New("id not in the index")

	// ErrCorrupt means serialized index data is truncated, corrupt or of an
	// unknown format version; it is refused rather than half-loaded.
	ErrCorrupt = errors.New("corrupt index data")

	// ErrUnsupported means the index cannot perform the operation; see the
	// index type's documentation.
	ErrUnsupported = errors.New("operation not supported by this index")
)
