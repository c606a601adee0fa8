//go:build !amd64

package vec

func adam(w, m, v, g []float32, b1, b2, lr, c2, eps float32) {
	adamPortable(w, m, v, g, b1, b2, lr, c2, eps)
}
