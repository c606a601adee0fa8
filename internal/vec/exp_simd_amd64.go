//go:build goexperiment.simd && amd64

package vec

import (
	"math"
	"simd/archsimd"
)

func expSub(x []float32, m float32) float32 { return ExpSubSIMD(x, m) }

// ExpSubSIMD computes ExpSub sixteen lanes at a time with AVX-512, whose
// VSCALEFPS multiplies by 2ⁿ in one step; elsewhere it is expSubPortable.
// Arguments above expMax give +Inf, or NaN when far above: ExpSub's m is a
// maximum.
//
// The loop must not touch a scalar float while the upper register halves
// are dirty (each such instruction then waits on the whole register): the
// partial last block goes through a buffer filled before the loop, and the
// lanes are summed after the halves are cleared.
func ExpSubSIMD(x []float32, m float32) float32 {
	n := len(x)
	if !hasAVX512 || n < 16 {
		return expSubPortable(x, m)
	}
	full := n &^ 15
	var tail, lanes [16]float32
	for j := range tail {
		tail[j] = float32(math.Inf(-1)) // e^−Inf = 0: no share of the sum
	}
	copy(tail[:], x[full:])
	var (
		mv  = archsimd.BroadcastFloat32x16(m)
		lo  = archsimd.BroadcastFloat32x16(expMin)
		l2e = archsimd.BroadcastFloat32x16(log2e)
		nHi = archsimd.BroadcastFloat32x16(-ln2Hi)
		nLo = archsimd.BroadcastFloat32x16(-ln2Lo)
		p0  = archsimd.BroadcastFloat32x16(expP0)
		p1  = archsimd.BroadcastFloat32x16(expP1)
		p2  = archsimd.BroadcastFloat32x16(expP2)
		p3  = archsimd.BroadcastFloat32x16(expP3)
		p4  = archsimd.BroadcastFloat32x16(expP4)
		p5  = archsimd.BroadcastFloat32x16(expP5)
		one = archsimd.BroadcastFloat32x16(1)
		sum archsimd.Float32x16
	)
	for i := 0; i < n; i += 16 {
		b := &tail
		if i < full {
			b = (*[16]float32)(x[i : i+16])
		}
		v := archsimd.LoadFloat32x16(b).Sub(mv)
		keep := v.GreaterEqual(lo) // below expMin, and −Inf: 0
		k := v.Mul(l2e).RoundToEvenScaled(0)
		r := k.MulAdd(nHi, v)
		r = k.MulAdd(nLo, r)
		p := p0.MulAdd(r, p1)
		p = p.MulAdd(r, p2)
		p = p.MulAdd(r, p3)
		p = p.MulAdd(r, p4)
		p = p.MulAdd(r, p5)
		p = p.MulAdd(r.Mul(r), r.Add(one))
		e := p.Scale(k).Masked(keep)
		e.Store(b)
		sum = sum.Add(e)
	}
	sum.Store(&lanes)
	archsimd.ClearAVXUpperBits()
	copy(x[full:], tail[:n-full])
	var s float32
	for _, v := range lanes {
		s += v
	}
	return s
}

func maxOf(x []float32) float32 { return MaxSIMD(x) }

// MaxSIMD computes Max sixteen lanes at a time with AVX-512; elsewhere, or
// for fewer than 32 elements, it is maxPortable.
func MaxSIMD(x []float32) float32 {
	n := len(x)
	if !hasAVX512 || n < 32 {
		return maxPortable(x)
	}
	m0, m1 := ld16(x[0:16]), ld16(x[16:32])
	i := 32
	for ; i+32 <= n; i += 32 {
		m0 = m0.Max(ld16(x[i : i+16]))
		m1 = m1.Max(ld16(x[i+16 : i+32]))
	}
	if i+16 <= n {
		m0 = m0.Max(ld16(x[i : i+16]))
		i += 16
	}
	var lanes [16]float32
	m0.Max(m1).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	return max(maxPortable(lanes[:]), maxPortable(x[i:]))
}
