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

// DotPortable is the reference inner product: plain Go, four accumulators.
// The accelerated kernels are tested against it.
func DotPortable(a, b []float32) float32 {
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

// Axpy adds alpha·x to y, which must be at least as long as x.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

// Scale multiplies x by alpha in place.
func Scale(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
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
