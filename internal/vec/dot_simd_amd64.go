//go:build goexperiment.simd && amd64

package vec

import "simd/archsimd"

var (
	hasAVX512 = archsimd.X86.AVX512()
	hasAVX2   = archsimd.X86.AVX2() && archsimd.X86.FMA()
)

func dot(a, b []float32) float32 { return DotSIMD(a, b) }

func dotRows(q, m []float32, rows []int32, out []float32) { DotRowsSIMD(q, m, rows, out) }

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
// 256-bit on AVX2, dotPortable elsewhere. Two accumulators hide the FMA
// latency at the short lengths (64–256) embeddings have.
func DotSIMD(a, b []float32) float32 {
	b = b[:len(a)]
	switch {
	case hasAVX512 && len(a) >= 16:
		return dot512(a, b)
	case hasAVX2 && len(a) >= 8:
		return dot256(a, b)
	}
	return dotPortable(a, b)
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

// DotRowsSIMD computes DotRows with Go's simd/archsimd. At dimension 64 on
// AVX-512, the width of Duet's embeddings, q stays in four registers across
// the rows; other shapes take DotSIMD row by row.
func DotRowsSIMD(q, m []float32, rows []int32, out []float32) {
	n := len(q)
	if hasAVX512 && n == 64 {
		dotRows64(q, m, rows, out)
		return
	}
	out = out[:len(rows)]
	for k, r := range rows {
		out[k] = DotSIMD(q, m[int(r)*n:int(r+1)*n])
	}
}

// dotRows64 stores each sum straight from its vector register with a
// one-lane masked store: a float moved to a scalar register, or a vector
// spilled, while the upper register halves are dirty costs hundreds of
// nanoseconds here (the reason dot512 clears them before returning), so the
// loop calls nothing and the halves are cleared once at the end.
func dotRows64(q, m []float32, rows []int32, out []float32) {
	q0, q1, q2, q3 := ld16(q[0:16]), ld16(q[16:32]), ld16(q[32:48]), ld16(q[48:64])
	out = out[:len(rows)]
	for k, r := range rows {
		o := int(r) * 64
		x := m[o : o+64 : o+64]
		// Two chains, so that a row's four products do not all wait on
		// each other.
		s := ld16(x[0:16]).Mul(q0)
		t := ld16(x[32:48]).Mul(q2)
		s = ld16(x[16:32]).MulAdd(q1, s)
		t = ld16(x[48:64]).MulAdd(q3, t)
		spread4(fold16(s.Add(t))).StoreSlicePart(out[k : k+1])
	}
	archsimd.ClearAVXUpperBits()
}

// fold16 adds the quarters of a vector into four lanes with the same sum.
func fold16(s archsimd.Float32x16) archsimd.Float32x4 {
	h := s.GetLo().Add(s.GetHi())
	return h.GetLo().Add(h.GetHi())
}

// spread4 returns the sum of x's lanes in every lane.
func spread4(x archsimd.Float32x4) archsimd.Float32x4 {
	x = x.AddPairs(x)
	return x.AddPairs(x)
}
