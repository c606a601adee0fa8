package index

import (
	"syscall"
	"unsafe"
)

// madvHugepage is MADV_HUGEPAGE, which package syscall does not name.
const madvHugepage = 14

// adviseHuge marks the 2 MiB pages wholly inside the n bytes at p for
// transparent huge pages. It is advice: where the kernel has them off, or
// the call fails, the memory stays in small pages and only speed differs.
// Pages already touched are left to the kernel's background collapsing.
func adviseHuge(p unsafe.Pointer, n uintptr) {
	const huge = 2 << 20
	start := (uintptr(p) + huge - 1) &^ (huge - 1)
	end := (uintptr(p) + n) &^ (huge - 1)
	if end <= start {
		return
	}
	_ = syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, start-uintptr(p))), end-start), madvHugepage)
}
