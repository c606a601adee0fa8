package index_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/tower/cf"
)

// smallFactor fits EASE's factor on 30 random users of 80 items.
func smallFactor(t *testing.T) ([]string, *cf.LowRankEASE) {
	t.Helper()
	r := rand.New(rand.NewPCG(5, 6))
	const n = 80
	train := make([][]int32, 30)
	for u := range train {
		for _, it := range r.Perm(n)[:4+r.IntN(12)] {
			train[u] = append(train[u], int32(it))
		}
	}
	m, ok, err := cf.EASELowRank(context.Background(), n, train, 20)
	if err != nil || !ok {
		t.Fatalf("ok %v, %v", ok, err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("item-%02d", i)
	}
	return ids, m
}

// bruteForce ranks every item by the factor's scores as RecommendWeighted
// should: positive scores, accepted by allow, highest first, ties to the
// earlier item.
func bruteForce(ids []string, m *cf.LowRankEASE, history []int32, weights []float32, k int, allow func(string) bool) []index.Result {
	scores := make([]float32, m.N)
	m.ScoresWeighted(history, weights, scores)
	var all []index.Result
	for j, s := range scores {
		if s > 0 && (allow == nil || allow(ids[j])) {
			all = append(all, index.Result{ID: ids[j], Score: s})
		}
	}
	slices.SortStableFunc(all, func(a, b index.Result) int { return cmp.Compare(b.Score, a.Score) })
	return all[:min(k, len(all))]
}

func TestFactored_Recommend(t *testing.T) {
	ctx := context.Background()
	ids, m := smallFactor(t)
	f, err := index.NewFactored(ids, m)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 80 || f.Users() != 30 || f.Bytes() <= 0 {
		t.Fatalf("%d items, %d users, %d bytes", f.Len(), f.Users(), f.Bytes())
	}
	odd := func(id string) bool { return id[len(id)-1]%2 == 1 }
	tests := []struct {
		name    string
		history []string
		weights []float32
		k       int
		filter  index.Filter
		// want's history and weights, by position, without the strangers
		pos  []int32
		ws   []float32
		keep func(string) bool
	}{
		{"one item", []string{"item-03"}, nil, 10, nil, []int32{3}, nil, nil},
		{"several", []string{"item-03", "item-40", "item-77"}, nil, 5, nil, []int32{3, 40, 77}, nil, nil},
		{"weighted", []string{"item-03", "item-40"}, []float32{2, 0.5}, 5, nil, []int32{3, 40}, []float32{2, 0.5}, nil},
		{"a stranger skipped", []string{"new", "item-40"}, []float32{9, 0.5}, 5, nil, []int32{40}, []float32{0.5}, nil},
		{"filtered", []string{"item-03", "item-40"}, nil, 5, index.FilterFunc(odd), []int32{3, 40}, nil, odd},
		{"more than there are", []string{"item-03"}, nil, 1000, nil, []int32{3}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.RecommendWeighted(ctx, tt.history, tt.weights, tt.k, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			want := bruteForce(ids, m, tt.pos, tt.ws, tt.k, tt.keep)
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	for _, h := range [][]string{nil, {"new"}} {
		if got, err := f.Recommend(ctx, h, 5, nil); err != nil || got != nil {
			t.Errorf("history %v: %v %v", h, got, err)
		}
	}
	if got, err := f.Recommend(ctx, []string{"item-03"}, 0, nil); err != nil || got != nil {
		t.Errorf("k 0: %v %v", got, err)
	}
	if _, err := f.RecommendWeighted(ctx, []string{"item-03"}, []float32{1, 2}, 5, nil); err == nil {
		t.Error("two weights for one item accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Recommend(cancelled, []string{"item-03"}, 5, nil); err == nil {
		t.Error("a cancelled request answered")
	}
}

func TestFactored_SaveLoad(t *testing.T) {
	ctx := context.Background()
	ids, m := smallFactor(t)
	f, err := index.NewFactored(ids, m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.Save(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	g, err := index.LoadFactored(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != f.Len() || g.Users() != f.Users() {
		t.Fatalf("loaded %d items, %d users", g.Len(), g.Users())
	}
	for _, h := range [][]string{{"item-00"}, {"item-10", "item-11", "item-79"}} {
		want, _ := f.Recommend(ctx, h, 10, nil)
		got, _ := g.Recommend(ctx, h, 10, nil)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("history %v: loaded %v, saved %v", h, got, want)
		}
	}
	refusesDamaged(t, buf.Bytes(), func(r io.Reader) error {
		_, err := index.LoadFactored(ctx, r)
		return err
	})
}

func TestNewFactored_Refuses(t *testing.T) {
	ids, m := smallFactor(t)
	dup := slices.Clone(ids)
	dup[1] = dup[0]
	for _, tc := range []struct {
		name string
		ids  []string
		m    *cf.LowRankEASE
	}{
		{"no factor", ids, nil},
		{"fewer ids than items", ids[:10], m},
		{"an id twice", dup, m},
	} {
		if _, err := index.NewFactored(tc.ids, tc.m); !errors.Is(err, index.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
}

func BenchmarkFactored_Recommend(b *testing.B) {
	// 2,000 users of 20,000 items, 50 each: the Last.fm-2k shape at the
	// default bound of users; the lists of the same fit beside it.
	r := rand.New(rand.NewPCG(7, 8))
	const n, users = 20000, 2000
	train := make([][]int32, users)
	for u := range train {
		for range 50 {
			train[u] = append(train[u], int32(r.IntN(n)))
		}
	}
	f, err := cf.Fit(context.Background(), n, train, cf.Config{MaxEASEItems: n})
	if err != nil || f.Exact == nil {
		b.Fatalf("%v %v", f, err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(i)
	}
	fac, err := index.NewFactored(ids, f.Exact)
	if err != nil {
		b.Fatal(err)
	}
	lists, err := index.NewNeighbours(ids, f.Lists.Offsets, f.Lists.Items, f.Lists.Weights)
	if err != nil {
		b.Fatal(err)
	}
	history := make([]string, 50)
	for i := range history {
		history[i] = ids[train[0][i]]
	}
	for _, bc := range []struct {
		name string
		idx  interface {
			Recommend(context.Context, []string, int, index.Filter) ([]index.Result, error)
		}
	}{{"factored", fac}, {"lists", lists}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.idx.Recommend(context.Background(), history, 200, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
