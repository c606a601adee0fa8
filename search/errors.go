package search

import "errors"

// Errors callers branch on, with errors.Is.
var (
	// ErrInvalidRequest is matched by every validation failure of a Request.
	ErrInvalidRequest = errors.New("invalid request")

	// ErrNotFound means the item named by Similar is not in the catalog.
	ErrNotFound = errors.New("item not found")
)
