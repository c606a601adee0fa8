//go:build goexperiment.simd && amd64

package vec

import "simd/archsimd"

func adam(w, m, v, g []float32, b1, b2, lr, c2, eps float32) {
	AdamSIMD(w, m, v, g, b1, b2, lr, c2, eps)
}

// AdamSIMD computes Adam sixteen weights at a time with AVX-512 (its
// square root and division are the correctly rounded float32 ones, as
// adamPortable's); elsewhere it is adamPortable.
func AdamSIMD(w, m, v, g []float32, b1, b2, lr, c2, eps float32) {
	n := len(g)
	if !hasAVX512 || n < 16 {
		adamPortable(w, m, v, g, b1, b2, lr, c2, eps)
		return
	}
	w, m, v = w[:n], m[:n], v[:n]
	var (
		vb1  = archsimd.BroadcastFloat32x16(b1)
		vb1c = archsimd.BroadcastFloat32x16(1 - b1)
		vb2  = archsimd.BroadcastFloat32x16(b2)
		vb2c = archsimd.BroadcastFloat32x16(1 - b2)
		vlr  = archsimd.BroadcastFloat32x16(lr)
		vc2  = archsimd.BroadcastFloat32x16(c2)
		veps = archsimd.BroadcastFloat32x16(eps)
	)
	i := 0
	for ; i+16 <= n; i += 16 {
		wp, mp, vp := (*[16]float32)(w[i:i+16]), (*[16]float32)(m[i:i+16]), (*[16]float32)(v[i:i+16])
		gv := archsimd.LoadFloat32x16((*[16]float32)(g[i : i+16]))
		mv := archsimd.LoadFloat32x16(mp).Mul(vb1).Add(gv.Mul(vb1c))
		vv := archsimd.LoadFloat32x16(vp).Mul(vb2).Add(gv.Mul(gv).Mul(vb2c))
		mv.Store(mp)
		vv.Store(vp)
		den := vv.Mul(vc2).Sqrt().Add(veps)
		archsimd.LoadFloat32x16(wp).Sub(mv.Mul(vlr).Div(den)).Store(wp)
	}
	archsimd.ClearAVXUpperBits()
	if i < n {
		adamPortable(w[i:], m[i:], v[i:], g[i:], b1, b2, lr, c2, eps)
	}
}
