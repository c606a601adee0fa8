package tower

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Gradient checks: every backward function against central finite
// differences of its forward function. The forward passes run in float32;
// with eps = 1e-2 on inputs of order one their rounding error stays far
// below the tolerance.

const (
	gradEps    = 1e-2
	gradRelTol = 2e-2
	gradAbsTol = 2e-3
)

func randVec(rng *rand.Rand, n int, sd float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * sd)
	}
	return x
}

// checkGrad compares grad with the finite-difference gradient of f with
// respect to x, perturbing x in place.
func checkGrad(t *testing.T, name string, x, grad []float32, f func() float64) {
	t.Helper()
	if len(x) != len(grad) {
		t.Fatalf("%s: %d inputs, %d gradients", name, len(x), len(grad))
	}
	bad := 0
	for i := range x {
		old := x[i]
		x[i] = old + gradEps
		up := f()
		x[i] = old - gradEps
		down := f()
		x[i] = old
		num := (up - down) / (2 * gradEps)
		got := float64(grad[i])
		if diff := math.Abs(num - got); diff > gradAbsTol+gradRelTol*math.Max(math.Abs(num), math.Abs(got)) {
			if bad++; bad <= 5 {
				t.Errorf("%s[%d]: analytic %.6g, numeric %.6g", name, i, got, num)
			}
		}
	}
}

// dotR is Σ r_i·y_i in float64: a random linear read-out that turns a
// vector-valued block into a scalar loss.
func dotR(r, y []float32) float64 {
	var s float64
	for i := range r {
		s += float64(r[i]) * float64(y[i])
	}
	return s
}

func TestGrad_Normalize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, dim := range []int{1, 3, 8} {
		z, r := randVec(rng, dim, 1), randVec(rng, dim, 1)
		y := make([]float32, dim)
		n := normForward(y, z)
		dz := make([]float32, dim)
		normBackward(dz, y, n, r)
		checkGrad(t, fmt.Sprintf("dim%d/z", dim), z, dz, func() float64 {
			normForward(y, z)
			return dotR(r, y)
		})
	}
}

func TestGrad_Dense(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const d = 5
	w, b, x, r := randVec(rng, d*d, 0.5), randVec(rng, d, 0.5), randVec(rng, d, 1), randVec(rng, d, 1)
	z := make([]float32, d)
	dw, db, dx := make([]float32, d*d), make([]float32, d), make([]float32, d)
	denseBackward(dw, db, dx, w, x, r)
	f := func() float64 { denseForward(z, w, b, x); return dotR(r, z) }
	checkGrad(t, "W", w, dw, f)
	checkGrad(t, "b", b, db, f)
	checkGrad(t, "x", x, dx, f)
}

func TestGrad_EmbeddingBag(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	const d = 4
	for _, tc := range []struct {
		name       string
		withID     bool
		toks, cats []int32
	}{
		{"id+tokens+cats", true, []int32{1, 3, 3, 0}, []int32{0, 2}},
		{"content only", false, []int32{2}, []int32{1}},
		{"tokens only, repeated", false, []int32{4, 4, 4}, nil},
		{"id only", true, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, tok, cat, r := randVec(rng, d, 1), randVec(rng, 5*d, 1), randVec(rng, 3*d, 1), randVec(rng, d, 1)
			s := make([]float32, d)
			idRow := func() []float32 {
				if tc.withID {
					return id
				}
				return nil
			}
			gid, gtok, gcat := make([]float32, d), make([]float32, 5*d), make([]float32, 3*d)
			var gidArg []float32
			if tc.withID {
				gidArg = gid
			}
			bagBackward(r, gidArg, tc.toks, func(i int32) []float32 { return gtok[i*d : (i+1)*d] },
				tc.cats, func(i int32) []float32 { return gcat[i*d : (i+1)*d] })
			f := func() float64 { bagForward(s, idRow(), tok, tc.toks, cat, tc.cats); return dotR(r, s) }
			checkGrad(t, "id", id, gid, f)
			checkGrad(t, "tok", tok, gtok, f)
			checkGrad(t, "cat", cat, gcat, f)
		})
	}
}

func TestGrad_Pool(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 4))
	const d, N = 6, 5
	for _, enc := range []string{EncoderMean, EncoderRecency, EncoderAttention} {
		for _, n := range []int{1, 2, 4} {
			// The inputs in order, and as rows of a table that holds one
			// of them twice, as training passes a history.
			tableRows := max(1, n-1)
			dup := make([]int32, n)
			for k := range dup {
				dup[k] = int32(k % tableRows)
			}
			for _, rows := range [][]int32{nil, dup} {
				t.Run(fmt.Sprintf("%s/n=%d/rows=%v", enc, n, rows), func(t *testing.T) {
					size := n
					if rows != nil {
						size = tableRows
					}
					xs, r := randVec(rng, size*d, 1), randVec(rng, d, 1)
					pos, att := randVec(rng, N*d, 0.5), randVec(rng, d*d, 0.7)
					p := make([]float32, d)
					var st poolState
					poolForward(enc, p, xs, rows, n, 0.7, pos, att, &st)
					dxs, dpos, datt := make([]float32, size*d), make([]float32, N*d), make([]float32, d*d)
					poolBackward(enc, r, xs, rows, n, pos, att, &st, dxs, dpos, datt)
					f := func() float64 {
						var st poolState
						poolForward(enc, p, xs, rows, n, 0.7, pos, att, &st)
						return dotR(r, p)
					}
					checkGrad(t, "xs", xs, dxs, f)
					checkGrad(t, "pos", pos, dpos, f)
					checkGrad(t, "att", att, datt, f)
				})
			}
		}
	}
}

func TestGrad_SoftmaxLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	const d = 4
	for _, tc := range []struct {
		name    string
		B       int
		colItem []int32 // nil: no masking
		tgt     []int32
		logQ    bool
		tau     float32
	}{
		{"in-batch", 4, []int32{0, 1, 2, 3}, []int32{0, 1, 2, 3}, false, 0.5},
		{"in-batch logQ", 4, []int32{0, 1, 2, 3}, []int32{0, 1, 2, 3}, true, 0.5},
		{"accidental hits and negatives", 4, []int32{7, 1, 7, 3, 1, 9}, []int32{0, 1, 2, 3}, true, 0.3},
		{"full softmax", 3, nil, []int32{4, 0, 2}, false, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			C := len(tc.colItem)
			if tc.colItem == nil {
				C = 6
			}
			us, vs := randVec(rng, tc.B*d, 1), randVec(rng, C*d, 1)
			var off []float32
			if tc.logQ {
				off = randVec(rng, C, 1)
			}
			dus, dvs := make([]float32, tc.B*d), make([]float32, C*d)
			softmaxLoss(us, vs, d, tc.tau, off, tc.tgt, tc.colItem, dus, dvs, nil)
			f := func() float64 {
				return softmaxLoss(us, vs, d, tc.tau, off, tc.tgt, tc.colItem, make([]float32, tc.B*d), make([]float32, C*d), nil)
			}
			checkGrad(t, "u", us, dus, f)
			checkGrad(t, "v", vs, dvs, f)
		})
	}
}

// TestSoftmaxLoss_Masking checks that an accidental hit leaves the loss of
// its row: the loss equals the loss with the duplicate column removed.
func TestSoftmaxLoss_Masking(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 6))
	const d = 3
	us, vs := randVec(rng, 2*d, 1), randVec(rng, 3*d, 1)
	scratch := func(b, c int) ([]float32, []float32, *lossScratch) {
		return make([]float32, b*d), make([]float32, c*d), nil
	}
	// Columns: item 5, item 6, item 5 again (as a shared negative).
	a, b, c := scratch(2, 3)
	masked := softmaxLoss(us, vs, d, 1, nil, []int32{0, 1}, []int32{5, 6, 5}, a, b, c)
	// Row 0 without column 2, row 1 with it, computed one row at a time.
	a, b, c = scratch(1, 2)
	row0 := softmaxLoss(us[:d], vs[:2*d], d, 1, nil, []int32{0}, nil, a, b, c)
	u1 := us[d:]
	a, b, c = scratch(1, 3)
	row1 := softmaxLoss(u1, vs, d, 1, nil, []int32{1}, []int32{5, 6, 5}, a, b, c)
	if want := (row0 + row1) / 2; math.Abs(masked-want) > 1e-5 {
		t.Fatalf("masked loss %v, want %v", masked, want)
	}
}

func TestGrad_SoftmaxSetLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 6))
	const d = 4
	for _, tc := range []struct {
		name        string
		C           int
		tgt, tgtOff []int32
		logQ        bool
		tau         float32
	}{
		{"one target each", 5, []int32{0, 3, 4}, []int32{0, 1, 2, 3}, false, 0.5},
		{"several targets", 6, []int32{0, 1, 4, 2, 5, 3}, []int32{0, 3, 4, 6}, true, 0.3},
		{"a target twice", 4, []int32{1, 1, 2, 0}, []int32{0, 3, 4}, true, 0.5},
		{"more items than a block", setBlock + 9, []int32{0, setBlock + 3, 70}, []int32{0, 2, 3}, true, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			B := len(tc.tgtOff) - 1
			us, vs := randVec(rng, B*d, 1), randVec(rng, tc.C*d, 1)
			var off []float32
			if tc.logQ {
				off = randVec(rng, tc.C, 1)
			}
			dus, dvs := make([]float32, B*d), make([]float32, tc.C*d)
			softmaxSetLoss(us, vs, d, tc.tau, off, tc.tgt, tc.tgtOff, dus, dvs, nil)
			f := func() float64 {
				return softmaxSetLoss(us, vs, d, tc.tau, off, tc.tgt, tc.tgtOff, make([]float32, B*d), make([]float32, tc.C*d), nil)
			}
			checkGrad(t, "u", us, dus, f)
			checkGrad(t, "v", vs, dvs, f)
		})
	}
	// One target is the single-target softmax.
	us, vs := randVec(rng, 2*d, 1), randVec(rng, 3*d, 1)
	a := softmaxSetLoss(us, vs, d, 0.5, nil, []int32{2, 0}, []int32{0, 1, 2}, make([]float32, 2*d), make([]float32, 3*d), nil)
	b := softmaxLoss(us, vs, d, 0.5, nil, []int32{2, 0}, nil, make([]float32, 2*d), make([]float32, 3*d), nil)
	if math.Abs(a-b) > 1e-5 {
		t.Errorf("one target: set loss %v, softmax loss %v", a, b)
	}
}

func TestTranspose(t *testing.T) {
	for _, sh := range [][4]int{{1, 1, 0, 1}, {1, 7, 0, 7}, {7, 1, 0, 1}, {16, 16, 0, 16}, {17, 33, 0, 33}, {256, 64, 0, 64}, {40, 300, 0, 300},
		{17, 33, 5, 22}, {40, 300, 64, 128}, {3, 100, 99, 100}} {
		rows, cols, c0, c1 := sh[0], sh[1], sh[2], sh[3]
		a := make([]float32, rows*cols)
		for i := range a {
			a[i] = float32(i)
		}
		got := transposeCols(make([]float32, 3), a, rows, cols, c0, c1) // too small: grown
		if c0 == 0 && c1 == cols {
			if whole := transpose(nil, a, rows, cols); !slices.Equal(whole[:rows*cols], got[:rows*cols]) {
				t.Fatalf("%d×%d: transpose and transposeCols differ", rows, cols)
			}
		}
		for r := range rows {
			for c := c0; c < c1; c++ {
				if got[(c-c0)*rows+r] != a[r*cols+c] {
					t.Fatalf("%d×%d, columns %d–%d: at (%d, %d) got %v, want %v", rows, cols, c0, c1, c-c0, r, got[(c-c0)*rows+r], a[r*cols+c])
				}
			}
		}
	}
}

func BenchmarkTranspose(b *testing.B) {
	for _, sh := range [][2]int{{256, 256}, {256, 64}} {
		a := make([]float32, sh[0]*sh[1])
		dst := make([]float32, len(a))
		b.Run(fmt.Sprintf("%dx%d", sh[0], sh[1]), func(b *testing.B) {
			for b.Loop() {
				dst = transpose(dst, a, sh[0], sh[1])
			}
		})
	}
}
