package vec

func init() {
	if int8AVX2 {
		dotRowsInt8Kernels["asm-avx2"] = dotRowsInt8AVX2
	}
}
