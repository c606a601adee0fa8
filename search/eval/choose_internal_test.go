package eval

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/tower"
)

func TestAscend(t *testing.T) {
	// A score peaking at tower 1, session 0.2 and nothing else, falling
	// with the distance from there.
	peak := map[string]float64{search.SourceCF: 1, search.SourceTower: 1, search.SourceSession: 0.2}
	var visited []map[string]float64
	score := func(c Choice) (ShapeScores, error) {
		visited = append(visited, maps.Clone(c.Sources))
		if c.Fusion != search.FusionRelative || c.Sources[search.SourceCF] != 1 {
			t.Fatalf("choice %+v", c)
		}
		d := 0.0
		for _, name := range search.Sources {
			x := c.Sources[name] - peak[name]
			d += x * x
		}
		v := 1 / (1 + d)
		return ShapeScores{Choice: c, Last: v, Random: v}, nil
	}
	byLast := func(a, b ShapeScores) bool { return a.Last > b.Last }
	if err := ascend(score, byLast); err != nil {
		t.Fatal(err)
	}
	n := len(visited)
	best, bestV := map[string]float64(nil), -1.0
	for _, v := range visited[:n] {
		c := Choice{Fusion: search.FusionRelative, Sources: v}
		if s, _ := score(c); s.Last > bestV {
			best, bestV = v, s.Last
		}
	}
	if !maps.Equal(best, peak) {
		t.Fatalf("best visited %v, want %v", best, peak)
	}
	// The sources besides cf, three new weights each, two passes at most.
	if n > 1+2*(len(search.Sources)-1)*3 {
		t.Fatalf("%d choices scored", n)
	}

	stop := errors.New("budget")
	calls := 0
	err := ascend(func(Choice) (ShapeScores, error) {
		if calls++; calls > 3 {
			return ShapeScores{}, stop
		}
		return ShapeScores{Last: float64(calls)}, nil
	}, byLast)
	if !errors.Is(err, stop) || calls != 4 {
		t.Fatalf("%v after %d calls", err, calls)
	}
}

func TestBetter(t *testing.T) {
	const best = 0.40 // at the random fifth
	floor := (1 - RandomSlack) * best
	in, in2, out := floor+0.001, floor+0.0005, floor-0.001 // within the slack, or below
	tests := []struct {
		name string
		a, b ShapeScores
		want bool
	}{
		{"both within: the last items decide", ShapeScores{Last: 0.05, Random: in}, ShapeScores{Last: 0.04, Random: 0.40}, true},
		{"both within: the last items decide, reversed", ShapeScores{Last: 0.04, Random: 0.40}, ShapeScores{Last: 0.05, Random: in}, false},
		{"within beats below, whatever the last", ShapeScores{Last: 0.01, Random: in2}, ShapeScores{Last: 0.09, Random: out}, true},
		{"below loses to within", ShapeScores{Last: 0.09, Random: out}, ShapeScores{Last: 0.01, Random: 0.40}, false},
		{"both below: the random fifth decides", ShapeScores{Last: 0.01, Random: 0.39}, ShapeScores{Last: 0.09, Random: 0.38}, true},
		{"a tie is not better", ShapeScores{Last: 0.05, Random: 0.40}, ShapeScores{Last: 0.05, Random: 0.40}, false},
		// With the cases' gains, a difference must stand out of their noise.
		{"both within: better at every last item", ShapeScores{Last: 0.05, Random: in, lastGains: []float64{0.05, 0.05, 0.05, 0.05}},
			ShapeScores{Last: 0.04, Random: 0.40, lastGains: []float64{0.04, 0.04, 0.04, 0.04}}, true},
		{"both within: better by one lucky case", ShapeScores{Last: 0.3, Random: in, lastGains: []float64{1, 0.1, 0.1, 0}},
			ShapeScores{Last: 0.05, Random: 0.40, lastGains: []float64{0, 0.1, 0.1, 0}}, false},
		{"both below: better at the random fifth by one lucky case", ShapeScores{Last: 0.01, Random: out - 0.002, randomGains: []float64{0.5, 0.4, 0.3, 0.36}},
			ShapeScores{Last: 0.09, Random: out - 0.012, randomGains: []float64{0.5, 0.4, 0.3, 0.32}}, false},
		{"within against below: clearly better at the random fifth", ShapeScores{Last: 0.01, Random: in2, randomGains: []float64{0.5, 0.4, 0.3, 0.37}},
			ShapeScores{Last: 0.09, Random: out, randomGains: []float64{0.499, 0.399, 0.299, 0.3694}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := better(tc.a, tc.b, best); got != tc.want {
				t.Fatalf("better(%+v, %+v) = %v", tc.a, tc.b, got)
			}
		})
	}
}

func TestClearly(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want bool
	}{
		{"no gains: the means decide", nil, nil, true},
		{"better in every case", []float64{0.2, 0.3, 0.4}, []float64{0.1, 0.2, 0.3}, true},
		{"equal", []float64{0.2, 0.3}, []float64{0.2, 0.3}, false},
		{"worse", []float64{0.1, 0.2}, []float64{0.2, 0.3}, false},
		// Differences 1, 0, 0, 0: mean 0.25, standard error 0.2165.
		{"one case of four", []float64{1, 0, 0, 0}, []float64{0, 0, 0, 0}, false},
		// One case of 100 at +1, the rest +0.01: mean 0.0199, standard
		// error 0.00985, a margin of 2.02.
		{"mostly better", append([]float64{1}, slices.Repeat([]float64{0.01}, 99)...), make([]float64, 100), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := clearly(tc.a, tc.b); got != tc.want {
				t.Fatalf("clearly(%v, %v) = %v", tc.a, tc.b, got)
			}
		})
	}
}

func TestSplitFold(t *testing.T) {
	items := make([]content.Item, 40)
	ids := make([]string, len(items))
	for i := range items {
		ids[i] = fmt.Sprintf("i%02d", i)
		items[i] = content.Item{ID: ids[i], Title: ids[i]}
	}
	ds := tower.NewDataset(items)
	// User u has lengths[u] items, item (u+k)%40 k-th: distinct, in order.
	lengths := []int{3, 4, 5, 6, 7, 12, 30}
	for u, n := range lengths {
		for k := range n {
			ds.AddEvent(content.Event{UserID: fmt.Sprint("u", u), ItemID: ids[(u+k)%len(ids)], Time: time.Unix(int64(1000+k), 0)})
		}
	}
	history := func(u int) []string {
		var h []string
		for k := range lengths[u] {
			h = append(h, ids[(u+k)%len(ids)])
		}
		return h
	}

	var picked [chooseFolds][][]string
	for f := range chooseFolds {
		rest, last, random, users := splitFold(ds, ids, 9, f)
		if users != 5 || len(random) != 5 {
			t.Fatalf("fold %d: %d users, %d random cases; want 5", f, users, len(random))
		}
		li := 0
		for u, n := range lengths {
			h := history(u)
			names := func(row []int32) []string {
				out := make([]string, len(row))
				for k, it := range row {
					out[k] = ids[it]
				}
				return out
			}
			if n < 5 {
				if !slices.Equal(names(rest[u]), h) {
					t.Fatalf("fold %d, user %d: kept %v, want all of %v", f, u, names(rest[u]), h)
				}
				continue
			}
			// The latest min(3, n-4) items, each after everything before it.
			nl := min(chooseLast, n-4)
			for k := n - nl; k < n; k++ {
				c := last[li]
				li++
				if !slices.Equal(c.Targets, h[k:k+1]) || !slices.Equal(c.History, h[:k]) {
					t.Fatalf("fold %d, user %d, item %d: case %+v", f, u, k, c)
				}
			}
			// A fifth of the rest held out, the others kept in order.
			rc := random[len(picked[f])]
			if want := max(1, (n-nl)/5); len(rc.Targets) != want {
				t.Fatalf("fold %d, user %d: %d random targets, want %d", f, u, len(rc.Targets), want)
			}
			var kept []string
			for _, id := range h[:n-nl] {
				if !slices.Contains(rc.Targets, id) {
					kept = append(kept, id)
				}
			}
			if !slices.Equal(rc.History, kept) || !slices.Equal(names(rest[u]), kept) {
				t.Fatalf("fold %d, user %d: history %v, fitted on %v, want %v", f, u, rc.History, names(rest[u]), kept)
			}
			picked[f] = append(picked[f], rc.Targets)
		}
		if li != len(last) {
			t.Fatalf("fold %d: %d last cases, checked %d", f, len(last), li)
		}
	}
	for f := range chooseFolds {
		for g := range f {
			for u := range picked[f] {
				for _, id := range picked[f][u] {
					if slices.Contains(picked[g][u], id) {
						t.Fatalf("user %d: %s held out in folds %d and %d", u, id, g, f)
					}
				}
			}
		}
	}
}
