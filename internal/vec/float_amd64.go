//go:build amd64 && !goexperiment.simd

package vec

import (
	"fmt"

	"golang.org/x/sys/cpu"
)

// hasAVX512F reports whether the CPU and the OS run AVX-512's foundation
// instructions, which the float32 kernels of float_amd64.s need. Without
// it the default build uses vek's AVX2 assembly, then the portable loops.
var hasAVX512F = cpu.X86.HasAVX512F

// The kernels below are the default build's on AVX-512: `go build` and `go
// install` train with fused multiply-adds in registers, as the
// GOEXPERIMENT=simd build does, where vek (AVX2) has no fused scaled add
// and stages every product in memory.

// axpyAsm computes Axpy: blocks of 16 in assembly, the tail in Go.
func axpyAsm(alpha float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	b := n &^ 15
	if b > 0 {
		axpyAVX512(alpha, &x[0], &y[0], b)
	}
	if b < n {
		axpyPortable(alpha, x[b:], y[b:])
	}
}

// axpyRowsWAsm computes AxpyRowsW: each block of 64 columns of y is summed
// in registers over every listed row, the columns after the last block by
// axpyAsm row by row.
func axpyRowsWAsm(w, m []float32, rows []int32, y []float32) {
	n := len(y)
	cnt := len(w)
	if rows != nil {
		w = w[:len(rows)]
		cnt = len(rows)
	}
	if n == 0 || cnt == 0 {
		return
	}
	// The assembly reads rows unchecked: check them first, as slicing would.
	table := len(m) / n
	if rows == nil {
		if cnt > table {
			panic(fmt.Sprintf("vec: AxpyRowsW of %d rows from a table of %d", cnt, table))
		}
	} else {
		for _, r := range rows {
			if uint(r) >= uint(table) {
				panic(fmt.Sprintf("vec: AxpyRowsW row %d outside a table of %d rows", r, table))
			}
		}
	}
	var rp *int32
	if rows != nil {
		rp = &rows[0]
	}
	j := 0
	for ; j+64 <= n; j += 64 {
		axpyRowsW64AVX512(&w[0], &m[j], rp, cnt, n, &y[j])
	}
	if j == n {
		return
	}
	for k := range cnt {
		r := k
		if rows != nil {
			r = int(rows[k])
		}
		axpyAsm(w[k], m[r*n+j:(r+1)*n], y[j:])
	}
}

// axpyScatterAsm computes AxpyScatter with axpyAsm row by row.
func axpyScatterAsm(w, x, m []float32, rows []int32) {
	n := len(x)
	w = w[:len(rows)]
	for k, r := range rows {
		axpyAsm(w[k], x, m[int(r)*n:int(r+1)*n])
	}
}

// matMulAddAsm computes MatMulAdd in tiles of four rows by 32 columns; the
// columns after the last tile take scaled adds, and the rows after the
// last four axpyRowsWAsm.
func matMulAddAsm(dst, a, b []float32, rows, inner, cols int) {
	if rows == 0 || cols == 0 || inner == 0 {
		return
	}
	a, b, dst = a[:rows*inner], b[:inner*cols], dst[:rows*cols]
	blocks := cols / 32
	i := 0
	if blocks > 0 {
		for ; i+4 <= rows; i += 4 {
			matMulTileAVX512(&dst[i*cols], &a[i*inner], &b[0], inner, cols, blocks)
		}
	}
	if j := blocks * 32; j < cols && i > 0 {
		// The tiles' rows, columns j onwards: b's last columns as a
		// strided table, one row of dst at a time.
		for r := range i {
			d := dst[r*cols+j : (r+1)*cols]
			for k, ak := range a[r*inner : (r+1)*inner] {
				axpyPortable(ak, b[k*cols+j:(k+1)*cols], d)
			}
		}
	}
	for ; i < rows; i++ {
		axpyRowsWAsm(a[i*inner:(i+1)*inner], b, nil, dst[i*cols:(i+1)*cols])
	}
}

// adamAsm computes Adam: blocks of 16 in assembly, the tail in Go.
func adamAsm(w, m, v, g []float32, b1, b2, lr, c2, eps float32) {
	n := len(g)
	w, m, v = w[:n], m[:n], v[:n]
	b := n &^ 15
	if b > 0 {
		c := [7]float32{b1, 1 - b1, b2, 1 - b2, lr, c2, eps}
		adamAVX512(&w[0], &m[0], &v[0], &g[0], b, &c)
	}
	if b < n {
		adamPortable(w[b:], m[b:], v[b:], g[b:], b1, b2, lr, c2, eps)
	}
}

// axpyAVX512 adds alpha·x[i] to y[i] for i < n, n a multiple of 16.
//
//go:noescape
func axpyAVX512(alpha float32, x, y *float32, n int)

// axpyRowsW64AVX512 adds w[k] times the 64 values at m[r·stride], r =
// rows[k] (k when rows is nil), to y's 64 values, for k < cnt.
//
//go:noescape
func axpyRowsW64AVX512(w, m *float32, rows *int32, cnt, stride int, y *float32)

// matMulTileAVX512 adds a (4×inner) times b (inner×cols) to dst (4×cols)
// over the first 32·blocks columns.
//
//go:noescape
func matMulTileAVX512(dst, a, b *float32, inner, cols, blocks int)

// adamAVX512 takes one Adam step on n weights, n a multiple of 16, with
// the constants c: b1, 1−b1, b2, 1−b2, lr, c2, eps.
//
//go:noescape
func adamAVX512(w, m, v, grad *float32, n int, c *[7]float32)

// expConsts are expSubAVX512's constants, in its order.
var expConsts = [11]float32{expMin, log2e, -ln2Hi, -ln2Lo, expP0, expP1, expP2, expP3, expP4, expP5, 1}

// expSubAsm computes ExpSub: blocks of 16 in assembly, the tail in Go.
func expSubAsm(x []float32, m float32) float32 {
	b := len(x) &^ 15
	var s float32
	if b > 0 {
		var lanes [16]float32
		expSubAVX512(&x[0], b, m, &expConsts, &lanes)
		for _, v := range lanes {
			s += v
		}
	}
	return s + expSubPortable(x[b:], m)
}

// expSubAVX512 replaces x[i] by e^(x[i]−m) for i < n, n a multiple of 16,
// and stores the sixteen lanes' sums in sum.
//
//go:noescape
func expSubAVX512(x *float32, n int, m float32, c *[11]float32, sum *[16]float32)
