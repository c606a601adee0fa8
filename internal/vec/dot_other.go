//go:build !amd64

package vec

func dot(a, b []float32) float32 { return DotPortable(a, b) }

func dotRows(q, m []float32, rows []int32, out []float32) { DotRowsPortable(q, m, rows, out) }

func axpy(alpha float32, x, y []float32) { AxpyPortable(alpha, x, y) }

func scale(alpha float32, x []float32) { ScalePortable(alpha, x) }

func axpyRows(alpha float32, m []float32, rows []int32, y []float32) {
	AxpyRowsPortable(alpha, m, rows, y)
}

func axpyRowsW(w, m []float32, rows []int32, y []float32) { AxpyRowsWPortable(w, m, rows, y) }

func axpyScatter(w, x, m []float32, rows []int32) { AxpyScatterPortable(w, x, m, rows) }

func matMulAdd(dst, a, b []float32, rows, inner, cols int) {
	MatMulAddPortable(dst, a, b, rows, inner, cols)
}

func kernel() string { return "portable" }
