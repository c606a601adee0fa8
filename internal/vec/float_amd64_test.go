//go:build amd64 && !goexperiment.simd

package vec

func init() {
	if !hasAVX512F {
		return
	}
	axpyKernels["asm-avx512"] = func(alpha float32, x, y []float32) { axpyAsm(alpha, x, y) }
	rowsWKernels["asm-avx512"] = axpyRowsWAsm
	scatterKernels["asm-avx512"] = axpyScatterAsm
	matMulKernels["asm-avx512"] = matMulAddAsm
	adamKernels["asm-avx512"] = adamAsm
	expSubKernels["asm-avx512"] = expSubAsm
}
