package vec

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// kernels lists every inner-product kernel this build has; each must agree
// with DotPortable.
var kernels = map[string]func(a, b []float32) float32{
	"portable": DotPortable,
	"dot":      Dot,
}

func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, f := range kernels {
		for _, n := range []int{0, 1, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100, 128, 200, 256, 257, 768} {
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
