//go:build amd64 && !goexperiment.simd

package vec

func dot(a, b []float32) float32 { return dotVek(a, b) }

func dotRows(q, m []float32, rows []int32, out []float32) { dotRowsVek(q, m, rows, out) }

func axpy(alpha float32, x, y []float32) { axpyVek(alpha, x, y) }

func scale(alpha float32, x []float32) { scaleVek(alpha, x) }

func axpyRows(alpha float32, m []float32, rows []int32, y []float32) {
	axpyRowsVek(alpha, m, rows, y)
}

func axpyRowsW(w, m []float32, rows []int32, y []float32) { axpyRowsWVek(w, m, rows, y) }

func axpyScatter(w, x, m []float32, rows []int32) { axpyScatterVek(w, x, m, rows) }

func matMulAdd(dst, a, b []float32, rows, inner, cols int) {
	matMulAddVek(dst, a, b, rows, inner, cols)
}

func kernel() string {
	if vekOK {
		return "vek-avx2"
	}
	return "portable"
}
