//go:build amd64 && !goexperiment.simd

package vec

import "golang.org/x/sys/cpu"

// hasAVX512BW reports whether the CPU and the OS run AVX-512 with its
// byte and word instructions, which the assembly kernel needs.
var hasAVX512BW = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW

func fastInt8(n int) bool { return (hasAVX512BW || int8AVX2) && n == 64 }

// dotRowsInt8 is DotRowsInt8 in the default build: the assembly kernel of
// int8_amd64.s on AVX-512 at dimension 64 (int8avx2_amd64.s on AVX2), so
// that `go build` and `go install` walk an index on the codes as the
// GOEXPERIMENT=simd build does.
func dotRowsInt8(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	if !hasAVX512BW || len(q) != 64 || len(rows) == 0 {
		dotRowsInt8AVX2(q, qs, codes, scales, rows, out)
		return
	}
	dotRowsInt8Asm(dotRowsInt8x64, q, qs, codes, scales, rows, out)
}

// dotRowsInt8x64 sets out[k] to the integer inner product of q's 64
// values and row rows[k] of codes, as a float32, for k < n.
//
//go:noescape
func dotRowsInt8x64(q *int16, codes *int8, rows *int32, n int, out *float32)
