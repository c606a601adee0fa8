package cf_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
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

// EASE's lists are the strongest weights of B's rows; with fewer users
// than items, the strongest among the items sharing a user with the row's.
func TestEASE_ListsAreTheTopOfB(t *testing.T) {
	const n, top = 40, 5
	for _, users := range []int{25, 60} {
		r := rand.New(rand.NewPCG(1, uint64(users)))
		train := make([][]int32, users)
		for u := range train {
			for _, it := range r.Perm(n)[:3+r.IntN(8)] {
				train[u] = append(train[u], int32(it))
			}
		}
		dual := users < n
		shares := func(i, j int) bool {
			for _, h := range train {
				if slices.Contains(h, int32(i)) && slices.Contains(h, int32(j)) {
					return true
				}
			}
			return false
		}
		ctx := context.Background()
		b, err := cf.EASEWeights(ctx, n, train, 10)
		if err != nil {
			t.Fatal(err)
		}
		l, err := cf.EASE(ctx, n, train, 10, top)
		if err != nil {
			t.Fatal(err)
		}
		abs := func(x float32) float32 { return float32(math.Abs(float64(x))) }
		for i := range n {
			items, ws := l.Row(i)
			if len(items) > top {
				t.Fatalf("%d users: item %d keeps %d neighbours", users, i, len(items))
			}
			for k, j := range items {
				if abs(ws[k]-b[i*n+int(j)]) > 1e-5*(1+abs(ws[k])) || ws[k] == 0 || int(j) == i {
					t.Fatalf("%d users: item %d neighbour %d weight %v, B %v", users, i, j, ws[k], b[i*n+int(j)])
				}
				if dual && !shares(i, int(j)) {
					t.Fatalf("%d users: item %d neighbour %d shares no user", users, i, j)
				}
				if k > 0 && abs(ws[k]) > abs(ws[k-1]) {
					t.Fatalf("%d users: item %d: not strongest first", users, i)
				}
			}
			// Nothing left out (of the candidates) outweighs the weakest kept.
			if len(items) == top {
				for j := range n {
					cand := j != i && (!dual || shares(i, j))
					if cand && !slices.Contains(items, int32(j)) && abs(b[i*n+j]) > abs(ws[top-1])*(1+1e-5) {
						t.Fatalf("%d users: item %d: %d (%v) left out, weaker %v kept", users, i, j, b[i*n+j], ws[top-1])
					}
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
			// Weighted, an item twice, and one out of range: the rows
			// scaled and summed, the stranger ignored.
			hist = append(hist, hist[0], -1, n)
			ws := make([]float32, len(hist))
			for i := range ws {
				ws[i] = 0.25 + float32(i%4)
			}
			clear(want)
			for i, h := range hist {
				if h >= 0 && h < n {
					for j := range n {
						want[j] += ws[i] * b[int(h)*n+j]
					}
				}
			}
			clear(got)
			low.ScoresWeighted(hist, ws, got)
			for j := range n {
				if math.Abs(float64(got[j]-want[j])) > 1e-4*(1+math.Abs(float64(want[j]))) {
					t.Fatalf("λ %v, weighted history %v, item %d: %v, want %v", lambda, hist, j, got[j], want[j])
				}
			}
		}
		// Rebuilt from its parts, the factor scores the same.
		again, err := cf.NewLowRankEASE(low.N, low.K, low.D, low.UInv, low.Users)
		if err != nil {
			t.Fatal(err)
		}
		hist := []int32{3, 9, 27}
		want, got := make([]float32, n), make([]float32, n)
		low.Scores(hist, want)
		again.Scores(hist, got)
		if !slices.Equal(got, want) {
			t.Fatalf("λ %v: rebuilt factor scores %v, want %v", lambda, got, want)
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

func TestNewLowRankEASE_Refuses(t *testing.T) {
	good := func() (d, uinv []float32, users [][]int32) {
		return []float32{0.5, 0.5, 0.5}, []float32{1, 0.1, 1}, [][]int32{{0}, {0, 1}, {}}
	}
	tests := []struct {
		name   string
		n, k   int
		change func(d, uinv []float32, users [][]int32) ([]float32, []float32, [][]int32)
	}{
		{"no users", 3, 0, nil},
		{"a short diagonal", 3, 2, func(d, u []float32, us [][]int32) ([]float32, []float32, [][]int32) { return d[:2], u, us }},
		{"a short triangle", 3, 2, func(d, u []float32, us [][]int32) ([]float32, []float32, [][]int32) { return d, u[:2], us }},
		{"a zero diagonal", 3, 2, func(d, u []float32, us [][]int32) ([]float32, []float32, [][]int32) {
			d[1] = 0
			return d, u, us
		}},
		{"a NaN in the triangle", 3, 2, func(d, u []float32, us [][]int32) ([]float32, []float32, [][]int32) {
			u[1] = float32(math.NaN())
			return d, u, us
		}},
		{"a user out of range", 3, 2, func(d, u []float32, us [][]int32) ([]float32, []float32, [][]int32) {
			us[1][1] = 2
			return d, u, us
		}},
		{"users not ascending", 3, 2, func(d, u []float32, us [][]int32) ([]float32, []float32, [][]int32) {
			us[1][0], us[1][1] = 1, 0
			return d, u, us
		}},
	}
	d, u, us := good()
	if _, err := cf.NewLowRankEASE(3, 2, d, u, us); err != nil {
		t.Fatalf("good parts: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, u, us := good()
			if tt.change != nil {
				d, u, us = tt.change(d, u, us)
			}
			if _, err := cf.NewLowRankEASE(tt.n, tt.k, d, u, us); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestFit_Exact(t *testing.T) {
	ctx := context.Background()
	// Three users, five items: the dual form.
	train := [][]int32{{0, 1, 2}, {1, 2, 3}, {0, 4}}
	tests := []struct {
		name  string
		cfg   cf.Config
		exact bool
	}{
		{"default", cf.Config{}, true},
		{"at the bound", cf.Config{MaxExactUsers: 3}, true},
		{"over the bound", cf.Config{MaxExactUsers: 2}, false},
		{"never", cf.Config{MaxExactUsers: -1}, false},
		{"co-occurrence", cf.Config{Method: cf.MethodCooccurrence}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := cf.Fit(ctx, 5, train, tt.cfg)
			if err != nil || f.Lists.Len() != 5 || (f.Exact != nil) != tt.exact {
				t.Fatalf("%+v, %v", f, err)
			}
			if f.Exact != nil && (f.Exact.YT != nil || f.Exact.K != 3 || f.Exact.Bytes() <= 0) {
				t.Fatalf("factor %+v", f.Exact)
			}
		})
	}
	// More users than items: no dual form, no factor.
	f, err := cf.Fit(ctx, 2, [][]int32{{0}, {1}, {0, 1}}, cf.Config{})
	if err != nil || f.Exact != nil {
		t.Fatalf("%+v, %v", f, err)
	}
}

func TestSequenceAndNearby(t *testing.T) {
	// Histories oldest first: 0 → 1 → 2, 0 → 2, 3 → 0. Users: item 0
	// three, 1 one, 2 two, 3 one.
	train := [][]int32{{0, 1, 2}, {0, 2}, {3, 0}}
	c := func(pairs, ui, uj float64) float32 { return float32(pairs / math.Sqrt(ui*uj)) }
	type lists func(ctx context.Context, n int, train [][]int32, window, top int) (*cf.Lists, error)
	tests := []struct {
		name   string
		fit    lists
		window int
		top    int
		want   map[int32]map[int32]float32 // item → neighbour → weight
	}{
		{"sequence: next only", cf.Sequence, 1, 0, map[int32]map[int32]float32{0: {1: 1, 2: 1}, 1: {2: 1}, 3: {0: 1}}},
		{"sequence: two places", cf.Sequence, 2, 0, map[int32]map[int32]float32{0: {1: 1, 2: 1.5}, 1: {2: 1}, 3: {0: 1}}},
		{"sequence: the heaviest only", cf.Sequence, 2, 1, map[int32]map[int32]float32{0: {2: 1.5}, 1: {2: 1}, 3: {0: 1}}},
		{"nearby: either side, one place", cf.Nearby, 1, 0, map[int32]map[int32]float32{
			0: {1: c(1, 3, 1), 2: c(1, 3, 2), 3: c(1, 3, 1)},
			1: {0: c(1, 1, 3), 2: c(1, 1, 2)},
			2: {0: c(1, 2, 3), 1: c(1, 2, 1)},
			3: {0: c(1, 1, 3)},
		}},
		{"nearby: two places, 0 and 2 met twice", cf.Nearby, 2, 0, map[int32]map[int32]float32{
			0: {1: c(1, 3, 1), 2: c(2, 3, 2), 3: c(1, 3, 1)},
			1: {0: c(1, 1, 3), 2: c(1, 1, 2)},
			2: {0: c(2, 2, 3), 1: c(1, 2, 1)},
			3: {0: c(1, 1, 3)},
		}},
		{"nearby: the best only", cf.Nearby, 2, 1, map[int32]map[int32]float32{
			0: {2: c(2, 3, 2)}, 1: {2: c(1, 1, 2)}, 2: {0: c(2, 2, 3)}, 3: {0: c(1, 1, 3)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := tt.fit(context.Background(), 4, train, tt.window, tt.top)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, l, tt.want)
		})
	}
	for _, fit := range []lists{cf.Sequence, cf.Nearby} {
		for _, bad := range []struct {
			name   string
			train  [][]int32
			window int
		}{{"zero window", train, 0}, {"item out of range", [][]int32{{0, 4}}, 1}} {
			if _, err := fit(context.Background(), 4, bad.train, bad.window, 0); err == nil {
				t.Errorf("%s: accepted", bad.name)
			}
		}
	}
}

// checkRows checks that each item's row of l holds the neighbours and
// weights of want (item → neighbour → weight), best first.
func checkRows(t *testing.T, l *cf.Lists, want map[int32]map[int32]float32) {
	t.Helper()
	for i := range l.Len() {
		items, ws := l.Row(i)
		got := map[int32]float32{}
		for k, j := range items {
			got[j] = ws[k]
			if k > 0 && ws[k] > ws[k-1] {
				t.Errorf("item %d: not best first: %v", i, ws)
			}
		}
		w := want[int32(i)]
		same := len(got) == len(w)
		for j, v := range w {
			if g, ok := got[j]; !ok || math.Abs(float64(g-v)) > 1e-6 {
				same = false
			}
		}
		if !same {
			t.Errorf("item %d: neighbours %v, want %v", i, got, w)
		}
	}
}
