//go:build amd64 && !goexperiment.simd

package vec

func init() {
	dotRowsInt8Kernels["asm-avx512"] = dotRowsInt8
	int8Fast = hasAVX512BW
}
