package bench

import "errors"

// ErrDirNotEmpty is returned by RunText for an index directory that holds
// files already: the benchmark builds a fresh index and removes nothing.
var ErrDirNotEmpty = errors.New("directory is not empty")

// errTimeUp stops a run of bench http whose duration has passed.
var errTimeUp = errors.New("the run's time is up")
