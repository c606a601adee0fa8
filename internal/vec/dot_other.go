//go:build !amd64

package vec

func dot(a, b []float32) float32 { return DotPortable(a, b) }

func kernel() string { return "portable" }
