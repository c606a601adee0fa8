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

var (
	// ErrNeedsIndex means a snapshot's vectors and text are in a Weaviate
	// collection and no cluster was given.
	ErrNeedsIndex = errors.New("no Weaviate cluster given")

	// ErrRemote means an operation needs the snapshot's own files, which a
	// snapshot whose index is in Weaviate lacks.
	ErrRemote = errors.New("the snapshot's index is in Weaviate")
)
