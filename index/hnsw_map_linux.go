package index

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapSection maps n bytes of f at off, private and writable, at the start
// of a reservation of n+room bytes whose rest is zeroed anonymous memory.
// It returns the whole reservation, for munmap, and the section with the
// room as its capacity.
func mapSection(f *os.File, off int64, n, room int) (mem, b []byte, err error) {
	total := (n + room + pageAlign - 1) / pageAlign * pageAlign
	mem, err = unix.Mmap(-1, 0, total, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, nil, err
	}
	// The file's pages cover the section and the rest of its last page,
	// which the writer filled with zeros up to the next section.
	if _, err := unix.MmapPtr(int(f.Fd()), off, unsafe.Pointer(unsafe.SliceData(mem)), uintptr(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
		unix.Munmap(mem)
		return nil, nil, err
	}
	return mem, mem[: n : n+room], nil
}

// unmap releases what mapSection mapped.
func unmap(mem []byte) error { return unix.Munmap(mem) }
