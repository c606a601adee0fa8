package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// The kernel tables list every kernel of each family this build has; each
// must agree with the portable reference.
var (
	kernels = map[string]func(a, b []float32) float32{
		"portable": dotPortable,
		"dot":      Dot,
	}
	dotRowsKernels = map[string]func(q, m []float32, rows []int32, out []float32){
		"portable": dotRowsPortable,
		"dotrows":  DotRows,
	}
	axpyKernels = map[string]func(alpha float32, x, y []float32){
		"portable": axpyPortable,
		"axpy":     Axpy,
	}
	scaleKernels = map[string]func(alpha float32, x []float32){
		"portable": scalePortable,
		"scale":    Scale,
	}
	rowsKernels = map[string]func(alpha float32, m []float32, rows []int32, y []float32){
		"portable": axpyRowsPortable,
		"rows":     AxpyRows,
	}
	rowsWKernels = map[string]func(w, m []float32, rows []int32, y []float32){
		"portable": axpyRowsWPortable,
		"rowsw":    AxpyRowsW,
	}
	matMulKernels = map[string]func(dst, a, b []float32, rows, inner, cols int){
		"portable": matMulAddPortable,
		"matmul":   MatMulAdd,
	}
	scatterKernels = map[string]func(w, x, m []float32, rows []int32){
		"portable": axpyScatterPortable,
		"scatter":  AxpyScatter,
	}
)

// kernelLengths covers the block sizes of every kernel and the tails
// around them.
var kernelLengths = []int{0, 1, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 128, 200, 256, 257, 768}

func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, f := range kernels {
		for _, n := range kernelLengths {
			a, b := make([]float32, n), make([]float32, n+3) // b may be longer
			for i := range a {
				a[i] = rng.Float32()*2 - 1
			}
			for i := range b {
				b[i] = rng.Float32()*2 - 1
			}
			got, want := float64(f(a, b)), naiveDot(a, b[:n])
			if math.Abs(got-want) > 1e-5*(1+math.Sqrt(float64(n))) {
				t.Errorf("%s n=%d: %v, want %v", name, n, got, want)
			}
		}
	}
}

func TestDotRowsKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const tableRows = 9
	for _, n := range kernelLengths {
		m := randSlice(rng, tableRows*n)
		q := randSlice(rng, n)
		// Repeats, one row, none, and more rows than the table has.
		for _, rows := range [][]int32{{}, {3}, {0, 8}, {2, 5, 2}, {8, 1, 4, 4, 0, 7, 6, 3, 2, 5, 1}} {
			want := make([]float64, len(rows))
			for k, r := range rows {
				want[k] = naiveDot(q, m[int(r)*n:int(r+1)*n])
			}
			for name, f := range dotRowsKernels {
				// out may be longer; its tail is left alone.
				out := make([]float32, len(rows)+2)
				out[len(rows)], out[len(rows)+1] = 7, 7
				f(q, m, rows, out)
				if i := closeTo(out[:len(rows)], want, 1e-5*(1+math.Sqrt(float64(n)))); i >= 0 {
					t.Errorf("%s n=%d rows=%v: out[%d] = %v, want %v", name, n, rows, i, out[i], want[i])
				}
				if out[len(rows)] != 7 || out[len(rows)+1] != 7 {
					t.Errorf("%s n=%d rows=%v: wrote past len(rows): %v", name, n, rows, out)
				}
			}
		}
	}
}

// closeTo reports the first index where got and want differ by more than
// tol, or -1.
func closeTo(got []float32, want []float64, tol float64) int {
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol {
			return i
		}
	}
	return -1
}

func TestAxpyScaleKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range kernelLengths {
		x := randSlice(rng, n)
		y0 := randSlice(rng, n+3) // y may be longer; its tail is left alone
		alpha := rng.Float32()*4 - 2
		want := make([]float64, n+3)
		for i := range want {
			want[i] = float64(y0[i])
			if i < n {
				want[i] += float64(alpha) * float64(x[i])
			}
		}
		for name, f := range axpyKernels {
			y := append([]float32(nil), y0...)
			f(alpha, x, y)
			if i := closeTo(y, want, 1e-6); i >= 0 {
				t.Errorf("axpy %s n=%d: y[%d] = %v, want %v", name, n, i, y[i], want[i])
			}
		}
		for name, f := range scaleKernels {
			z := append([]float32(nil), x...)
			f(alpha, z)
			for i := range z {
				if w := float64(alpha) * float64(x[i]); math.Abs(float64(z[i])-w) > 1e-6 {
					t.Errorf("scale %s n=%d: x[%d] = %v, want %v", name, n, i, z[i], w)
					break
				}
			}
		}
	}
}

func TestAxpyRowsKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const tableRows = 9
	every := make([]int32, tableRows)
	for i := range every {
		every[i] = int32(i)
	}
	for _, n := range kernelLengths {
		m := randSlice(rng, tableRows*n)
		// Repeated rows count as often as they occur; an odd number of rows
		// takes the kernels' single-row step; nil stands for every row; a
		// long list is summed in several blocks.
		long := make([]int32, 150)
		for k := range long {
			long[k] = int32(k*7) % tableRows
		}
		for _, rows := range [][]int32{nil, {}, {3}, {0, 8}, {2, 5, 2}, {8, 1, 4, 4, 0, 7, 6}, long} {
			listed := rows
			if rows == nil {
				listed = every
			}
			y0 := randSlice(rng, n)
			alpha := rng.Float32()*2 - 1
			w := randSlice(rng, len(listed))
			x := randSlice(rng, n)
			want, wantW := make([]float64, n), make([]float64, n)
			wantS := make([]float64, tableRows*n)
			for i, v := range m {
				wantS[i] = float64(v)
			}
			for i := range n {
				var s, sw float64
				for k, r := range listed {
					s += float64(m[int(r)*n+i])
					sw += float64(w[k]) * float64(m[int(r)*n+i])
					wantS[int(r)*n+i] += float64(w[k]) * float64(x[i])
				}
				want[i] = float64(y0[i]) + float64(alpha)*s
				wantW[i] = float64(y0[i]) + sw
			}
			tol := 1e-5 * float64(1+len(listed))
			for name, f := range rowsKernels {
				y := append([]float32(nil), y0...)
				f(alpha, m, rows, y)
				if i := closeTo(y, want, tol); i >= 0 {
					t.Errorf("rows %s n=%d rows=%v: y[%d] = %v, want %v", name, n, rows, i, y[i], want[i])
				}
			}
			for name, f := range rowsWKernels {
				y := append([]float32(nil), y0...)
				f(w, m, rows, y)
				if i := closeTo(y, wantW, tol); i >= 0 {
					t.Errorf("rowsw %s n=%d rows=%v: y[%d] = %v, want %v", name, n, rows, i, y[i], wantW[i])
				}
			}
			for name, f := range scatterKernels {
				mm := append([]float32(nil), m...)
				f(w, x, mm, listed)
				if i := closeTo(mm, wantS, tol); i >= 0 {
					t.Errorf("scatter %s n=%d rows=%v: m[%d] = %v, want %v", name, n, listed, i, mm[i], wantS[i])
				}
			}
		}
	}
}

func TestMatMulAddKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	// Tiled and untiled shapes, rows left over after the tiles, products
	// staged in several blocks, and rows wider than the staging buffer.
	for _, sz := range []struct{ r, k, c int }{{1, 1, 1}, {3, 5, 7}, {4, 64, 64}, {9, 3, 128}, {17, 33, 65}, {2, 100, 256}, {6, 256, 64}, {5, 16, 96}, {7, 40, 400}, {2, 3, 5000}} {
		a, b, d0 := randSlice(rng, sz.r*sz.k), randSlice(rng, sz.k*sz.c), randSlice(rng, sz.r*sz.c)
		for name, f := range matMulKernels {
			dst := append([]float32(nil), d0...)
			f(dst, a, b, sz.r, sz.k, sz.c)
			for i := range sz.r {
				for j := range sz.c {
					want := float64(d0[i*sz.c+j])
					for k := range sz.k {
						want += float64(a[i*sz.k+k]) * float64(b[k*sz.c+j])
					}
					if got := float64(dst[i*sz.c+j]); math.Abs(got-want) > 1e-5*(1+float64(sz.k)) {
						t.Fatalf("%s %v [%d,%d] = %v, want %v", name, sz, i, j, got, want)
					}
				}
			}
		}
	}
}

func TestKernelName(t *testing.T) {
	if Kernel() == "" {
		t.Fatal("empty kernel name")
	}
	t.Logf("Dot uses %s", Kernel())
}

func benchDot(b *testing.B, n int, f func(a, b []float32) float32) {
	x, y := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], y[i] = float32(i)/float32(n), float32(n-i)/float32(n)
	}
	var s float32
	for b.Loop() {
		s += f(x, y)
	}
	_ = s
}

func BenchmarkKernels(b *testing.B) {
	for _, n := range []int{64, 256} {
		for name, f := range kernels {
			b.Run(name+"/"+strconv.Itoa(n), func(b *testing.B) { benchDot(b, n, f) })
		}
	}
}

// BenchmarkDotRowsKernels scores 32 random rows of a table of 64-float rows
// too large for the caches, like the neighbours of one node of a large
// graph, against a loop of Dot calls.
func BenchmarkDotRowsKernels(b *testing.B) {
	const n, tableRows, cnt = 64, 1 << 18, 32
	rng := rand.New(rand.NewPCG(2, 2))
	m := randSlice(rng, tableRows*n)
	q := randSlice(rng, n)
	lists := make([]int32, 1024*cnt)
	for i := range lists {
		lists[i] = int32(rng.IntN(tableRows))
	}
	out := make([]float32, cnt)
	loop := func(q, m []float32, rows []int32, out []float32) {
		for k, r := range rows {
			out[k] = Dot(q, m[int(r)*n:int(r+1)*n])
		}
	}
	run := func(name string, f func(q, m []float32, rows []int32, out []float32)) {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				o := (i % 1024) * cnt
				f(q, m, lists[o:o+cnt], out)
				i++
			}
		})
	}
	run("dot-loop", loop)
	for name, f := range dotRowsKernels {
		run(name, f)
	}
}

func BenchmarkAxpyKernels(b *testing.B) {
	for _, n := range []int{64, 256} {
		for name, f := range axpyKernels {
			b.Run(name+"/"+strconv.Itoa(n), func(b *testing.B) {
				x, y := make([]float32, n), make([]float32, n)
				for i := range x {
					x[i] = float32(i) / float32(n)
				}
				for b.Loop() {
					f(1e-3, x, y)
				}
			})
		}
	}
}

// BenchmarkAxpyRowsKernels sums 48 random rows of a 4096-row table: about
// the token bag of one item.
func BenchmarkAxpyRowsKernels(b *testing.B) {
	const n, tableRows, bag = 64, 4096, 48
	rng := rand.New(rand.NewPCG(1, 1))
	m := randSlice(rng, tableRows*n)
	rows := make([]int32, bag)
	for i := range rows {
		rows[i] = int32(rng.IntN(tableRows))
	}
	y := make([]float32, n)
	for name, f := range rowsKernels {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				f(1.0/bag, m, rows, y)
			}
		})
	}
}

// BenchmarkMatMulKernels times the products of a training batch: the
// 256×256 logits from 64-dimensional vectors, and the gradients back.
func BenchmarkMatMulKernels(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range []struct{ r, k, c int }{{256, 64, 256}, {256, 256, 64}} {
		a, m, dst := randSlice(rng, sz.r*sz.k), randSlice(rng, sz.k*sz.c), make([]float32, sz.r*sz.c)
		for name, f := range matMulKernels {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", name, sz.r, sz.k, sz.c), func(b *testing.B) {
				for b.Loop() {
					f(dst, a, m, sz.r, sz.k, sz.c)
				}
				b.ReportMetric(float64(sz.r*sz.k*sz.c)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFMA/s")
			})
		}
	}
}
