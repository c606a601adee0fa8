//go:build amd64

package vec

func init() { kernels["vek"] = DotVek }
