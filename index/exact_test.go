package index

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// naiveTop scores every row in float64 and sorts: the definition Exact
// must match.
type hit struct {
	id string
	s  float64
}

func naiveTop(d dataset, live map[string]bool, q []float32, k int, allow func(string) bool) []hit {
	var hits []hit
	for i, id := range d.ids {
		if !live[id] || (allow != nil && !allow(id)) {
			continue
		}
		var s float64
		for j, x := range d.row(i) {
			s += float64(x) * float64(q[j])
		}
		hits = append(hits, hit{id, s})
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.s > b.s {
			return -1
		}
		if a.s < b.s {
			return 1
		}
		return 0
	})
	return hits[:min(k, len(hits))]
}

func TestExact_MatchesNaiveScan(t *testing.T) {
	ctx := context.Background()
	d := randomData(3000, 24, 41)
	q := randomData(50, 24, 42)
	e, _ := NewExact(24)
	build(t, e, d)
	live := map[string]bool{}
	for _, id := range d.ids {
		live[id] = true
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 1000; i++ {
		id := d.ids[rng.IntN(d.len())]
		if live[id] {
			if err := e.Delete(id); err != nil {
				t.Fatal(err)
			}
			delete(live, id)
		}
	}
	if e.Len() != len(live) {
		t.Fatalf("Len %d, want %d", e.Len(), len(live))
	}
	odd := func(id string) bool { return id[len(id)-1]%2 == 1 }
	cases := []struct {
		name   string
		k      int
		filter Filter
		allow  func(string) bool
	}{
		{"k1", 1, nil, nil},
		{"k10", 10, nil, nil},
		{"k all", 5000, nil, nil},
		{"func", 10, FilterFunc(odd), odd},
		{"set", 10, NewAllowSet(d.ids[:300]...), NewAllowSet(d.ids[:300]...).Allow},
		{"empty set", 10, AllowSet{}, func(string) bool { return false }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range q.len() {
				res, err := e.Search(ctx, q.row(i), c.k, c.filter)
				if err != nil {
					t.Fatal(err)
				}
				checkSorted(t, res)
				want := naiveTop(d, live, q.row(i), c.k, c.allow)
				if len(res) != len(want) {
					t.Fatalf("query %d: %d results, want %d", i, len(res), len(want))
				}
				for j := range res {
					// Near-ties may swap between float32 and float64 sums.
					if res[j].ID != want[j].id && math.Abs(float64(res[j].Score)-want[j].s) > 1e-5 {
						t.Fatalf("query %d rank %d: %s %v, want %s %v", i, j, res[j].ID, res[j].Score, want[j].id, want[j].s)
					}
				}
			}
		})
	}
}

func TestExact_SwapRemove(t *testing.T) {
	e, _ := NewExact(2)
	for i := range 5 {
		e.Add(fmt.Sprint(i), []float32{float32(i + 1), 1})
	}
	if err := e.Delete("1"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.ids, []string{"0", "4", "2", "3"}) {
		t.Fatalf("ids after delete: %v", e.ids)
	}
	v, ok := e.Vector("4")
	w, _ := normalized([]float32{5, 1}, 2)
	if !ok || !slices.Equal(v, w) {
		t.Fatalf("moved row: %v, want %v", v, w)
	}
	e.Delete("3") // the last row
	e.Delete("0")
	if e.Len() != 2 || len(e.data) != 4 {
		t.Fatalf("Len %d, %d floats", e.Len(), len(e.data))
	}
}

// The filter runs on what would enter the top k only: a filter that looks
// items up (as the engine's, in its catalogue) costs little more than none.
func BenchmarkExactSearch(b *testing.B) {
	d, q := benchData(b)
	e, _ := NewExact(64)
	build(b, e, d)
	known := make(map[string]bool, len(d.ids))
	for i, id := range d.ids {
		known[id] = i%10 != 0
	}
	var mu sync.RWMutex
	lookup := FilterFunc(func(id string) bool {
		mu.RLock()
		ok := known[id]
		mu.RUnlock()
		return ok
	})
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		filter Filter
	}{{"none", nil}, {"lookup", lookup}} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				e.Search(ctx, q.row(i%q.len()), 10, bc.filter)
				i++
			}
		})
	}
}
