package tower

import "errors"

// Errors callers branch on, with errors.Is.
var (
	// ErrBadModel is returned by Load for a file that is not a model file, or is
	// truncated or corrupt.
	ErrBadModel = errors.New("tower: bad model file")

	// ErrModelVersion is returned by Load for a model file of a format version
	// this build cannot read.
	ErrModelVersion = errors.New("tower: unsupported model file version")

	// ErrConfig is returned when a Config holds an invalid value.
	ErrConfig = errors.New("tower: invalid config")

	// ErrNoData is returned by Train when the histories hold no training
	// example (no user with two or more interactions).
	ErrNoData = errors.New("tower: no training examples")
)
