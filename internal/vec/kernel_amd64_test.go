//go:build amd64

package vec

func init() {
	kernels["vek"] = dotVek
	dotRowsKernels["vek"] = dotRowsVek
	axpyKernels["vek"] = axpyVek
	scaleKernels["vek"] = scaleVek
	rowsKernels["vek"] = axpyRowsVek
	rowsWKernels["vek"] = axpyRowsWVek
	scatterKernels["vek"] = axpyScatterVek
	matMulKernels["vek"] = matMulAddVek
}
