package content

import (
	"errors"
	"fmt"
)

// Errors callers branch on, with errors.Is.
var (
	// ErrInvalid is matched by every validation failure.
	ErrInvalid = errors.New("invalid record")
	// ErrNotFound means the item or synonym set does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means an item to be created is already in the catalog.
	ErrExists = errors.New("already exists")
	// ErrUnknownItem means an event names an item the catalog does not hold.
	ErrUnknownItem = errors.New("unknown item")
	// ErrUnknownImpression means an event names an impression the
	// feedback log does not hold (never recorded, or pruned).
	ErrUnknownImpression = errors.New("unknown impression")
	// ErrImpressionExpired means an event names an impression older than
	// the attribution window.
	ErrImpressionExpired = errors.New("impression expired")
	// ErrNotShown means an event names an impression that did not show
	// its item, or showed it to another user.
	ErrNotShown = errors.New("item was not shown by impression")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrLocked means another process holds the store open.
	ErrLocked = errors.New("store is in use by another process")
	// ErrConflict means a write was made against a state that has changed
	// since it was read; read again and retry.
	ErrConflict = errors.New("changed since read")
	// ErrUnavailable means the store could not be reached (a database
	// that is down or unreachable); nothing was written. Try again later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrSchemaNewer means the database was written by a newer Duet,
	// whose tables this binary cannot read.
	ErrSchemaNewer = errors.New("schema is newer than this binary")
	// ErrNotEmpty means a restore was asked into a store that holds data.
	ErrNotEmpty = errors.New("store is not empty")
)

// ValidationError says which field of a record is wrong and why.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is lets callers test any validation failure with errors.Is(err, ErrInvalid).
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// RowError locates a malformed row.
type RowError struct {
	File string
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }
