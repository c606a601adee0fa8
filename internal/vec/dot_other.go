//go:build !amd64

package vec

func dot(a, b []float32) float32 { return dotPortable(a, b) }

func dotRows(q, m []float32, rows []int32, out []float32) { dotRowsPortable(q, m, rows, out) }

func axpy(alpha float32, x, y []float32) { axpyPortable(alpha, x, y) }

func scale(alpha float32, x []float32) { scalePortable(alpha, x) }

func axpyRows(alpha float32, m []float32, rows []int32, y []float32) {
	axpyRowsPortable(alpha, m, rows, y)
}

func axpyRowsW(w, m []float32, rows []int32, y []float32) { axpyRowsWPortable(w, m, rows, y) }

func axpyScatter(w, x, m []float32, rows []int32) { axpyScatterPortable(w, x, m, rows) }

func matMulAdd(dst, a, b []float32, rows, inner, cols int) {
	matMulAddPortable(dst, a, b, rows, inner, cols)
}

func kernel() string { return "portable" }
