//go:build amd64 && !goexperiment.simd

package vec

func dot(a, b []float32) float32 { return dotVek(a, b) }

func dotRows(q, m []float32, rows []int32, out []float32) { dotRowsVek(q, m, rows, out) }

func axpy(alpha float32, x, y []float32) {
	if hasAVX512F {
		axpyAsm(alpha, x, y)
		return
	}
	axpyVek(alpha, x, y)
}

func scale(alpha float32, x []float32) { scaleVek(alpha, x) }

func axpyRows(alpha float32, m []float32, rows []int32, y []float32) {
	axpyRowsVek(alpha, m, rows, y)
}

func axpyRowsW(w, m []float32, rows []int32, y []float32) {
	if hasAVX512F {
		axpyRowsWAsm(w, m, rows, y)
		return
	}
	axpyRowsWVek(w, m, rows, y)
}

func axpyScatter(w, x, m []float32, rows []int32) {
	if hasAVX512F {
		axpyScatterAsm(w, x, m, rows)
		return
	}
	axpyScatterVek(w, x, m, rows)
}

func matMulAdd(dst, a, b []float32, rows, inner, cols int) {
	if hasAVX512F {
		matMulAddAsm(dst, a, b, rows, inner, cols)
		return
	}
	matMulAddVek(dst, a, b, rows, inner, cols)
}

func adam(w, m, v, g []float32, b1, b2, lr, c2, eps float32) {
	if hasAVX512F {
		adamAsm(w, m, v, g, b1, b2, lr, c2, eps)
		return
	}
	adamPortable(w, m, v, g, b1, b2, lr, c2, eps)
}

func kernel() string {
	if vekOK {
		return "vek-avx2"
	}
	return "portable"
}

func expSub(x []float32, m float32) float32 {
	if hasAVX512F {
		return expSubAsm(x, m)
	}
	return expSubPortable(x, m)
}

func maxOf(x []float32) float32 { return maxPortable(x) }
