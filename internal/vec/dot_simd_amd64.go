//go:build goexperiment.simd && amd64

package vec

import "simd/archsimd"

var (
	hasAVX512 = archsimd.X86.AVX512()
	hasAVX2   = archsimd.X86.AVX2() && archsimd.X86.FMA()
)

func dot(a, b []float32) float32 { return DotSIMD(a, b) }

func axpy(alpha float32, x, y []float32) { AxpySIMD(alpha, x, y) }

func scale(alpha float32, x []float32) { ScaleSIMD(alpha, x) }

func axpyRows(alpha float32, m []float32, rows []int32, y []float32) {
	AxpyRowsSIMD(alpha, m, rows, y)
}

func axpyRowsW(w, m []float32, rows []int32, y []float32) { AxpyRowsWSIMD(w, m, rows, y) }

func axpyScatter(w, x, m []float32, rows []int32) { AxpyScatterSIMD(w, x, m, rows) }

func matMulAdd(dst, a, b []float32, rows, inner, cols int) {
	MatMulAddSIMD(dst, a, b, rows, inner, cols)
}

func kernel() string {
	switch {
	case hasAVX512:
		return "archsimd-avx512"
	case hasAVX2:
		return "archsimd-avx2"
	}
	return "portable"
}

// DotSIMD computes Dot with Go's simd/archsimd: 512-bit FMA on AVX-512,
// 256-bit on AVX2, DotPortable elsewhere. Two accumulators hide the FMA
// latency at the short lengths (64–256) embeddings have.
func DotSIMD(a, b []float32) float32 {
	b = b[:len(a)]
	switch {
	case hasAVX512 && len(a) >= 16:
		return dot512(a, b)
	case hasAVX2 && len(a) >= 8:
		return dot256(a, b)
	}
	return DotPortable(a, b)
}

// The loads below go through array pointers rather than the Slice loaders:
// the conversion is one bounds check the compiler hoists, and at dimension
// 64 that made the kernel about 1.5× faster.

func dot512(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1 archsimd.Float32x16
	i := 0
	for ; i+32 <= n; i += 32 {
		s0 = archsimd.LoadFloat32x16((*[16]float32)(a[i:i+16])).MulAdd(archsimd.LoadFloat32x16((*[16]float32)(b[i:i+16])), s0)
		s1 = archsimd.LoadFloat32x16((*[16]float32)(a[i+16:i+32])).MulAdd(archsimd.LoadFloat32x16((*[16]float32)(b[i+16:i+32])), s1)
	}
	if i+16 <= n {
		s0 = archsimd.LoadFloat32x16((*[16]float32)(a[i:i+16])).MulAdd(archsimd.LoadFloat32x16((*[16]float32)(b[i:i+16])), s0)
		i += 16
	}
	if i < n {
		s1 = archsimd.LoadFloat32x16SlicePart(a[i:]).MulAdd(archsimd.LoadFloat32x16SlicePart(b[i:]), s1)
	}
	s := s0.Add(s1)
	h := s.GetLo().Add(s.GetHi())
	r := hsum4(h.GetLo().Add(h.GetHi()))
	// Go's scalar float code is SSE: left dirty, the upper register halves
	// made every caller of this kernel about 20× slower.
	archsimd.ClearAVXUpperBits()
	return r
}

func dot256(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	var s0, s1 archsimd.Float32x8
	i := 0
	for ; i+16 <= n; i += 16 {
		s0 = archsimd.LoadFloat32x8((*[8]float32)(a[i:i+8])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i:i+8])), s0)
		s1 = archsimd.LoadFloat32x8((*[8]float32)(a[i+8:i+16])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i+8:i+16])), s1)
	}
	if i+8 <= n {
		s0 = archsimd.LoadFloat32x8((*[8]float32)(a[i:i+8])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(b[i:i+8])), s0)
		i += 8
	}
	if i < n {
		s1 = archsimd.LoadFloat32x8SlicePart(a[i:]).MulAdd(archsimd.LoadFloat32x8SlicePart(b[i:]), s1)
	}
	s := s0.Add(s1)
	r := hsum4(s.GetLo().Add(s.GetHi()))
	archsimd.ClearAVXUpperBits()
	return r
}

func hsum4(x archsimd.Float32x4) float32 {
	x = x.AddPairs(x)
	x = x.AddPairs(x)
	return x.GetElem(0)
}
