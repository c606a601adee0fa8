//go:build !linux

package index

import "unsafe"

// adviseHuge does nothing where huge pages are not asked for by madvise.
func adviseHuge(unsafe.Pointer, uintptr) {}
