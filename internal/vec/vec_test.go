package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func naiveDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 3, 4, 7, 16, 63, 64, 65, 257} {
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i], b[i] = rng.Float32()*2-1, rng.Float32()*2-1
		}
		if got, want := float64(Dot(a, b)), naiveDot(a, b); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
			t.Errorf("n=%d: Dot=%v, want %v", n, got, want)
		}
	}
}

func TestAxpyNormalize(t *testing.T) {
	y := []float32{1, 2, 3}
	Axpy(2, []float32{1, 0, -1}, y)
	if y[0] != 3 || y[1] != 2 || y[2] != 1 {
		t.Fatalf("Axpy: %v", y)
	}
	x := []float32{3, 4}
	if n := Normalize(x); n != 5 || math.Abs(float64(Norm(x))-1) > 1e-6 {
		t.Fatalf("Normalize: %v %v", n, x)
	}
	z := []float32{0, 0}
	if n := Normalize(z); n != 0 || z[0] != 0 {
		t.Fatalf("zero vector: %v", z)
	}
}

func BenchmarkDot64(b *testing.B) {
	x, y := make([]float32, 64), make([]float32, 64)
	for i := range x {
		x[i], y[i] = float32(i), float32(64-i)
	}
	var s float32
	for b.Loop() {
		s += Dot(x, y)
	}
	_ = s
}
