// Package vec holds Duet's numeric kernels on float32 slices: the one small
// place where the model and the indexes spend their arithmetic. The portable
// versions here are the reference; faster versions may replace them behind
// build tags, and must pass the same tests.
package vec

import "math"

// Dot returns the inner product of a and b, which must have equal length
// (b may be longer; its tail is ignored). It uses the fastest kernel the
// build and the CPU allow; see Kernel.
func Dot(a, b []float32) float32 { return dot(a, b) }

// dotPortable is the reference inner product: plain Go, four accumulators.
// The accelerated kernels are tested against it.
func dotPortable(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// DotRows sets out[k] to the inner product of q with row rows[k] of the
// row-major matrix m (rows of len(q) columns), for every k; out must hold
// len(rows) values. It scores a graph node's neighbours in one call: the
// accelerated kernels keep q in registers and let the loads of the rows,
// which on a large index mostly miss the cache, overlap.
func DotRows(q, m []float32, rows []int32, out []float32) { dotRows(q, m, rows, out) }

// dotRowsPortable is the reference DotRows: dotPortable row by row.
func dotRowsPortable(q, m []float32, rows []int32, out []float32) {
	n := len(q)
	out = out[:len(rows)]
	for k, r := range rows {
		out[k] = dotPortable(q, m[int(r)*n:int(r+1)*n])
	}
}

// Axpy adds alpha·x to y, which must be at least as long as x. It uses the
// same kind of kernel as Dot.
func Axpy(alpha float32, x, y []float32) { axpy(alpha, x, y) }

// axpyPortable is the reference Axpy: plain Go.
func axpyPortable(alpha float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		y[i] += alpha * x[i]
		y[i+1] += alpha * x[i+1]
		y[i+2] += alpha * x[i+2]
		y[i+3] += alpha * x[i+3]
	}
	for ; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

// Scale multiplies x by alpha in place.
func Scale(alpha float32, x []float32) { scale(alpha, x) }

// scalePortable is the reference Scale: plain Go.
func scalePortable(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

// AxpyRows adds alpha times the sum of the given rows of the row-major
// matrix m (rows of len(y) columns) to y: the gather of an embedding bag.
// A nil rows means every row of m, in order. Summing before scaling keeps
// the running sum in registers in the accelerated kernels, so a bag costs
// one pass over its rows.
func AxpyRows(alpha float32, m []float32, rows []int32, y []float32) {
	axpyRows(alpha, m, rows, y)
}

// axpyRowsPortable is the reference AxpyRows: plain Go.
func axpyRowsPortable(alpha float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	if n == 0 {
		return
	}
	if rows == nil {
		for o := 0; o+n <= len(m); o += n {
			axpyPortable(alpha, m[o:o+n], y)
		}
		return
	}
	for _, r := range rows {
		axpyPortable(alpha, m[int(r)*n:int(r+1)*n], y)
	}
}

// AxpyRowsW adds w[k] times row rows[k] of the row-major matrix m (rows of
// len(y) columns) to y, for every k: a weighted gather. A nil rows means
// rows 0 to len(w)−1.
func AxpyRowsW(w []float32, m []float32, rows []int32, y []float32) {
	axpyRowsW(w, m, rows, y)
}

// axpyRowsWPortable is the reference AxpyRowsW: plain Go.
func axpyRowsWPortable(w []float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	if rows == nil {
		for k, wk := range w {
			axpyPortable(wk, m[k*n:(k+1)*n], y)
		}
		return
	}
	w = w[:len(rows)]
	for k, r := range rows {
		axpyPortable(w[k], m[int(r)*n:int(r+1)*n], y)
	}
}

// AxpyScatter adds w[k]·x to row rows[k] of the row-major matrix m (rows
// of len(x) columns), for every k: the transpose of AxpyRowsW. A row listed
// twice gets both terms.
func AxpyScatter(w, x, m []float32, rows []int32) { axpyScatter(w, x, m, rows) }

// axpyScatterPortable is the reference AxpyScatter: plain Go.
func axpyScatterPortable(w, x, m []float32, rows []int32) {
	n := len(x)
	w = w[:len(rows)]
	for k, r := range rows {
		axpyPortable(w[k], x, m[int(r)*n:int(r+1)*n])
	}
}

// MatMulAdd adds a·b to dst, all row-major: a is rows×inner, b inner×cols
// and dst rows×cols. Each row of dst is a weighted sum of the rows of b,
// which the accelerated kernels accumulate in registers.
func MatMulAdd(dst, a, b []float32, rows, inner, cols int) {
	matMulAdd(dst[:rows*cols], a[:rows*inner], b[:inner*cols], rows, inner, cols)
}

// matMulAddPortable is the reference MatMulAdd: plain Go.
func matMulAddPortable(dst, a, b []float32, rows, inner, cols int) {
	a, b, dst = a[:rows*inner], b[:inner*cols], dst[:rows*cols]
	for i := range rows {
		axpyRowsWPortable(a[i*inner:(i+1)*inner], b, nil, dst[i*cols:(i+1)*cols])
	}
}

// Norm returns the Euclidean norm of x.
func Norm(x []float32) float32 { return float32(math.Sqrt(float64(Dot(x, x)))) }

// Normalize scales x to unit length and returns its former norm; a zero
// vector is left as it is.
func Normalize(x []float32) float32 {
	n := Norm(x)
	if n > 0 {
		Scale(1/n, x)
	}
	return n
}

// Kernel names the inner-product kernel Dot uses in this build on this CPU
// ("portable", "vek-avx2", "archsimd-avx512", ...), for benchmark reports.
func Kernel() string { return kernel() }
