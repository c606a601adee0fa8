//go:build amd64

package vec

import (
	"github.com/viterin/vek/vek32"
	"golang.org/x/sys/cpu"
)

// vekOK reports whether vek32 runs its AVX2/FMA assembly here rather than
// its own Go loops (which are slower than the portable kernels).
var vekOK = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// vekMin is the length below which the call into vek costs more than it
// saves. vek32.Dot also panics on empty input, which this rules out.
const vekMin = 16

// vekChunk is the column block the vek kernels stage in a stack buffer:
// vek has no fused multiply-add of a scalar and a vector, so Axpy is a
// scaled copy and an add.
const vekChunk = 256

// dotVek computes Dot with github.com/viterin/vek's AVX2 assembly when the
// CPU has AVX2 and FMA, and with dotPortable otherwise.
func dotVek(a, b []float32) float32 {
	if !vekOK || len(a) < vekMin {
		return dotPortable(a, b)
	}
	return vek32.Dot(a, b[:len(a)])
}

// dotRowsVek computes DotRows with dotVek row by row: vek has no gathered
// product.
func dotRowsVek(q, m []float32, rows []int32, out []float32) {
	n := len(q)
	out = out[:len(rows)]
	for k, r := range rows {
		out[k] = dotVek(q, m[int(r)*n:int(r+1)*n])
	}
}

// axpyVek computes Axpy with vek's AVX2 assembly, or axpyPortable where
// that does not pay.
func axpyVek(alpha float32, x, y []float32) {
	if !vekOK || len(x) < vekMin {
		axpyPortable(alpha, x, y)
		return
	}
	y = y[:len(x)]
	var buf [vekChunk]float32
	for j := 0; j < len(x); j += vekChunk {
		c := min(vekChunk, len(x)-j)
		t := buf[:c]
		copy(t, x[j:j+c])
		vek32.MulNumber_Inplace(t, alpha)
		vek32.Add_Inplace(y[j:j+c], t)
	}
}

// scaleVek computes Scale with vek's AVX2 assembly, or scalePortable where
// that does not pay.
func scaleVek(alpha float32, x []float32) {
	if !vekOK || len(x) < vekMin {
		scalePortable(alpha, x)
		return
	}
	vek32.MulNumber_Inplace(x, alpha)
}

// axpyRowsVek computes AxpyRows with vek's AVX2 assembly: the rows are
// summed into a stack buffer, block by block, and the sum scaled once.
func axpyRowsVek(alpha float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	if !vekOK || n < vekMin {
		axpyRowsPortable(alpha, m, rows, y)
		return
	}
	cnt := len(rows)
	if rows == nil {
		cnt = len(m) / n
	}
	var buf [vekChunk]float32
	for j := 0; j < n; j += vekChunk {
		c := min(vekChunk, n-j)
		t := buf[:c]
		clear(t)
		for k := range cnt {
			o := k*n + j
			if rows != nil {
				o = int(rows[k])*n + j
			}
			vek32.Add_Inplace(t, m[o:o+c])
		}
		vek32.MulNumber_Inplace(t, alpha)
		vek32.Add_Inplace(y[j:j+c], t)
	}
}

// axpyRowsWVek computes AxpyRowsW with vek's AVX2 assembly.
func axpyRowsWVek(w []float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	if rows == nil {
		for k, wk := range w {
			axpyVek(wk, m[k*n:(k+1)*n], y)
		}
		return
	}
	w = w[:len(rows)]
	for k, r := range rows {
		axpyVek(w[k], m[int(r)*n:int(r+1)*n], y)
	}
}

// axpyScatterVek computes AxpyScatter with vek's AVX2 assembly.
func axpyScatterVek(w, x, m []float32, rows []int32) {
	n := len(x)
	w = w[:len(rows)]
	for k, r := range rows {
		axpyVek(w[k], x, m[int(r)*n:int(r+1)*n])
	}
}
