//go:build amd64

package vec

import (
	"github.com/viterin/vek/vek32"
	"golang.org/x/sys/cpu"
)

// vekOK reports whether vek32.Dot runs its AVX2/FMA assembly here rather
// than its own Go loop (which is slower than DotPortable).
var vekOK = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// vekMin is the length below which the call into vek costs more than it
// saves. vek32.Dot also panics on empty input, which this rules out.
const vekMin = 16

// DotVek computes Dot with github.com/viterin/vek's AVX2 assembly when the
// CPU has AVX2 and FMA, and with DotPortable otherwise.
func DotVek(a, b []float32) float32 {
	if !vekOK || len(a) < vekMin {
		return DotPortable(a, b)
	}
	return vek32.Dot(a, b[:len(a)])
}
