package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}

func TestMatVecFamily(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sz := range []struct{ r, c int }{{1, 1}, {3, 5}, {8, 8}, {17, 64}} {
		m, x, y := randSlice(rng, sz.r*sz.c), randSlice(rng, sz.c), randSlice(rng, sz.r)
		got := make([]float32, sz.r)
		MatVec(got, m, x)
		for i := range sz.r {
			var want float64
			for j := range sz.c {
				want += float64(m[i*sz.c+j]) * float64(x[j])
			}
			if math.Abs(float64(got[i])-want) > 1e-4 {
				t.Fatalf("%v MatVec[%d] = %v, want %v", sz, i, got[i], want)
			}
		}
		dst := make([]float32, sz.c)
		dst[0] = 1
		MatTVecAdd(dst, m, y)
		for j := range sz.c {
			want := 0.0
			if j == 0 {
				want = 1
			}
			for i := range sz.r {
				want += float64(m[i*sz.c+j]) * float64(y[i])
			}
			if math.Abs(float64(dst[j])-want) > 1e-4 {
				t.Fatalf("%v MatTVecAdd[%d] = %v, want %v", sz, j, dst[j], want)
			}
		}
		m2 := append([]float32(nil), m...)
		AddOuter(m2, 0.5, y, x)
		for i := range sz.r {
			for j := range sz.c {
				want := float64(m[i*sz.c+j]) + 0.5*float64(y[i])*float64(x[j])
				if math.Abs(float64(m2[i*sz.c+j])-want) > 1e-5 {
					t.Fatalf("%v AddOuter[%d,%d] = %v, want %v", sz, i, j, m2[i*sz.c+j], want)
				}
			}
		}
	}
}

func TestSoftmax(t *testing.T) {
	ninf := float32(math.Inf(-1))
	for _, tc := range []struct {
		name string
		in   []float32
	}{
		{"plain", []float32{1, 2, 3}},
		{"large", []float32{1000, 1001, 999}},
		{"masked", []float32{ninf, 0, 1, ninf}},
		{"single", []float32{-5}},
	} {
		x := append([]float32(nil), tc.in...)
		lse := Softmax(x)
		mx := math.Inf(-1)
		for _, v := range tc.in {
			mx = math.Max(mx, float64(v))
		}
		var want float64
		for _, v := range tc.in {
			want += math.Exp(float64(v) - mx)
		}
		want = math.Log(want) + mx
		if math.Abs(float64(lse)-want) > 1e-3*(1+math.Abs(want)) {
			t.Errorf("%s: lse %v, want %v", tc.name, lse, want)
		}
		var sum float64
		for i, p := range x {
			sum += float64(p)
			if tc.in[i] == ninf && p != 0 {
				t.Errorf("%s: masked entry %d has p=%v", tc.name, i, p)
			}
			if w := math.Exp(float64(tc.in[i]) - want); math.Abs(float64(p)-w) > 1e-5 {
				t.Errorf("%s: p[%d]=%v, want %v", tc.name, i, p, w)
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("%s: sum %v", tc.name, sum)
		}
	}
	x := []float32{ninf, ninf}
	if lse := Softmax(x); !math.IsInf(float64(lse), -1) || x[0] != 0 || x[1] != 0 {
		t.Errorf("all masked: %v %v", lse, x)
	}
	if e := exp32(1); math.Abs(float64(e)-math.E) > 1e-6 {
		t.Errorf("exp32(1) = %v", e)
	}
}
