//go:build amd64 && !goexperiment.simd

package vec

func init() {
	if hasAVX512BW {
		dotRowsInt8Kernels["asm-avx512"] = dotRowsInt8
	}
	int8Fast = hasAVX512BW || int8AVX2
}
