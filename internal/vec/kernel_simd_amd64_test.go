//go:build goexperiment.simd && amd64

package vec

func init() {
	kernels["archsimd"] = DotSIMD
	// Force the 256-bit path too, which AVX-512 machines would not take.
	kernels["archsimd-avx2"] = func(a, b []float32) float32 {
		if !hasAVX2 || len(a) < 8 {
			return DotPortable(a, b)
		}
		return dot256(a, b)
	}
}
