package vec

import "math"

// Adam applies one step of the Adam optimiser to the weights w given their
// gradient g, updating the moment estimates m and v in place:
//
//	m = b1·m + (1−b1)·g
//	v = b2·v + (1−b2)·g²
//	w = w − lr·m / (√(c2·v) + eps)
//
// lr carries the first moment's bias correction and c2 the inverse of the
// second's, so the loop divides once per weight. All four slices have g's
// length.
func Adam(w, m, v, g []float32, b1, b2, lr, c2, eps float32) {
	n := len(g)
	adam(w[:n], m[:n], v[:n], g, b1, b2, lr, c2, eps)
}

// adamPortable is the reference Adam: plain Go.
func adamPortable(w, m, v, g []float32, b1, b2, lr, c2, eps float32) {
	w, m, v = w[:len(g)], m[:len(g)], v[:len(g)]
	for i, gi := range g {
		mi := b1*m[i] + (1-b1)*gi
		vi := b2*v[i] + (1-b2)*gi*gi
		m[i], v[i] = mi, vi
		w[i] -= lr * mi / (float32(math.Sqrt(float64(c2*vi))) + eps)
	}
}
