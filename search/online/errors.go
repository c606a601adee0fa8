package online

import "errors"

var (
	// ErrInvalid means an experiment's definition is malformed.
	ErrInvalid = errors.New("invalid experiment")
	// ErrNotFound means no experiment has the given id.
	ErrNotFound = errors.New("no such experiment")
	// ErrConflict means the id is taken, the route already runs an
	// experiment, or the experiment is already stopped.
	ErrConflict = errors.New("experiment conflict")
)
