//go:build goexperiment.simd && amd64

package vec

func init() {
	kernels["archsimd"] = DotSIMD
	dotRowsKernels["archsimd"] = DotRowsSIMD
	axpyKernels["archsimd"] = AxpySIMD
	scaleKernels["archsimd"] = ScaleSIMD
	rowsKernels["archsimd"] = AxpyRowsSIMD
	rowsWKernels["archsimd"] = AxpyRowsWSIMD
	scatterKernels["archsimd"] = AxpyScatterSIMD
	matMulKernels["archsimd"] = MatMulAddSIMD
	adamKernels["archsimd"] = AdamSIMD
	// Force the 256-bit paths too, which AVX-512 machines would not take.
	if !hasAVX2 {
		return
	}
	kernels["archsimd-avx2"] = func(a, b []float32) float32 {
		if len(a) < 8 {
			return dotPortable(a, b)
		}
		return dot256(a, b)
	}
	axpyKernels["archsimd-avx2"] = func(alpha float32, x, y []float32) {
		if len(x) < 8 {
			axpyPortable(alpha, x, y)
			return
		}
		axpy256(alpha, x, y)
	}
	scaleKernels["archsimd-avx2"] = func(alpha float32, x []float32) {
		if len(x) < 8 {
			scalePortable(alpha, x)
			return
		}
		scale256(alpha, x)
	}
	rowsKernels["archsimd-avx2"] = func(alpha float32, m []float32, rows []int32, y []float32) {
		if len(y) < 8 {
			axpyRowsPortable(alpha, m, rows, y)
			return
		}
		axpyRows256(alpha, m, rows, y)
	}
	rowsWKernels["archsimd-avx2"] = func(w, m []float32, rows []int32, y []float32) {
		if len(y) < 8 {
			axpyRowsWPortable(w, m, rows, y)
			return
		}
		axpyRowsW256(w, m, rows, y)
	}
	scatterKernels["archsimd-avx2"] = func(w, x, m []float32, rows []int32) {
		if len(x) < 8 {
			axpyScatterPortable(w, x, m, rows)
			return
		}
		axpyScatter256(w, x, m, rows)
	}
}

func init() {
	expSubKernels["archsimd"] = ExpSubSIMD
	maxKernels["archsimd"] = MaxSIMD
	dotRowsInt8Kernels["archsimd"] = DotRowsInt8SIMD
	int8Fast = hasAVX512 || int8AVX2
}
