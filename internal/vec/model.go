package vec

import "math"

// MatVec sets dst[i] to the inner product of row i of the row-major matrix m
// (len(dst) rows of len(x) columns) with x.
func MatVec(dst, m, x []float32) {
	n := len(x)
	m = m[:len(dst)*n]
	for i := range dst {
		dst[i] = Dot(m[i*n:(i+1)*n], x)
	}
}

// MatTVecAdd adds mᵀx to dst, where m is row-major with len(x) rows of
// len(dst) columns.
func MatTVecAdd(dst, m, x []float32) {
	n := len(dst)
	m = m[:len(x)*n]
	for i, xi := range x {
		if xi != 0 {
			Axpy(xi, m[i*n:(i+1)*n], dst)
		}
	}
}

// AddOuter adds alpha·x⊗y to the row-major matrix m of len(x) rows of len(y)
// columns.
func AddOuter(m []float32, alpha float32, x, y []float32) {
	n := len(y)
	m = m[:len(x)*n]
	for i, xi := range x {
		if xi != 0 {
			Axpy(alpha*xi, y, m[i*n:(i+1)*n])
		}
	}
}

// Softmax replaces x by its softmax and returns log Σ exp(x), computed in a
// numerically stable way. Entries equal to -Inf (masked) get probability 0.
// If every entry is -Inf, x is set to zeros and -Inf is returned.
func Softmax(x []float32) float32 {
	if len(x) == 0 {
		return float32(math.Inf(-1))
	}
	mx := Max(x)
	if math.IsInf(float64(mx), -1) {
		clear(x)
		return mx
	}
	sum := ExpSub(x, mx) // ≥ 1: the maximum's own term
	Scale(1/sum, x)
	return mx + float32(math.Log(float64(sum)))
}
