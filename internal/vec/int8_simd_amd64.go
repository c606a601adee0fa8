//go:build goexperiment.simd && amd64

package vec

import "simd/archsimd"

func fastInt8(n int) bool { return (hasAVX512 || int8AVX2) && n == 64 }

func dotRowsInt8(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	if !hasAVX512 {
		dotRowsInt8AVX2(q, qs, codes, scales, rows, out)
		return
	}
	DotRowsInt8SIMD(q, qs, codes, scales, rows, out)
}

// int8Block is how many rows DotRowsInt8SIMD sums before it reduces them.
const int8Block = 32

// DotRowsInt8SIMD computes DotRowsInt8 with Go's simd/archsimd on AVX-512
// at dimension 64 (Duet's embeddings; other shapes and CPUs take
// dotRowsInt8Portable). The codes of a row, one cache line, are widened
// to 16 bits and multiplied by q's in pairs into sixteen int32 sums, which
// are stored as they are; the sums are reduced to one per row after each
// block of rows. Keeping the loop over the rows this short is the point:
// it is bound by the rows' cache misses, and the fewer instructions each
// row takes, the more rows the processor has in flight.
func DotRowsInt8SIMD(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32) {
	if !hasAVX512 || len(q) != 64 {
		dotRowsInt8Portable(q, qs, codes, scales, rows, out)
		return
	}
	out = out[:len(rows)]
	var sums [int8Block][16]int32
	q0 := archsimd.LoadInt16x32((*[32]int16)(q[0:32]))
	q1 := archsimd.LoadInt16x32((*[32]int16)(q[32:64]))
	for b := 0; b < len(rows); b += int8Block {
		blk := rows[b:min(b+int8Block, len(rows))]
		for k, r := range blk {
			o := int(r) * 64
			c := codes[o : o+64 : o+64]
			s := archsimd.LoadInt8x32((*[32]int8)(c[0:32])).ExtendToInt16().DotProductPairs(q0)
			t := archsimd.LoadInt8x32((*[32]int8)(c[32:64])).ExtendToInt16().DotProductPairs(q1)
			s.Add(t).Store(&sums[k])
		}
		for k := range blk {
			s := archsimd.LoadInt32x16(&sums[k])
			h := s.GetLo().Add(s.GetHi())
			x := h.GetLo().Add(h.GetHi())
			x = x.AddPairs(x)
			x.AddPairs(x).ConvertToFloat32().StoreSlicePart(out[b+k : b+k+1])
		}
	}
	// The scales are applied once the upper register halves are clean
	// (see dotRows64).
	archsimd.ClearAVXUpperBits()
	for k, r := range rows {
		out[k] *= qs * scales[r]
	}
}
