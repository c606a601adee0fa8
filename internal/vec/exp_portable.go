//go:build !amd64

package vec

func expSub(x []float32, m float32) float32 { return expSubPortable(x, m) }

func maxOf(x []float32) float32 { return maxPortable(x) }
