package search

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func format(fs []fused) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s:%.6f ", f.id, f.score)
	}
	return strings.TrimSpace(b.String())
}

// Hand-worked examples. Vector list: a 0.9, b 0.8, c 0.5. Keyword list:
// c 12, d 6, a 3.
func TestFuse(t *testing.T) {
	vec := []Scored{{"a", 0.9}, {"b", 0.8}, {"c", 0.5}}
	kw := []Scored{{"c", 12}, {"d", 6}, {"a", 3}}
	cases := []struct {
		name   string
		f      Fusion
		alpha  float64
		k      float64
		kwW    float64 // 0: 1
		want   string
		reason string
	}{
		{"rrf k=60", FusionRRF, 0.5, 60, 0, "a:0.032266 c:0.032266 b:0.016129 d:0.016129",
			"a: 1/61+1/63; c: 1/63+1/61 (tie broken by best rank, then id); b: 1/62; d: 1/62"},
		{"rrf k=1", FusionRRF, 0.5, 1, 0, "a:0.750000 c:0.750000 b:0.333333 d:0.333333",
			"a: 1/2+1/4; c: 1/4+1/2; b: 1/3; d: 1/3"},
		{"relative alpha=0.5", FusionRelative, 0.5, 60, 0, "a:0.500000 c:0.500000 b:0.375000 d:0.166667",
			"vector normalised: a 1, b 0.75, c 0; keyword: c 1, d 1/3, a 0; a: .5·1+.5·0; c: .5·0+.5·1; b: .5·.75; d: .5·(1/3)"},
		{"relative alpha=0.75", FusionRelative, 0.75, 60, 0, "a:0.750000 b:0.562500 c:0.250000 d:0.083333",
			"a: .75·1; b: .75·.75; c: .25·1; d: .25/3"},
		{"weighted alpha=0.5", FusionWeighted, 0.5, 60, 0, "c:6.250000 d:3.000000 a:1.950000 b:0.400000",
			"c: .5·.5+.5·12; d: .5·6; a: .5·.9+.5·3; b: .5·.8"},
		{"rrf k=60, keyword at half", FusionRRF, 0.5, 60, 0.5, "a:0.024330 c:0.024070 b:0.016129 d:0.008065",
			"a: 1/61+.5/63; c: 1/63+.5/61; b: 1/62; d: .5/62"},
		{"relative alpha=0.5, keyword at half", FusionRelative, 0.5, 60, 0.5, "a:0.500000 b:0.375000 c:0.250000 d:0.083333",
			"a: .5·1; b: .5·.75; c: .5·.5·1; d: .5·.5/3"},
		{"weighted alpha=0.5, keyword at half", FusionWeighted, 0.5, 60, 0.5, "c:3.250000 d:1.500000 a:1.200000 b:0.400000",
			"c: .5·.5+.5·.5·12; d: .5·.5·6; a: .5·.9+.5·.5·3; b: .5·.8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kwW := c.kwW
			if kwW == 0 {
				kwW = 1
			}
			if got := format(fuse(vec, kw, nil, c.f, c.alpha, c.k, kwW)); got != c.want {
				t.Fatalf("got  %s\nwant %s\n(%s)", got, c.want, c.reason)
			}
		})
	}
}

func TestFuse_PartsAndEdges(t *testing.T) {
	got := fuse([]Scored{{"a", 2}, {"b", 2}}, []Scored{{"b", 5}}, nil, FusionRelative, 0.5, 60, 1)
	// All-equal vector list: both get full weight 1; the one-item keyword list too.
	if format(got) != "b:1.000000 a:0.500000" {
		t.Fatalf("all-equal lists: %s", format(got))
	}
	b := got[0]
	if b.vectorRank != 2 || b.keywordRank != 1 || b.vector != 2 || b.keyword != 5 {
		t.Fatalf("parts of b: %+v", b)
	}
	if got := fuse(nil, nil, nil, FusionRRF, 0.5, 60, 1); len(got) != 0 {
		t.Fatalf("empty lists: %v", got)
	}
	only := fuse([]Scored{{"x", 0.1}}, nil, nil, FusionRRF, 0.5, 60, 1)
	if len(only) != 1 || math.Abs(only[0].score-1.0/61) > 1e-12 || only[0].keywordRank != 0 {
		t.Fatalf("one list: %+v", only)
	}
	// A duplicate inside one list keeps its first (best) rank.
	dup := fuse([]Scored{{"x", 0.9}, {"x", 0.1}}, nil, nil, FusionRRF, 0.5, 60, 1)
	if len(dup) != 1 || dup[0].vectorRank != 1 {
		t.Fatalf("duplicate: %+v", dup)
	}
}

// rescoredLists is what fuse with sim must agree with: the keyword
// candidates the vector list lacks appended to it with sim's scores, and
// the list sorted again, stably.
func rescoredLists(vec, kw []Scored, sim func(string) (float64, bool)) []Scored {
	in := map[string]bool{}
	for _, s := range vec {
		in[s.ID] = true
	}
	out := append([]Scored(nil), vec...)
	for _, s := range kw {
		if in[s.ID] {
			continue
		}
		if v, ok := sim(s.ID); ok {
			out = append(out, Scored{ID: s.ID, Score: v})
		}
	}
	slices.SortStableFunc(out, func(a, b Scored) int { return cmp.Compare(b.Score, a.Score) })
	return out
}

// TestFuse_Rescored holds fuse with sim to fusing the rescored vector list
// without it, on random lists with many tied scores, for every method.
func TestFuse_Rescored(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for round := range 300 {
		// Scores from a few values, so that ties are everywhere.
		score := func() float64 { return float64(rng.IntN(6)) / 4 }
		list := func(n int) []Scored {
			var l []Scored
			seen := map[string]bool{}
			for len(l) < n {
				id := fmt.Sprintf("i%d", rng.IntN(40))
				if !seen[id] {
					seen[id] = true
					l = append(l, Scored{ID: id, Score: score()})
				}
			}
			slices.SortStableFunc(l, func(a, b Scored) int { return cmp.Compare(b.Score, a.Score) })
			return l
		}
		vec, kw := list(rng.IntN(15)), list(rng.IntN(15))
		simScore := map[string]float64{}
		sim := func(id string) (float64, bool) {
			if id[len(id)-1] == '7' { // items without a vector
				return 0, false
			}
			if _, ok := simScore[id]; !ok {
				simScore[id] = score()
			}
			return simScore[id], true
		}
		for _, f := range []Fusion{FusionRRF, FusionRelative, FusionWeighted} {
			want := fuse(rescoredLists(vec, kw, sim), kw, nil, f, 0.3, 5, 1)
			got := fuse(vec, kw, sim, f, 0.3, 5, 1)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d, %v:\nvec %v\nkw  %v\ngot  %+v\nwant %+v", round, f, vec, kw, got, want)
			}
		}
	}
}
