package cf_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/duetrec/duet/tower/cf"
)

func TestCooccurrence(t *testing.T) {
	// Users: {0,1}, {0,1,2}, {2,3}. Items 0 and 1 share two users of two
	// each: cosine 1; 1 and 2 share one of 2×2: 0.5.
	train := [][]int32{{0, 1}, {0, 1, 2}, {2, 3}}
	l, err := cf.Cooccurrence(context.Background(), 4, train, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	weight := func(i, j int32) float32 {
		items, ws := l.Row(int(i))
		for k, it := range items {
			if it == j {
				return ws[k]
			}
		}
		return 0
	}
	for _, tc := range []struct {
		i, j int32
		want float64
	}{{0, 1, 1}, {1, 2, 0.5}, {2, 3, 1 / math.Sqrt2}, {0, 3, 0}, {0, 0, 0}} {
		if got := weight(tc.i, tc.j); math.Abs(float64(got)-tc.want) > 1e-6 {
			t.Errorf("weight(%d, %d) = %v, want %v", tc.i, tc.j, got, tc.want)
		}
	}
	// Two neighbours at most, best first.
	top, err := cf.Cooccurrence(context.Background(), 4, train, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if items, _ := top.Row(2); len(items) != 1 || items[0] != 3 {
		t.Fatalf("item 2's best neighbour %v, want [3]", items)
	}
	scores := make([]float32, 4)
	l.Score([]int32{0, 2}, scores)
	if math.Abs(float64(scores[1])-1.5) > 1e-6 || scores[0] == 0 {
		t.Fatalf("scores %v", scores)
	}
}

func TestEASE_ListsAreTheTopOfB(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 40
	train := make([][]int32, 25)
	for u := range train {
		for _, it := range r.Perm(n)[:3+r.IntN(8)] {
			train[u] = append(train[u], int32(it))
		}
	}
	ctx := context.Background()
	b, err := cf.EASEWeights(ctx, n, train, 10)
	if err != nil {
		t.Fatal(err)
	}
	l, err := cf.EASE(ctx, n, train, 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		items, ws := l.Row(i)
		if len(items) > 5 {
			t.Fatalf("item %d keeps %d neighbours", i, len(items))
		}
		abs := func(x float32) float32 { return float32(math.Abs(float64(x))) }
		for k, j := range items {
			if ws[k] != b[i*n+int(j)] || ws[k] == 0 || int(j) == i {
				t.Fatalf("item %d neighbour %d weight %v, B %v", i, j, ws[k], b[i*n+int(j)])
			}
			if k > 0 && abs(ws[k]) > abs(ws[k-1]) {
				t.Fatalf("item %d: not strongest first", i)
			}
		}
		// Nothing left out outweighs the weakest kept.
		if len(items) == 5 {
			kept := map[int32]bool{}
			for _, j := range items {
				kept[j] = true
			}
			for j := range n {
				if !kept[int32(j)] && abs(b[i*n+j]) > abs(ws[4]) {
					t.Fatalf("item %d: %d (%v) left out, weaker %v kept", i, j, b[i*n+j], ws[4])
				}
			}
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := cf.Cooccurrence(ctx, 2, [][]int32{{0, 5}}, 0, 0); err == nil {
		t.Error("out-of-range item accepted")
	}
	if _, err := cf.Cooccurrence(ctx, 2, nil, -1, 0); err == nil {
		t.Error("negative shrink accepted")
	}
	if _, err := cf.EASEWeights(ctx, 2, nil, 0); err == nil {
		t.Error("lambda 0 accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cf.Cooccurrence(cancelled, 100, [][]int32{{0, 1}}, 0, 0); err == nil {
		t.Error("a cancelled build succeeded")
	}
}

func TestEASELowRank_ScoresAsB(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	const n = 60
	train := make([][]int32, 25) // fewer users than items: the dual form
	for u := range train {
		for _, it := range r.Perm(n)[:3+r.IntN(10)] {
			train[u] = append(train[u], int32(it))
		}
	}
	train[7] = nil // a user without items counts for nothing
	ctx := context.Background()
	for _, lambda := range []float64{1, 10, 250} {
		b, err := cf.EASEWeights(ctx, n, train, lambda)
		if err != nil {
			t.Fatal(err)
		}
		low, ok, err := cf.EASELowRank(ctx, n, train, lambda)
		if err != nil || !ok || low.K != 24 {
			t.Fatalf("λ %v: ok %v, %d users, %v", lambda, ok, low.K, err)
		}
		for trial := range 20 {
			hist := make([]int32, 0, 12)
			for _, it := range r.Perm(n)[:1+trial%12] {
				hist = append(hist, int32(it))
			}
			want := make([]float32, n)
			for _, h := range hist {
				for j := range n {
					want[j] += b[int(h)*n+j]
				}
			}
			got := make([]float32, n)
			low.Scores(hist, got)
			for j := range n {
				if math.Abs(float64(got[j]-want[j])) > 1e-4*(1+math.Abs(float64(want[j]))) {
					t.Fatalf("λ %v, history %v, item %d: %v, want %v", lambda, hist, j, got[j], want[j])
				}
			}
		}
	}
	// As many users as items: no dual form.
	square := make([][]int32, n)
	for u := range square {
		square[u] = []int32{int32(u)}
	}
	if _, ok, err := cf.EASELowRank(ctx, n, square, 10); ok || err != nil {
		t.Fatalf("square: ok %v, %v", ok, err)
	}
	if _, _, err := cf.EASELowRank(ctx, n, train, 0); err == nil {
		t.Fatal("λ 0 accepted")
	}
}
