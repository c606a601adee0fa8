package search_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
)

func TestEvaluate(t *testing.T) {
	e, _ := newEngine(t)
	cases := []search.EvalCase{{UserID: "chef", Query: "space", Target: "soup"}}
	res, err := search.Evaluate(context.Background(), e, cases, search.EvalModes())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]search.EvalResult{}
	for _, r := range res {
		got[r.Name] = r
	}
	// keyword: soup is the only title with "space"; vector-query: soup is
	// 4th after orbit, rocket, comet; vector-user: after bread, which is
	// excluded as seen, soup is nearest.
	want := map[string]float64{"keyword": 1, "vector-query": 0.25, "vector-user": 1}
	for name, mrr := range want {
		if r := got[name]; r.MRR != mrr || r.Recall != 1 || r.Cases != 1 {
			t.Errorf("%s: %+v, want MRR %v", name, r, mrr)
		}
	}
	if len(res) != 7 {
		t.Fatalf("%d modes", len(res))
	}
}

func TestQueryFor(t *testing.T) {
	it := &content.Item{ID: "x", Title: "Secret Title Words", Categories: []string{"Science Fiction", "Drama"}, Tags: []string{"time travel", "the"}}
	rng := rand.New(rand.NewPCG(1, 1))
	allowed := map[string]bool{"science": true, "fiction": true, "drama": true, "time": true, "travel": true}
	lens := map[int]int{}
	for range 200 {
		q := search.QueryFor(it, rng)
		words := strings.Fields(q)
		lens[len(words)]++
		for _, w := range words {
			if !allowed[w] {
				t.Fatalf("query %q uses %q", q, w)
			}
		}
		if len(words) == 2 && words[0] == words[1] {
			t.Fatalf("repeated word in %q", q)
		}
	}
	if lens[1] == 0 || lens[2] == 0 || lens[1]+lens[2] != 200 {
		t.Fatalf("query lengths %v", lens)
	}
	a := search.QueryFor(it, rand.New(rand.NewPCG(5, 5)))
	b := search.QueryFor(it, rand.New(rand.NewPCG(5, 5)))
	if a != b {
		t.Fatalf("not deterministic: %q vs %q", a, b)
	}
	if q := search.QueryFor(&content.Item{ID: "y", Title: "Only a title"}, rng); q != "" {
		t.Fatalf("query from a title: %q", q)
	}
}
