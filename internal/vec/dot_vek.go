//go:build amd64

package vec

import (
	"sync"

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

// vekRowsMin is the fewest rows axpyRowsWVek sums with a product: below
// it a scaled add per row costs less than fetching the staging buffer.
const vekRowsMin = 4

// axpyRowsWVek computes AxpyRowsW with vek's AVX2 product: the listed
// rows are gathered into a staging buffer, a block at a time, and each
// block summed by one 1×k·k×n product, which keeps y in registers where a
// scaled copy and an add per row would pass over it twice.
func axpyRowsWVek(w []float32, m []float32, rows []int32, y []float32) {
	n := len(y)
	cnt := len(w)
	if rows != nil {
		cnt = len(rows)
	}
	if !vekOK || n < vekMin || n > len(vekStage{}.sum) || cnt < vekRowsMin {
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
		return
	}
	st := vekStages.Get().(*vekStage)
	defer vekStages.Put(st)
	t := st.sum[:n]
	step := len(st.buf) / n
	for k0 := 0; k0 < cnt; k0 += step {
		k1 := min(cnt, k0+step)
		var blk []float32
		if rows == nil {
			blk = m[k0*n : k1*n]
		} else {
			blk = st.buf[:(k1-k0)*n]
			for k, r := range rows[k0:k1] {
				copy(blk[k*n:(k+1)*n], m[int(r)*n:int(r+1)*n])
			}
		}
		vek32.MatMul_Into(t, w[k0:k1], blk, k1-k0)
		vek32.Add_Inplace(y, t)
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

// vekSerialFMA is the product size (rows·inner·cols) from which
// vek32.MatMul_Into splits its work over every CPU. The trainer already runs
// one worker per CPU, so matMulAddVek stays below it.
const vekSerialFMA = 100_000

// vekMatChunk is the size of the buffer matMulAddVek stages products in
// (16 KB): vek's product overwrites its destination and MatMulAdd adds.
const vekMatChunk = 4096

// vekStage is the staging memory of the vek products. vek32.MatMul_Into
// may hand its slices to other goroutines, so a buffer on the stack would
// move to the heap on every call: the buffers are pooled instead.
type vekStage struct {
	buf [vekMatChunk]float32
	sum [vekMatChunk / 4]float32
}

var vekStages = sync.Pool{New: func() any { return new(vekStage) }}

// matMulAddVek computes MatMulAdd with vek's AVX2 product (4–8× the row by
// row axpy), a few rows at a time so that vek runs it on this goroutine.
func matMulAddVek(dst, a, b []float32, rows, inner, cols int) {
	if !vekOK || inner < 1 {
		matMulAddPortable(dst, a, b, rows, inner, cols)
		return
	}
	st := vekStages.Get().(*vekStage)
	defer vekStages.Put(st)
	stage := st.buf[:]
	if cols > vekMatChunk {
		// A row wider than the pooled buffer (logits over a whole
		// catalogue) is staged in its own: one allocation against
		// inner·cols multiply-adds.
		stage = make([]float32, cols)
	}
	step := max(1, min(len(stage)/cols, (vekSerialFMA-1)/(inner*cols)))
	for i0 := 0; i0 < rows; i0 += step {
		i1 := min(rows, i0+step)
		t := stage[:(i1-i0)*cols]
		vek32.MatMul_Into(t, a[i0*inner:i1*inner], b, inner)
		vek32.Add_Inplace(dst[i0*cols:i1*cols], t)
	}
}
