package search_test

import (
	"context"
	"math/rand/v2"
	"slices"
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

func TestTypoQuery(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		q    string
		ok   bool
		long []string // the words that may take the typo
	}{
		{"drama", true, []string{"drama"}},
		{"dark comedy", true, []string{"comedy"}},
		{"war sci", false, []string{"war", "sci"}},
		{"", false, nil},
	}
	for _, tt := range tests {
		for range 50 {
			got, ok := search.TypoQuery(tt.q, rng)
			if ok != tt.ok {
				t.Fatalf("%q: ok %v", tt.q, ok)
			}
			if tt.q == "" {
				if got != "" {
					t.Fatalf("empty query became %q", got)
				}
				continue
			}
			in, out := strings.Fields(tt.q), strings.Fields(got)
			changed := 0
			for i := range in {
				if in[i] == out[i] {
					continue
				}
				changed++
				if !slices.Contains(tt.long, in[i]) || editDistance(in[i], out[i]) != 1 {
					t.Fatalf("%q became %q", tt.q, got)
				}
			}
			if changed != 1 || len(in) != len(out) {
				t.Fatalf("%q became %q: %d words changed", tt.q, got, changed)
			}
		}
	}
}

func TestPrefixQuery(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tt := range []struct {
		q     string
		least int
		ok    bool
	}{{"dark comedy", 2, true}, {"drama", 4, true}, {"war", 3, false}, {"sci fi", 2, false}, {"", 1, false}} {
		seen := map[string]bool{}
		for range 100 {
			got, ok := search.PrefixQuery(tt.q, rng, tt.least)
			if ok != tt.ok || !ok && got != tt.q {
				t.Fatalf("%q: %q, ok %v", tt.q, got, ok)
			}
			if !ok {
				continue
			}
			in, out := strings.Fields(tt.q), strings.Fields(got)
			last, cut := in[len(in)-1], out[len(out)-1]
			if len(in) != len(out) || !strings.HasPrefix(last, cut) || len(cut) < tt.least || len(cut) >= len(last) {
				t.Fatalf("%q cut to %q", tt.q, got)
			}
			seen[got] = true
		}
		if tt.ok && len(seen) < 2 && len(strings.Fields(tt.q)[0]) > tt.least+1 {
			t.Fatalf("%q: every cut the same: %v", tt.q, seen)
		}
	}
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	prev := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur := make([]int, len(y)+1)
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(y)]
}
