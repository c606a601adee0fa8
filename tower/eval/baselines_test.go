package eval_test

import (
	"context"
	"math"
	"testing"

	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/eval"
)

// naiveEASE computes B by Gauss-Jordan inversion in float64.
func naiveEASE(n int, train [][]int32, lambda float64) [][]float64 {
	g := make([][]float64, n)
	for i := range g {
		g[i] = make([]float64, 2*n)
		g[i][n+i] = 1
		g[i][i] = lambda
	}
	for _, h := range train {
		for _, i := range h {
			for _, j := range h {
				g[i][j]++
			}
		}
	}
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(g[r][c]) > math.Abs(g[p][c]) {
				p = r
			}
		}
		g[c], g[p] = g[p], g[c]
		d := g[c][c]
		for k := range g[c] {
			g[c][k] /= d
		}
		for r := range n {
			if r != c {
				f := g[r][c]
				for k := range g[r] {
					g[r][k] -= f * g[c][k]
				}
			}
		}
	}
	b := make([][]float64, n)
	for i := range b {
		b[i] = make([]float64, n)
		for j := range n {
			if i != j {
				b[i][j] = -g[i][n+j] / g[j][n+j]
			}
		}
	}
	return b
}

func TestEASE_Tiny(t *testing.T) {
	ds := dataset(t, 4, nil)
	tests := []struct {
		name  string
		train [][]int32
	}{
		// more users than items: the items×items inverse
		{"primal", [][]int32{{0, 1}, {0, 1, 2}, {2, 3}, {1, 3}, {0}}},
		// fewer users than items (an empty history does not count): the
		// users×users dual form
		{"dual", [][]int32{{0, 1}, nil, {0, 2, 3}, {1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testEASE(t, ds, tt.train) })
	}
}

func testEASE(t *testing.T, ds *tower.Dataset, train [][]int32) {
	for _, lambda := range []float64{0.5, 2, 10} {
		m := &eval.EASE{Lambda: lambda}
		if err := m.Fit(context.Background(), ds, train); err != nil {
			t.Fatal(err)
		}
		want := naiveEASE(4, train, lambda)
		for i := range 4 {
			row := make([]float32, 4)
			m.Score(0, []int32{int32(i)}, row)
			for j := range 4 {
				if math.Abs(float64(row[j])-want[i][j]) > 1e-6 {
					t.Errorf("lambda %v: B[%d][%d] = %v, want %v", lambda, i, j, row[j], want[i][j])
				}
			}
		}
	}
}

func TestItemKNN_Tiny(t *testing.T) {
	// Users of items: 0: {u0,u1}, 1: {u0,u1}, 2: {u1,u2}, 3: {u2}.
	train := [][]int32{{0, 1}, {0, 1, 2}, {2, 3}}
	ds := dataset(t, 4, nil)
	s2 := 1 / math.Sqrt(2)
	tests := []struct {
		name       string
		neighbours int
		shrink     float64
		history    []int32
		want       []float64
	}{
		// sim(0,1) = 2/√(2·2) = 1, sim(0,2) = 1/2, sim(0,3) = 0
		{"all", 0, 0, []int32{0}, []float64{0, 1, 0.5, 0}},
		// item 2: sim to 3 is 1/√2, to 0 and 1 it is 1/2
		{"all from 2", 0, 0, []int32{2}, []float64{0.5, 0.5, 0, s2}},
		{"one neighbour", 1, 0, []int32{2}, []float64{0, 0, 0, s2}},
		// two neighbours of 2: 3, then 0 before 1 on the tie
		{"two neighbours", 2, 0, []int32{2}, []float64{0.5, 0, 0, s2}},
		{"sum over history", 0, 0, []int32{0, 3}, []float64{0, 1, 0.5 + s2, 0}},
		// shrink 1: 2/(2+1)
		{"shrink", 0, 1, []int32{0}, []float64{0, 2.0 / 3, 1.0 / 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &eval.ItemKNN{Neighbours: tt.neighbours, Shrink: tt.shrink}
			if err := m.Fit(context.Background(), ds, train); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 4)
			m.Score(0, tt.history, got)
			for j, w := range tt.want {
				if math.Abs(float64(got[j])-w) > 1e-6 {
					t.Errorf("score of %d = %v, want %v", j, got[j], w)
				}
			}
		})
	}
}

func TestPop(t *testing.T) {
	m := &eval.Pop{}
	if err := m.Fit(context.Background(), dataset(t, 3, nil), [][]int32{{0, 1}, {1}, {1, 2}}); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 3)
	m.Score(0, nil, got)
	if got[0] != 1 || got[1] != 3 || got[2] != 1 {
		t.Errorf("pop scores %v", got)
	}
}

func TestBPR_BeatsPop(t *testing.T) {
	ds := generated(t)
	s := eval.SplitLast(ds)
	bpr := &eval.BPR{Seed: 1, Grid: []eval.BPRParams{{LearnRate: 0.05, Reg: 0.01, Epochs: 30}}}
	rep, err := eval.Run(context.Background(), ds, s, []eval.Recommender{&eval.Pop{}, bpr}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pop, got := rep.Models[0].Metrics["ndcg@10"], rep.Models[1].Metrics["ndcg@10"]
	t.Logf("ndcg@10: pop %.4f, bpr %.4f", pop, got)
	if !(got > pop) {
		t.Errorf("bpr ndcg@10 %.4f does not beat pop %.4f", got, pop)
	}
	// Same seed, same model.
	a, b := &eval.BPR{Seed: 5, Epochs: 2}, &eval.BPR{Seed: 5, Epochs: 2}
	train := s.TrainItems()
	for _, m := range []*eval.BPR{a, b} {
		if err := m.Fit(context.Background(), ds, train); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb := make([]float32, len(ds.Items)), make([]float32, len(ds.Items))
	a.Score(3, nil, sa)
	b.Score(3, nil, sb)
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("same seed, score of item %d differs: %v and %v", i, sa[i], sb[i])
		}
	}
}

func TestNewBaseline(t *testing.T) {
	for _, name := range eval.Baselines {
		m, err := eval.NewBaseline(name, 1)
		if err != nil || m.Name() != name {
			t.Errorf("%s: %v, %v", name, m, err)
		}
	}
	if _, err := eval.NewBaseline("nope", 1); err == nil {
		t.Error("unknown baseline accepted")
	}
}

func TestScore_Unfitted(t *testing.T) {
	// Misuse must not panic: an unfitted model or a wrong-sized slice
	// leaves the scores alone.
	for _, m := range []eval.Recommender{&eval.Pop{}, &eval.ItemKNN{}, &eval.EASE{}, &eval.BPR{}} {
		scores := make([]float32, 4)
		m.Score(0, []int32{1, 7}, scores)
		for _, s := range scores {
			if s != 0 {
				t.Errorf("%s: unfitted scores %v", m.Name(), scores)
				break
			}
		}
	}
}
