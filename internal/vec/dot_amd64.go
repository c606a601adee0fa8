//go:build amd64 && !goexperiment.simd

package vec

func dot(a, b []float32) float32 { return DotVek(a, b) }

func kernel() string {
	if vekOK {
		return "vek-avx2"
	}
	return "portable"
}
