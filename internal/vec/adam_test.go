package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// adamKernels are the Adam implementations this build can run; builds with
// faster kernels add theirs.
var adamKernels = map[string]func(w, m, v, g []float32, b1, b2, lr, c2, eps float32){"portable": adamPortable}

// Every kernel takes the step a float64 reference takes, to float32
// rounding, at lengths around the vector width.
func TestAdam_Kernels(t *testing.T) {
	const b1, b2, lr, c2, eps = 0.9, 0.999, 0.01, 1.5, 1e-8
	for name, f := range adamKernels {
		for _, n := range []int{0, 1, 15, 16, 17, 33, 100} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(n), 9))
				w, m, v, g := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
				for i := range n {
					w[i], m[i], v[i], g[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()*0.1), float32(rng.Float64()*0.01), float32(rng.NormFloat64())
				}
				if n > 2 {
					g[1], v[1], m[1] = 0, 0, 0 // a weight without gradient or history stays put
				}
				wantW, wantM, wantV := make([]float64, n), make([]float64, n), make([]float64, n)
				for i := range n {
					wantM[i] = b1*float64(m[i]) + (1-b1)*float64(g[i])
					wantV[i] = b2*float64(v[i]) + (1-b2)*float64(g[i])*float64(g[i])
					wantW[i] = float64(w[i]) - lr*wantM[i]/(math.Sqrt(c2*wantV[i])+eps)
				}
				f(w, m, v, g, b1, b2, lr, c2, eps)
				for i := range n {
					for _, c := range []struct {
						what string
						got  float32
						want float64
					}{{"w", w[i], wantW[i]}, {"m", m[i], wantM[i]}, {"v", v[i], wantV[i]}} {
						if math.Abs(float64(c.got)-c.want) > 1e-5*(1+math.Abs(c.want)) {
							t.Fatalf("%s[%d] = %v, want %v", c.what, i, c.got, c.want)
						}
					}
				}
				if n > 2 && (w[1] != float32(wantW[1]) || m[1] != 0 || v[1] != 0) {
					t.Fatalf("untouched weight moved: w %v (want %v), m %v, v %v", w[1], wantW[1], m[1], v[1])
				}
			})
		}
	}
}

func BenchmarkAdam(b *testing.B) {
	const n = 64 * 1024
	w, m, v, g := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range g {
		g[i] = float32(i%7) - 3
	}
	for name, f := range adamKernels {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(4 * 4 * n)
			for b.Loop() {
				f(w, m, v, g, 0.9, 0.999, 0.001, 1, 1e-8)
			}
		})
	}
}
