//go:build amd64 && !goexperiment.simd

package vec

func dot(a, b []float32) float32 { return DotVek(a, b) }

func dotRows(q, m []float32, rows []int32, out []float32) { DotRowsVek(q, m, rows, out) }

func axpy(alpha float32, x, y []float32) { AxpyVek(alpha, x, y) }

func scale(alpha float32, x []float32) { ScaleVek(alpha, x) }

func axpyRows(alpha float32, m []float32, rows []int32, y []float32) {
	AxpyRowsVek(alpha, m, rows, y)
}

func axpyRowsW(w, m []float32, rows []int32, y []float32) { AxpyRowsWVek(w, m, rows, y) }

func axpyScatter(w, x, m []float32, rows []int32) { AxpyScatterVek(w, x, m, rows) }

// matMulAdd goes row by row: vek has no matrix product of this shape.
func matMulAdd(dst, a, b []float32, rows, inner, cols int) {
	for i := range rows {
		AxpyRowsWVek(a[i*inner:(i+1)*inner], b, nil, dst[i*cols:(i+1)*cols])
	}
}

func kernel() string {
	if vekOK {
		return "vek-avx2"
	}
	return "portable"
}
