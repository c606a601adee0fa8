package vec

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// dotRowsInt8Kernels lists every DotRowsInt8 kernel of this build; each
// must return exactly what the portable one does.
var dotRowsInt8Kernels = map[string]func(q []int16, qs float32, codes []int8, scales []float32, rows []int32, out []float32){
	"portable":    dotRowsInt8Portable,
	"dotrowsint8": DotRowsInt8,
}

// int8Fast is whether this build has an accelerated DotRowsInt8 kernel on
// this CPU at dimension 64: set by the builds that have one.
var int8Fast bool

func TestFastInt8(t *testing.T) {
	for _, n := range []int{0, 32, 63, 64, 128} {
		if want := n == 64 && int8Fast; FastInt8(n) != want {
			t.Errorf("FastInt8(%d) = %t with kernel %s", n, !want, Kernel())
		}
	}
}

func TestQuantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		name string
		x    []float32
	}{
		{"empty", nil},
		{"zero", make([]float32, 9)},
		{"one", []float32{-0.25}},
		{"extremes", []float32{1, -1, 0.5, -0.5, 0}},
		{"random 64", randSlice(rng, 64)},
		{"random 100", randSlice(rng, 100)},
	} {
		var m float64
		for _, v := range tc.x {
			m = max(m, math.Abs(float64(v)))
		}
		c8 := make([]int8, len(tc.x)+1)
		c8[len(tc.x)] = 99
		s8 := QuantizeInt8(c8, tc.x)
		c16 := make([]int16, len(tc.x)+1)
		c16[len(tc.x)] = 99
		s16 := QuantizeInt16(c16, tc.x)
		if c8[len(tc.x)] != 99 || c16[len(tc.x)] != 99 {
			t.Errorf("%s: wrote past len(x)", tc.name)
		}
		for _, q := range []struct {
			bits  int
			top   float64
			scale float32
			code  func(i int) float64
		}{
			{8, 127, s8, func(i int) float64 { return float64(c8[i]) }},
			{16, 32767, s16, func(i int) float64 { return float64(c16[i]) }},
		} {
			if want := m / q.top; math.Abs(float64(q.scale)-want) > 1e-7*want {
				t.Errorf("%s %d bits: scale %v, want %v", tc.name, q.bits, q.scale, want)
			}
			for i, v := range tc.x {
				// Every code is within half a step of its value and
				// within ±top.
				c := q.code(i)
				if math.Abs(c) > q.top || math.Abs(float64(q.scale)*c-float64(v)) > float64(q.scale)/2*(1+1e-5) {
					t.Errorf("%s %d bits: x[%d] = %v coded %v at scale %v", tc.name, q.bits, i, v, c, q.scale)
				}
			}
		}
	}
}

func TestQuantizeInt8Pair(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, tc := range []struct {
		name string
		x    []float32
	}{
		{"empty", nil},
		{"zero", make([]float32, 9)},
		{"coded exactly", []float32{1, -1, 0, 0.5 * 254 / 127}},
		{"one large", append(randSlice(rng, 63), 40)},
		{"random 64", randSlice(rng, 64)},
		{"random 100", randSlice(rng, 100)},
	} {
		n := len(tc.x)
		coarse, fine := make([]int8, n+1), make([]int8, n+1)
		coarse[n], fine[n] = 99, 99
		cs, fs := QuantizeInt8Pair(coarse, fine, tc.x)
		if coarse[n] != 99 || fine[n] != 99 {
			t.Errorf("%s: wrote past len(x)", tc.name)
		}
		want := make([]int8, n)
		if s := QuantizeInt8(want, tc.x); s != cs || !slices.Equal(want, coarse[:n]) {
			t.Errorf("%s: coarse codes differ from QuantizeInt8's", tc.name)
		}
		var m float64
		for _, v := range tc.x {
			m = max(m, math.Abs(float64(v)))
		}
		for i, v := range tc.x {
			got := float64(cs)*float64(coarse[i]) + float64(fs)*float64(fine[i])
			if e := math.Abs(got - float64(v)); e > m/64516*(1+1e-4) {
				t.Errorf("%s: x[%d] = %v rebuilt as %v (error %.3g, bound %.3g)", tc.name, i, v, got, e, m/64516)
			}
		}
	}

	// Scored by DotRowsInt8 on both rows, unit vectors come within a few
	// millionths of their float32 inner products.
	const dim, rowsN = 64, 200
	codes, fines := make([]int8, rowsN*dim), make([]int8, rowsN*dim)
	cscales, fscales := make([]float32, rowsN), make([]float32, rowsN)
	m := make([]float32, rowsN*dim)
	rows := make([]int32, rowsN)
	for r := range rowsN {
		x := m[r*dim : (r+1)*dim]
		copy(x, randSlice(rng, dim))
		Scale(1/float32(math.Sqrt(naiveDot(x, x))), x)
		cscales[r], fscales[r] = QuantizeInt8Pair(codes[r*dim:(r+1)*dim], fines[r*dim:(r+1)*dim], x)
		rows[r] = int32(r)
	}
	q := randSlice(rng, dim)
	Scale(1/float32(math.Sqrt(naiveDot(q, q))), q)
	q16 := make([]int16, dim)
	qs := QuantizeInt16(q16, q)
	a, b := make([]float32, rowsN), make([]float32, rowsN)
	DotRowsInt8(q16, qs, codes, cscales, rows, a)
	DotRowsInt8(q16, qs, fines, fscales, rows, b)
	var worst float64
	for r := range rowsN {
		worst = max(worst, math.Abs(float64(a[r]+b[r])-naiveDot(q, m[r*dim:(r+1)*dim])))
	}
	if worst > 2e-5 {
		t.Errorf("coarse and fine rows score unit vectors within %.3g of their inner products, want 2e-5", worst)
	}
}

func TestDotRowsInt8KernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const tableRows = 9
	for _, n := range kernelLengths {
		codes := make([]int8, tableRows*n)
		scales := make([]float32, tableRows)
		for r := range tableRows {
			scales[r] = QuantizeInt8(codes[r*n:(r+1)*n], randSlice(rng, n))
		}
		// A zero vector's row, and a row at the extremes of both codes.
		clear(codes[4*n : 5*n])
		scales[4] = 0
		q := make([]int16, n)
		qs := QuantizeInt16(q, randSlice(rng, n))
		extreme := make([]int16, n)
		for i := range n {
			codes[7*n+i] = -127
			extreme[i] = 32767
		}
		// Repeats, one row, none, more rows than the table has, and
		// more than one block of the AVX-512 kernel.
		long := make([]int32, 75)
		for i := range long {
			long[i] = int32(rng.IntN(tableRows))
		}
		for _, rows := range [][]int32{{}, {3}, {0, 8}, {2, 5, 2}, {8, 1, 4, 4, 0, 7, 6, 3, 2, 5, 1}, long} {
			for _, q := range [][]int16{q, extreme} {
				want := make([]float32, len(rows))
				for k, r := range rows {
					var s float64
					for i := range n {
						s += float64(q[i]) * float64(codes[int(r)*n+i])
					}
					want[k] = float32(s) * (qs * scales[r])
				}
				for name, f := range dotRowsInt8Kernels {
					out := make([]float32, len(rows)+2)
					out[len(rows)], out[len(rows)+1] = 7, 7
					f(q, qs, codes, scales, rows, out)
					for k := range rows {
						if out[k] != want[k] {
							t.Errorf("%s n=%d rows=%v: out[%d] = %v, want %v", name, n, rows, k, out[k], want[k])
							break
						}
					}
					if out[len(rows)] != 7 || out[len(rows)+1] != 7 {
						t.Errorf("%s n=%d rows=%v: wrote past len(rows): %v", name, n, rows, out)
					}
				}
			}
		}
	}
}

// TestDotRowsInt8Error bounds the error of the codes against the float32
// inner product on unit vectors of dimension 64, the shape an index walks.
func TestDotRowsInt8Error(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	const n, tableRows = 64, 200
	m := make([]float32, tableRows*n)
	codes := make([]int8, tableRows*n)
	scales := make([]float32, tableRows)
	unitRow := func(v []float32) {
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		Scale(1/float32(math.Sqrt(naiveDot(v, v))), v)
	}
	for r := range tableRows {
		unitRow(m[r*n : (r+1)*n])
		scales[r] = QuantizeInt8(codes[r*n:(r+1)*n], m[r*n:(r+1)*n])
	}
	q := make([]float32, n)
	unitRow(q)
	q16 := make([]int16, n)
	qs := QuantizeInt16(q16, q)
	rows := make([]int32, tableRows)
	for i := range rows {
		rows[i] = int32(i)
	}
	got := make([]float32, tableRows)
	DotRowsInt8(q16, qs, codes, scales, rows, got)
	for r := range tableRows {
		if e := math.Abs(float64(got[r]) - naiveDot(q, m[r*n:(r+1)*n])); e > 0.01 {
			t.Errorf("row %d: error %.4f", r, e)
		}
	}
}

// BenchmarkDotRowsInt8Kernels scores 64 random rows of a 64 MB code
// table, about one expansion of a search on a graph of 1M nodes.
func BenchmarkDotRowsInt8Kernels(b *testing.B) {
	const n, tableRows, cnt = 64, 1 << 20, 64
	rng := rand.New(rand.NewPCG(2, 2))
	codes := make([]int8, tableRows*n)
	for i := range codes {
		codes[i] = int8(rng.IntN(255) - 127)
	}
	scales := make([]float32, tableRows)
	for i := range scales {
		scales[i] = 1.0 / 127
	}
	q := make([]int16, n)
	qs := QuantizeInt16(q, randSlice(rng, n))
	lists := make([]int32, 1024*cnt)
	for i := range lists {
		lists[i] = int32(rng.IntN(tableRows))
	}
	out := make([]float32, cnt)
	for name, f := range dotRowsInt8Kernels {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				o := (i % 1024) * cnt
				f(q, qs, codes, scales, lists[o:o+cnt], out)
				i++
			}
		})
	}
}
