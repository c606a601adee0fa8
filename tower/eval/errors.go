package eval

import "errors"

// Errors callers branch on, with errors.Is.
var (
	// ErrSkip is returned, wrapped, by a Fit that declines the dataset, for
	// example EASE above its item limit. Run reports the model as skipped with
	// the error's message and goes on with the others.
	ErrSkip = errors.New("model skipped")
)
