package vec

import "math"

// Int8 codes are a compact copy of a vector for scoring where an
// approximate inner product is enough, such as the walk of a graph index
// whose final candidates are re-scored on the float32 vectors. Each vector
// x is coded on its own scale s, with x[i] ≈ s·c[i] and c[i] in [-127,
// 127]: a scale that follows each vector's largest component needs no
// statistics of the whole collection, so codes can be made as vectors
// arrive. The query side is coded in 16 bits (QuantizeInt16), so that the
// products are integer: exact, and on AVX-512 five instructions a row of
// 64 codes, which matters because a walk limited by memory keeps more
// rows' loads in flight the fewer instructions each row costs.

// QuantizeInt8 writes the codes of x to dst, which must hold len(x)
// values, and returns their scale: max|x[i]|/127, or 0 for a zero vector
// (whose codes are all 0).
func QuantizeInt8(dst []int8, x []float32) float32 {
	return float32(quantize(dst, x, 127))
}

// QuantizeInt16 is QuantizeInt8 on 16 bits: dst[i] in [-32767, 32767],
// scale max|x[i]|/32767.
func QuantizeInt16(dst []int16, x []float32) float32 {
	return float32(quantize(dst, x, 32767))
}

// QuantizeInt8Pair writes two rows of codes for x: coarse, as
// QuantizeInt8 writes them, and fine, the codes of what the coarse ones
// leave, x[i] − cs·coarse[i], on their own scale. It returns both scales.
// cs·coarse[i] + fs·fine[i] is within max|x[i]|/64516 of x[i]: the
// precision of 16-bit codes, in two rows that DotRowsInt8 reads, so that
// an index can re-score its candidates without the float32 vectors.
func QuantizeInt8Pair(coarse, fine []int8, x []float32) (cs, fs float32) {
	cs = QuantizeInt8(coarse, x)
	fine = fine[:len(x)]
	var m float64
	for i, v := range x {
		m = max(m, math.Abs(float64(v)-float64(cs)*float64(coarse[i])))
	}
	if m == 0 {
		clear(fine)
		return cs, 0
	}
	for i, v := range x {
		r := float64(v) - float64(cs)*float64(coarse[i])
		fine[i] = int8(min(127, max(-127, math.Round(r*127/m))))
	}
	return cs, float32(m / 127)
}

func quantize[T int8 | int16](dst []T, x []float32, top float64) float64 {
	dst = dst[:len(x)]
	var m float64
	for _, v := range x {
		m = max(m, math.Abs(float64(v)))
	}
	if m == 0 {
		clear(dst)
		return 0
	}
	for i, v := range x {
		// The clamp keeps a rounding error from wrapping around.
		dst[i] = T(min(top, max(-top, math.Round(float64(v)*top/m))))
	}
	return m / top
}

// FastInt8 reports whether DotRowsInt8 has an accelerated kernel for
// dimension n in this build on this CPU (GOEXPERIMENT=simd on AVX-512, at
// dimension 64). Without one it is several times slower than DotRows, and
// a caller choosing between them should score the float32 vectors.
func FastInt8(n int) bool { return fastInt8(n) }

// DotRowsInt8 sets out[k] to Σᵢ q[i]·c[i] · (qs·scales[r]) for the codes c
// in row r = rows[k] of the row-major code table codes (rows of len(q)
// codes): for q ≈ qs·q' and the codes of x on scales[r], the inner
// product q'·x. The integer sum is exact, so every kernel returns the same
// value. out must hold len(rows) values. It is DotRows on a table a
// quarter the size.
func DotRowsInt8(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	dotRowsInt8(q, qs, codes, scales, rows, out)
}

// dotRowsInt8Portable is the reference DotRowsInt8: plain Go.
func dotRowsInt8Portable(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	n := len(q)
	out = out[:len(rows)]
	for k, r := range rows {
		c := codes[int(r)*n : int(r+1)*n]
		// |q[i]·c[i]| < 2²²: an int32 holds the sum of up to 512 of them
		// and an int64 any.
		var sum int64
		for i, x := range c {
			sum += int64(q[i]) * int64(x)
		}
		out[k] = float32(sum) * (qs * scales[r])
	}
}
