package vec

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// int8AVX2 reports whether the CPU and the OS run AVX2, which the kernel
// of int8avx2_amd64.s needs: the int8 kernel of CPUs without AVX-512, in
// both builds.
var int8AVX2 = cpu.X86.HasAVX2

// dotRowsInt8AVX2 is DotRowsInt8 through the AVX2 assembly kernel at
// dimension 64, the portable one otherwise.
func dotRowsInt8AVX2(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	if !int8AVX2 || len(q) != 64 || len(rows) == 0 {
		dotRowsInt8Portable(q, qs, codes, scales, rows, out)
		return
	}
	dotRowsInt8Asm(dotRowsInt8x64AVX2, q, qs, codes, scales, rows, out)
}

// dotRowsInt8Asm is DotRowsInt8 through kernel, an assembly kernel of
// 64-code rows (len(q) is 64, rows is not empty). The kernels read the
// rows unchecked: every row is checked first, as slicing would.
func dotRowsInt8Asm(kernel func(q *int16, codes *int8, rows *int32, n int, out *float32), q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	out = out[:len(rows)]
	table := len(codes) / 64
	for _, r := range rows {
		if uint(r) >= uint(table) {
			panic(fmt.Sprintf("vec: DotRowsInt8 row %d outside a table of %d rows", r, table))
		}
	}
	kernel(&q[0], unsafe.SliceData(codes), &rows[0], len(rows), &out[0])
	for k, r := range rows {
		out[k] *= qs * scales[r]
	}
}

// dotRowsInt8x64AVX2 sets out[k] to the integer inner product of q's 64
// values and row rows[k] of codes, as a float32, for k < n.
//
//go:noescape
func dotRowsInt8x64AVX2(q *int16, codes *int8, rows *int32, n int, out *float32)
