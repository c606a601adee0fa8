package vec

import "math"

// The float32 exponential: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by a
// degree-7 polynomial (Cephes' expf coefficients, about 1 ulp), times
// 2ⁿ. The same steps vectorise, which math.Exp's float64 path does not.
const (
	expMax = 88.72283  // above, e^x overflows float32
	expMin = -87.33654 // below, e^x is subnormal in float32: 0 here
	log2e  = 1.44269504088896341
	ln2Hi  = 0.693359375 // ln 2 = ln2Hi + ln2Lo, ln2Hi exact in a few bits
	ln2Lo  = -2.12194440e-4
	expP0  = 1.9875691500e-4
	expP1  = 1.3981999507e-3
	expP2  = 8.3334519073e-3
	expP3  = 4.1665795894e-2
	expP4  = 1.6666665459e-1
	expP5  = 5.0000001201e-1
)

// exp32 returns e^x in float32 arithmetic, within 2 ulp of the float64
// result rounded; it is 0 below about −87.34 (where float32 turns
// subnormal) and +Inf above about 88.72.
func exp32(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > expMax:
		return float32(math.Inf(1))
	case x < expMin:
		return 0
	}
	n := float32(math.RoundToEven(float64(x * log2e)))
	r := x - n*ln2Hi
	r -= n * ln2Lo
	p := float32(expP0)
	p = p*r + expP1
	p = p*r + expP2
	p = p*r + expP3
	p = p*r + expP4
	p = p*r + expP5
	p = p*(r*r) + r + 1
	e := int32(n)
	if e > 127 { // 2ⁿ itself would overflow; e^x does not yet
		p *= 2
		e--
	}
	return p * math.Float32frombits(uint32(e+127)<<23)
}

// ExpSub replaces every x[i] by e^(x[i]−m) and returns their sum: the
// exponentials of a softmax, m being the maximum.
func ExpSub(x []float32, m float32) float32 { return expSub(x, m) }

// expSubPortable is the reference ExpSub: plain Go.
func expSubPortable(x []float32, m float32) float32 {
	var sum float32
	for i, v := range x {
		e := exp32(v - m)
		x[i] = e
		sum += e
	}
	return sum
}

// Max returns the largest element of x, −Inf when x is empty. NaNs are
// not ordered: the result of a slice holding one is undefined.
func Max(x []float32) float32 { return maxOf(x) }

// maxPortable is the reference Max: plain Go.
func maxPortable(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}
