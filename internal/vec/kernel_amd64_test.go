//go:build amd64

package vec

func init() {
	kernels["vek"] = DotVek
	axpyKernels["vek"] = AxpyVek
	scaleKernels["vek"] = ScaleVek
	rowsKernels["vek"] = AxpyRowsVek
	rowsWKernels["vek"] = AxpyRowsWVek
	scatterKernels["vek"] = AxpyScatterVek
}
