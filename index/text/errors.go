package text

import "errors"

// Errors callers branch on, with errors.Is.
var (
	// ErrInvalidQuery is matched by every query that Search refuses as malformed
	// or out of bounds.
	ErrInvalidQuery = errors.New("invalid query")

	// ErrInvalidVocabulary is matched by every vocabulary NewVocabulary
	// refuses.
	ErrInvalidVocabulary = errors.New("invalid vocabulary")

	// ErrClosed means the text index was closed.
	ErrClosed = errors.New("text index closed")

	// ErrBadStats means encoded Stats are damaged or not Stats at all.
	ErrBadStats = errors.New("bad text statistics")

	// ErrLocked means another process, or another Index, has the index open.
	ErrLocked = errors.New("text index is in use")
)
