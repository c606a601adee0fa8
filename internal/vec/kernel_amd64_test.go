//go:build amd64

package vec

func init() {
	kernels["vek"] = DotVek
	dotRowsKernels["vek"] = DotRowsVek
	axpyKernels["vek"] = AxpyVek
	scaleKernels["vek"] = ScaleVek
	rowsKernels["vek"] = AxpyRowsVek
	rowsWKernels["vek"] = AxpyRowsWVek
	scatterKernels["vek"] = AxpyScatterVek
}
