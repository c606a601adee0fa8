package index

import "unsafe"

// The graph's big arrays (vectors, codes, layer-0 lists, visited marks)
// are read at random, a few bytes per 4 KiB page, so on a large index most
// reads also miss the TLB. They are allocated through growHuge, which
// asks the kernel for 2 MiB pages for them before they are first written;
// at 1M vectors that made searches about a tenth faster.

// hugeMin is the size from which an array is worth advising: below it,
// no 2 MiB page lies wholly inside it.
const hugeMin = 4 << 20

// growHuge returns s with room for at least n more elements, like
// slices.Grow, growing by a quarter at a time as append does for large
// slices; a new backing array of hugeMin bytes or more is advised to huge
// pages before the old elements are copied in.
func growHuge[T any](s []T, n int) []T {
	if n <= cap(s)-len(s) {
		return s
	}
	c := max(len(s)+n, 2*cap(s))
	if cap(s) >= 256 {
		c = max(len(s)+n, cap(s)+cap(s)/4)
	}
	t := make([]T, len(s), c)
	if size := uintptr(c) * unsafe.Sizeof(*new(T)); size >= hugeMin {
		adviseHuge(unsafe.Pointer(unsafe.SliceData(t)), size)
	}
	copy(t, s)
	return t
}

// makeHuge returns a zeroed slice of n elements, advised as by growHuge.
func makeHuge[T any](n int) []T { return growHuge[T](nil, n)[:n] }
