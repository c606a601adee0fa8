//go:build goexperiment.simd && amd64

package vec

import "simd/archsimd"

// The kernels below follow dot512 and dot256: loads through array
// pointers, a masked load and store for the tail, and the upper register
// halves cleared before returning to scalar code.

// AxpySIMD computes Axpy with Go's simd/archsimd: 512-bit FMA on AVX-512,
// 256-bit on AVX2, axpyPortable elsewhere.
func AxpySIMD(alpha float32, x, y []float32) {
	switch {
	case hasAVX512 && len(x) >= 16:
		axpy512(alpha, x, y)
	case hasAVX2 && len(x) >= 8:
		axpy256(alpha, x, y)
	default:
		axpyPortable(alpha, x, y)
	}
}

func axpy512(alpha float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	a := archsimd.BroadcastFloat32x16(alpha)
	i := 0
	for ; i+16 <= n; i += 16 {
		yp := (*[16]float32)(y[i : i+16])
		archsimd.LoadFloat32x16((*[16]float32)(x[i:i+16])).MulAdd(a, archsimd.LoadFloat32x16(yp)).Store(yp)
	}
	if i < n {
		archsimd.LoadFloat32x16SlicePart(x[i:]).MulAdd(a, archsimd.LoadFloat32x16SlicePart(y[i:])).StoreSlicePart(y[i:])
	}
	archsimd.ClearAVXUpperBits()
}

func axpy256(alpha float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	a := archsimd.BroadcastFloat32x8(alpha)
	i := 0
	for ; i+8 <= n; i += 8 {
		yp := (*[8]float32)(y[i : i+8])
		archsimd.LoadFloat32x8((*[8]float32)(x[i:i+8])).MulAdd(a, archsimd.LoadFloat32x8(yp)).Store(yp)
	}
	if i < n {
		archsimd.LoadFloat32x8SlicePart(x[i:]).MulAdd(a, archsimd.LoadFloat32x8SlicePart(y[i:])).StoreSlicePart(y[i:])
	}
	archsimd.ClearAVXUpperBits()
}

// ScaleSIMD computes Scale with Go's simd/archsimd, like AxpySIMD.
func ScaleSIMD(alpha float32, x []float32) {
	switch {
	case hasAVX512 && len(x) >= 16:
		scale512(alpha, x)
	case hasAVX2 && len(x) >= 8:
		scale256(alpha, x)
	default:
		scalePortable(alpha, x)
	}
}

func scale512(alpha float32, x []float32) {
	n := len(x)
	a := archsimd.BroadcastFloat32x16(alpha)
	i := 0
	for ; i+16 <= n; i += 16 {
		p := (*[16]float32)(x[i : i+16])
		archsimd.LoadFloat32x16(p).Mul(a).Store(p)
	}
	if i < n {
		archsimd.LoadFloat32x16SlicePart(x[i:]).Mul(a).StoreSlicePart(x[i:])
	}
	archsimd.ClearAVXUpperBits()
}

func scale256(alpha float32, x []float32) {
	n := len(x)
	a := archsimd.BroadcastFloat32x8(alpha)
	i := 0
	for ; i+8 <= n; i += 8 {
		p := (*[8]float32)(x[i : i+8])
		archsimd.LoadFloat32x8(p).Mul(a).Store(p)
	}
	if i < n {
		archsimd.LoadFloat32x8SlicePart(x[i:]).Mul(a).StoreSlicePart(x[i:])
	}
	archsimd.ClearAVXUpperBits()
}

// AxpyRowsSIMD computes AxpyRows with Go's simd/archsimd. Blocks of 64
// columns (32 on AVX2) are summed over the rows in registers, two rows at a
// time so that the adds of one row do not wait on the other's.
func AxpyRowsSIMD(alpha float32, m []float32, rows []int32, y []float32) {
	switch {
	case hasAVX512 && len(y) >= 16:
		axpyRows512(alpha, m, rows, y)
	case hasAVX2 && len(y) >= 8:
		axpyRows256(alpha, m, rows, y)
	default:
		axpyRowsPortable(alpha, m, rows, y)
	}
}

func ld16(x []float32) archsimd.Float32x16 { return archsimd.LoadFloat32x16((*[16]float32)(x)) }

func ld8(x []float32) archsimd.Float32x8 { return archsimd.LoadFloat32x8((*[8]float32)(x)) }

func axpyRows512(alpha float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	cnt := len(rows)
	if rows == nil {
		cnt = len(m) / n
	}
	a := archsimd.BroadcastFloat32x16(alpha)
	j := 0
	for ; j+64 <= n; j += 64 {
		var s0, s1, s2, s3, t0, t1, t2, t3 archsimd.Float32x16
		k := 0
		for ; k+2 <= cnt; k += 2 {
			o, p := k*n+j, (k+1)*n+j
			if rows != nil {
				o, p = int(rows[k])*n+j, int(rows[k+1])*n+j
			}
			x, z := m[o:o+64], m[p:p+64]
			s0, s1, s2, s3 = s0.Add(ld16(x[0:16])), s1.Add(ld16(x[16:32])), s2.Add(ld16(x[32:48])), s3.Add(ld16(x[48:64]))
			t0, t1, t2, t3 = t0.Add(ld16(z[0:16])), t1.Add(ld16(z[16:32])), t2.Add(ld16(z[32:48])), t3.Add(ld16(z[48:64]))
		}
		if k < cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			x := m[o : o+64]
			s0, s1, s2, s3 = s0.Add(ld16(x[0:16])), s1.Add(ld16(x[16:32])), s2.Add(ld16(x[32:48])), s3.Add(ld16(x[48:64]))
		}
		yb := y[j : j+64]
		s0.Add(t0).MulAdd(a, ld16(yb[0:16])).Store((*[16]float32)(yb[0:16]))
		s1.Add(t1).MulAdd(a, ld16(yb[16:32])).Store((*[16]float32)(yb[16:32]))
		s2.Add(t2).MulAdd(a, ld16(yb[32:48])).Store((*[16]float32)(yb[32:48]))
		s3.Add(t3).MulAdd(a, ld16(yb[48:64])).Store((*[16]float32)(yb[48:64]))
	}
	for ; j+16 <= n; j += 16 {
		var s archsimd.Float32x16
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = s.Add(ld16(m[o : o+16]))
		}
		yb := y[j : j+16]
		s.MulAdd(a, ld16(yb)).Store((*[16]float32)(yb))
	}
	if j < n {
		var s archsimd.Float32x16
		c := n - j
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = s.Add(archsimd.LoadFloat32x16SlicePart(m[o : o+c]))
		}
		s.MulAdd(a, archsimd.LoadFloat32x16SlicePart(y[j:])).StoreSlicePart(y[j:])
	}
	archsimd.ClearAVXUpperBits()
}

func axpyRows256(alpha float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	cnt := len(rows)
	if rows == nil {
		cnt = len(m) / n
	}
	a := archsimd.BroadcastFloat32x8(alpha)
	j := 0
	for ; j+32 <= n; j += 32 {
		var s0, s1, s2, s3, t0, t1, t2, t3 archsimd.Float32x8
		k := 0
		for ; k+2 <= cnt; k += 2 {
			o, p := k*n+j, (k+1)*n+j
			if rows != nil {
				o, p = int(rows[k])*n+j, int(rows[k+1])*n+j
			}
			x, z := m[o:o+32], m[p:p+32]
			s0, s1, s2, s3 = s0.Add(ld8(x[0:8])), s1.Add(ld8(x[8:16])), s2.Add(ld8(x[16:24])), s3.Add(ld8(x[24:32]))
			t0, t1, t2, t3 = t0.Add(ld8(z[0:8])), t1.Add(ld8(z[8:16])), t2.Add(ld8(z[16:24])), t3.Add(ld8(z[24:32]))
		}
		if k < cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			x := m[o : o+32]
			s0, s1, s2, s3 = s0.Add(ld8(x[0:8])), s1.Add(ld8(x[8:16])), s2.Add(ld8(x[16:24])), s3.Add(ld8(x[24:32]))
		}
		yb := y[j : j+32]
		s0.Add(t0).MulAdd(a, ld8(yb[0:8])).Store((*[8]float32)(yb[0:8]))
		s1.Add(t1).MulAdd(a, ld8(yb[8:16])).Store((*[8]float32)(yb[8:16]))
		s2.Add(t2).MulAdd(a, ld8(yb[16:24])).Store((*[8]float32)(yb[16:24]))
		s3.Add(t3).MulAdd(a, ld8(yb[24:32])).Store((*[8]float32)(yb[24:32]))
	}
	for ; j+8 <= n; j += 8 {
		var s archsimd.Float32x8
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = s.Add(ld8(m[o : o+8]))
		}
		yb := y[j : j+8]
		s.MulAdd(a, ld8(yb)).Store((*[8]float32)(yb))
	}
	if j < n {
		var s archsimd.Float32x8
		c := n - j
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = s.Add(archsimd.LoadFloat32x8SlicePart(m[o : o+c]))
		}
		s.MulAdd(a, archsimd.LoadFloat32x8SlicePart(y[j:])).StoreSlicePart(y[j:])
	}
	archsimd.ClearAVXUpperBits()
}

// AxpyRowsWSIMD computes AxpyRowsW with Go's simd/archsimd, blocked like
// AxpyRowsSIMD.
func AxpyRowsWSIMD(w []float32, m []float32, rows []int32, y []float32) {
	switch {
	case hasAVX512 && len(y) >= 16:
		axpyRowsW512(w, m, rows, y)
	case hasAVX2 && len(y) >= 8:
		axpyRowsW256(w, m, rows, y)
	default:
		axpyRowsWPortable(w, m, rows, y)
	}
}

func axpyRowsW512(w []float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	if rows != nil {
		w = w[:len(rows)]
	}
	cnt := len(w)
	j := 0
	for ; j+64 <= n; j += 64 {
		yb := y[j : j+64]
		s0, s1, s2, s3 := ld16(yb[0:16]), ld16(yb[16:32]), ld16(yb[32:48]), ld16(yb[48:64])
		var t0, t1, t2, t3 archsimd.Float32x16
		k := 0
		for ; k+2 <= cnt; k += 2 {
			o, p := k*n+j, (k+1)*n+j
			if rows != nil {
				o, p = int(rows[k])*n+j, int(rows[k+1])*n+j
			}
			x, z := m[o:o+64], m[p:p+64]
			a, b := archsimd.BroadcastFloat32x16(w[k]), archsimd.BroadcastFloat32x16(w[k+1])
			s0, s1, s2, s3 = ld16(x[0:16]).MulAdd(a, s0), ld16(x[16:32]).MulAdd(a, s1), ld16(x[32:48]).MulAdd(a, s2), ld16(x[48:64]).MulAdd(a, s3)
			t0, t1, t2, t3 = ld16(z[0:16]).MulAdd(b, t0), ld16(z[16:32]).MulAdd(b, t1), ld16(z[32:48]).MulAdd(b, t2), ld16(z[48:64]).MulAdd(b, t3)
		}
		if k < cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			x := m[o : o+64]
			a := archsimd.BroadcastFloat32x16(w[k])
			s0, s1, s2, s3 = ld16(x[0:16]).MulAdd(a, s0), ld16(x[16:32]).MulAdd(a, s1), ld16(x[32:48]).MulAdd(a, s2), ld16(x[48:64]).MulAdd(a, s3)
		}
		s0.Add(t0).Store((*[16]float32)(yb[0:16]))
		s1.Add(t1).Store((*[16]float32)(yb[16:32]))
		s2.Add(t2).Store((*[16]float32)(yb[32:48]))
		s3.Add(t3).Store((*[16]float32)(yb[48:64]))
	}
	for ; j+16 <= n; j += 16 {
		yb := y[j : j+16]
		s := ld16(yb)
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = ld16(m[o:o+16]).MulAdd(archsimd.BroadcastFloat32x16(w[k]), s)
		}
		s.Store((*[16]float32)(yb))
	}
	if j < n {
		c := n - j
		s := archsimd.LoadFloat32x16SlicePart(y[j:])
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = archsimd.LoadFloat32x16SlicePart(m[o:o+c]).MulAdd(archsimd.BroadcastFloat32x16(w[k]), s)
		}
		s.StoreSlicePart(y[j:])
	}
	archsimd.ClearAVXUpperBits()
}

// AxpyScatterSIMD computes AxpyScatter with Go's simd/archsimd: a block of
// x stays in registers while it is added to every row.
func AxpyScatterSIMD(w, x, m []float32, rows []int32) {
	switch {
	case hasAVX512 && len(x) >= 16:
		axpyScatter512(w, x, m, rows)
	case hasAVX2 && len(x) >= 8:
		axpyScatter256(w, x, m, rows)
	default:
		axpyScatterPortable(w, x, m, rows)
	}
}

func axpyScatter512(w, x, m []float32, rows []int32) {
	n := len(x)
	w = w[:len(rows)]
	j := 0
	for ; j+64 <= n; j += 64 {
		xb := x[j : j+64]
		x0, x1, x2, x3 := ld16(xb[0:16]), ld16(xb[16:32]), ld16(xb[32:48]), ld16(xb[48:64])
		for k, r := range rows {
			a := archsimd.BroadcastFloat32x16(w[k])
			o := int(r)*n + j
			yb := m[o : o+64]
			x0.MulAdd(a, ld16(yb[0:16])).Store((*[16]float32)(yb[0:16]))
			x1.MulAdd(a, ld16(yb[16:32])).Store((*[16]float32)(yb[16:32]))
			x2.MulAdd(a, ld16(yb[32:48])).Store((*[16]float32)(yb[32:48]))
			x3.MulAdd(a, ld16(yb[48:64])).Store((*[16]float32)(yb[48:64]))
		}
	}
	for ; j+16 <= n; j += 16 {
		xv := ld16(x[j : j+16])
		for k, r := range rows {
			o := int(r)*n + j
			yb := m[o : o+16]
			xv.MulAdd(archsimd.BroadcastFloat32x16(w[k]), ld16(yb)).Store((*[16]float32)(yb))
		}
	}
	if j < n {
		c := n - j
		xv := archsimd.LoadFloat32x16SlicePart(x[j:])
		for k, r := range rows {
			o := int(r)*n + j
			yb := m[o : o+c]
			xv.MulAdd(archsimd.BroadcastFloat32x16(w[k]), archsimd.LoadFloat32x16SlicePart(yb)).StoreSlicePart(yb)
		}
	}
	archsimd.ClearAVXUpperBits()
}

func axpyRowsW256(w []float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	if rows != nil {
		w = w[:len(rows)]
	}
	cnt := len(w)
	j := 0
	for ; j+32 <= n; j += 32 {
		yb := y[j : j+32]
		s0, s1, s2, s3 := ld8(yb[0:8]), ld8(yb[8:16]), ld8(yb[16:24]), ld8(yb[24:32])
		var t0, t1, t2, t3 archsimd.Float32x8
		k := 0
		for ; k+2 <= cnt; k += 2 {
			o, p := k*n+j, (k+1)*n+j
			if rows != nil {
				o, p = int(rows[k])*n+j, int(rows[k+1])*n+j
			}
			x, z := m[o:o+32], m[p:p+32]
			a, b := archsimd.BroadcastFloat32x8(w[k]), archsimd.BroadcastFloat32x8(w[k+1])
			s0, s1, s2, s3 = ld8(x[0:8]).MulAdd(a, s0), ld8(x[8:16]).MulAdd(a, s1), ld8(x[16:24]).MulAdd(a, s2), ld8(x[24:32]).MulAdd(a, s3)
			t0, t1, t2, t3 = ld8(z[0:8]).MulAdd(b, t0), ld8(z[8:16]).MulAdd(b, t1), ld8(z[16:24]).MulAdd(b, t2), ld8(z[24:32]).MulAdd(b, t3)
		}
		if k < cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			x := m[o : o+32]
			a := archsimd.BroadcastFloat32x8(w[k])
			s0, s1, s2, s3 = ld8(x[0:8]).MulAdd(a, s0), ld8(x[8:16]).MulAdd(a, s1), ld8(x[16:24]).MulAdd(a, s2), ld8(x[24:32]).MulAdd(a, s3)
		}
		s0.Add(t0).Store((*[8]float32)(yb[0:8]))
		s1.Add(t1).Store((*[8]float32)(yb[8:16]))
		s2.Add(t2).Store((*[8]float32)(yb[16:24]))
		s3.Add(t3).Store((*[8]float32)(yb[24:32]))
	}
	for ; j+8 <= n; j += 8 {
		yb := y[j : j+8]
		s := ld8(yb)
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = ld8(m[o:o+8]).MulAdd(archsimd.BroadcastFloat32x8(w[k]), s)
		}
		s.Store((*[8]float32)(yb))
	}
	if j < n {
		c := n - j
		s := archsimd.LoadFloat32x8SlicePart(y[j:])
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			s = archsimd.LoadFloat32x8SlicePart(m[o:o+c]).MulAdd(archsimd.BroadcastFloat32x8(w[k]), s)
		}
		s.StoreSlicePart(y[j:])
	}
	archsimd.ClearAVXUpperBits()
}

func axpyScatter256(w, x, m []float32, rows []int32) {
	n := len(x)
	w = w[:len(rows)]
	j := 0
	for ; j+32 <= n; j += 32 {
		xb := x[j : j+32]
		x0, x1, x2, x3 := ld8(xb[0:8]), ld8(xb[8:16]), ld8(xb[16:24]), ld8(xb[24:32])
		for k, r := range rows {
			a := archsimd.BroadcastFloat32x8(w[k])
			o := int(r)*n + j
			yb := m[o : o+32]
			x0.MulAdd(a, ld8(yb[0:8])).Store((*[8]float32)(yb[0:8]))
			x1.MulAdd(a, ld8(yb[8:16])).Store((*[8]float32)(yb[8:16]))
			x2.MulAdd(a, ld8(yb[16:24])).Store((*[8]float32)(yb[16:24]))
			x3.MulAdd(a, ld8(yb[24:32])).Store((*[8]float32)(yb[24:32]))
		}
	}
	for ; j+8 <= n; j += 8 {
		xv := ld8(x[j : j+8])
		for k, r := range rows {
			o := int(r)*n + j
			yb := m[o : o+8]
			xv.MulAdd(archsimd.BroadcastFloat32x8(w[k]), ld8(yb)).Store((*[8]float32)(yb))
		}
	}
	if j < n {
		c := n - j
		xv := archsimd.LoadFloat32x8SlicePart(x[j:])
		for k, r := range rows {
			o := int(r)*n + j
			yb := m[o : o+c]
			xv.MulAdd(archsimd.BroadcastFloat32x8(w[k]), archsimd.LoadFloat32x8SlicePart(yb)).StoreSlicePart(yb)
		}
	}
	archsimd.ClearAVXUpperBits()
}

// MatMulAddSIMD computes MatMulAdd with Go's simd/archsimd. On AVX-512,
// when cols is a multiple of 32, it works on tiles of four rows by 32
// columns held in eight registers, so that each block of b loaded serves
// four rows; otherwise it goes row by row with AxpyRowsWSIMD.
func MatMulAddSIMD(dst, a, b []float32, rows, inner, cols int) {
	a, b, dst = a[:rows*inner], b[:inner*cols], dst[:rows*cols]
	i := 0
	if hasAVX512 && cols%32 == 0 {
		for ; i+4 <= rows; i += 4 {
			matMulTile512(dst[i*cols:(i+4)*cols], a[i*inner:(i+4)*inner], b, inner, cols)
		}
	}
	for ; i < rows; i++ {
		AxpyRowsWSIMD(a[i*inner:(i+1)*inner], b, nil, dst[i*cols:(i+1)*cols])
	}
}

// matMulTile512 adds four rows of a (4×inner) times b (inner×cols) to dst
// (4×cols), cols a multiple of 32. The tile is 4×32, not wider: the
// compiler allocates 15 vector registers, and a 4×64 tile's 16
// accumulators spilled to the stack on every step of the inner loop.
func matMulTile512(dst, a, b []float32, inner, cols int) {
	a0, a1, a2, a3 := a[:inner], a[inner:2*inner], a[2*inner:3*inner], a[3*inner:4*inner]
	for j := 0; j+32 <= cols; j += 32 {
		d0, d1, d2, d3 := dst[j:j+32], dst[cols+j:cols+j+32], dst[2*cols+j:2*cols+j+32], dst[3*cols+j:3*cols+j+32]
		c00, c01 := ld16(d0[0:16]), ld16(d0[16:32])
		c10, c11 := ld16(d1[0:16]), ld16(d1[16:32])
		c20, c21 := ld16(d2[0:16]), ld16(d2[16:32])
		c30, c31 := ld16(d3[0:16]), ld16(d3[16:32])
		for k := range inner {
			o := k*cols + j
			bb := b[o : o+32]
			b0, b1 := ld16(bb[0:16]), ld16(bb[16:32])
			x := archsimd.BroadcastFloat32x16(a0[k])
			c00, c01 = b0.MulAdd(x, c00), b1.MulAdd(x, c01)
			x = archsimd.BroadcastFloat32x16(a1[k])
			c10, c11 = b0.MulAdd(x, c10), b1.MulAdd(x, c11)
			x = archsimd.BroadcastFloat32x16(a2[k])
			c20, c21 = b0.MulAdd(x, c20), b1.MulAdd(x, c21)
			x = archsimd.BroadcastFloat32x16(a3[k])
			c30, c31 = b0.MulAdd(x, c30), b1.MulAdd(x, c31)
		}
		c00.Store((*[16]float32)(d0[0:16]))
		c01.Store((*[16]float32)(d0[16:32]))
		c10.Store((*[16]float32)(d1[0:16]))
		c11.Store((*[16]float32)(d1[16:32]))
		c20.Store((*[16]float32)(d2[0:16]))
		c21.Store((*[16]float32)(d2[16:32]))
		c30.Store((*[16]float32)(d3[0:16]))
		c31.Store((*[16]float32)(d3[16:32]))
	}
	archsimd.ClearAVXUpperBits()
}
