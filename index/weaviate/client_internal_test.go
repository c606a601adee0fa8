package weaviate

import (
	"slices"
	"testing"
)

// The nodes are tried in turn from a different one each call, the shunned
// last in the same turn.
func TestClient_Order(t *testing.T) {
	c, err := Open("weaviate://a:1,b:2,c:3")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		shun []int
		want [][]int // three calls in a row
	}{
		{nil, [][]int{{1, 2, 0}, {2, 0, 1}, {0, 1, 2}}},
		{[]int{2}, [][]int{{1, 0, 2}, {0, 1, 2}, {0, 1, 2}}},
		{[]int{0, 1}, [][]int{{2, 1, 0}, {2, 0, 1}, {2, 0, 1}}},
		{[]int{0, 1, 2}, [][]int{{1, 2, 0}, {2, 0, 1}, {0, 1, 2}}},
	} {
		c.next.Store(0)
		for i := range c.shunned {
			c.shunned[i].Store(0)
		}
		for _, n := range tc.shun {
			c.shun(n)
		}
		for i, want := range tc.want {
			if got := c.order(); !slices.Equal(got, want) {
				t.Errorf("shunned %v, call %d: order %v, want %v", tc.shun, i, got, want)
			}
		}
	}
}

// Hedges are a tenth of reads once the first burst is spent.
func TestHedgeBudget(t *testing.T) {
	b := hedgeBudget{tokens: hedgeBurst}
	spent := 0
	for range 1000 {
		b.earn()
		if b.spend() {
			spent++
		}
	}
	if want := hedgeBurst + int(1000*hedgeShare); spent < want-1 || spent > want {
		t.Fatalf("%d hedges over 1,000 reads, want %d", spent, want)
	}
}
