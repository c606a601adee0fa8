//go:build !linux

package index

import (
	"errors"
	"os"
)

// mapSection maps nothing here: sections are read into the heap.
func mapSection(*os.File, int64, int, int) (mem, b []byte, err error) {
	return nil, nil, errors.ErrUnsupported
}

func unmap([]byte) error { return nil }
