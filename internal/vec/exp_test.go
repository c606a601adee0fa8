package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// expSubKernels are the ExpSub implementations this build can run, each held
// to the portable one; builds with faster kernels add theirs.
var expSubKernels = map[string]func([]float32, float32) float32{"portable": expSubPortable}

// ulps returns how many float32 steps got lies from want.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	step := math.Nextafter32(w, float32(math.Inf(1))) - w
	return math.Abs(float64(got)-want) / float64(step)
}

func TestExp(t *testing.T) {
	inf := float32(math.Inf(1))
	for _, tc := range []struct {
		in, want float32
	}{
		{0, 1},
		{float32(math.Inf(-1)), 0},
		{inf, inf},
		{-88, 0},
		{89, inf},
		{-1000, 0},
	} {
		if got := exp32(tc.in); got != tc.want {
			t.Errorf("exp32(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := exp32(float32(math.NaN())); got == got {
		t.Errorf("exp32(NaN) = %v, want NaN", got)
	}
	worst, at := 0.0, float32(0)
	for i := range 400001 {
		x := float32(expMin + (expMax-expMin)*float64(i)/400000)
		if u := ulps(exp32(x), math.Exp(float64(x))); u > worst {
			worst, at = u, x
		}
	}
	if worst > 2 {
		t.Errorf("Exp is %.2f ulp off at %v, want ≤ 2", worst, at)
	}
}

func TestExpSub_Kernels(t *testing.T) {
	ninf := float32(math.Inf(-1))
	rng := rand.New(rand.NewPCG(5, 5))
	for name, f := range expSubKernels {
		for _, n := range []int{0, 1, 15, 16, 17, 33, 256, 1001} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				x := make([]float32, n)
				for i := range x {
					switch rng.IntN(10) {
					case 0:
						x[i] = ninf // a masked logit
					case 1:
						x[i] = -90 - 10*rng.Float32() // e^x underflows
					default:
						x[i] = 20 * (rng.Float32() - 0.9)
					}
				}
				m := float32(2)
				got := append([]float32(nil), x...)
				sum := f(got, m)
				var want float64
				for i, v := range x {
					w := math.Exp(float64(v - m))
					want += w
					if v < expMin+m {
						if got[i] != 0 {
							t.Errorf("x[%d] = %v: e^(x−m) = %v, want 0", i, v, got[i])
						}
						continue
					}
					if u := ulps(got[i], w); u > 2 {
						t.Errorf("x[%d] = %v: e^(x−m) = %v, want %v (%.1f ulp)", i, v, got[i], w, u)
					}
				}
				if math.Abs(float64(sum)-want) > 1e-5*want+1e-37 { // subnormal terms count as 0
					t.Errorf("sum %v, want %v", sum, want)
				}
			})
		}
	}
}

func BenchmarkExpSub(b *testing.B) {
	x := make([]float32, 256)
	for name, f := range expSubKernels {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for i := range x {
					x[i] = -float32(i%50) / 8
				}
				f(x, 0)
			}
		})
	}
}

// maxKernels are the Max implementations this build can run.
var maxKernels = map[string]func([]float32) float32{"portable": maxPortable}

func TestMax_Kernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for name, f := range maxKernels {
		for _, n := range []int{0, 1, 16, 31, 32, 33, 47, 48, 64, 100, 256, 1001} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				if rng.IntN(5) == 0 {
					x[i] = float32(math.Inf(-1))
				}
			}
			want := float32(math.Inf(-1))
			for _, v := range x {
				want = max(want, v)
			}
			// The largest element at every place, the edges included.
			for at := range x {
				y := append([]float32(nil), x...)
				y[at] = want + 1
				if got := f(y); got != want+1 {
					t.Fatalf("%s n=%d, max at %d: got %v, want %v", name, n, at, got, want+1)
				}
			}
			if got := f(x); got != want {
				t.Errorf("%s n=%d: got %v, want %v", name, n, got, want)
			}
		}
	}
}
