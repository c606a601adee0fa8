package snapshot

import "errors"

var (
	// ErrBadSnapshot means a snapshot is missing, partial, corrupt, of
	// another format version, or its parts disagree. Loading one is refused
	// rather than half-trusted.
	ErrBadSnapshot = errors.New("bad snapshot")

	// ErrLocked means another rebuild holds the data directory's rebuild
	// lock.
	ErrLocked = errors.New("another rebuild holds the lock")
)
