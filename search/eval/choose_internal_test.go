package eval

import (
	"errors"
	"maps"
	"testing"

	"github.com/duetrec/duet/search"
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
	const best = 0.40 // at the random fifth; the floor is 0.392
	tests := []struct {
		name string
		a, b ShapeScores
		want bool
	}{
		{"both within: the last items decide", ShapeScores{Last: 0.05, Random: 0.393}, ShapeScores{Last: 0.04, Random: 0.40}, true},
		{"both within: the last items decide, reversed", ShapeScores{Last: 0.04, Random: 0.40}, ShapeScores{Last: 0.05, Random: 0.393}, false},
		{"within beats below, whatever the last", ShapeScores{Last: 0.01, Random: 0.3925}, ShapeScores{Last: 0.09, Random: 0.391}, true},
		{"below loses to within", ShapeScores{Last: 0.09, Random: 0.391}, ShapeScores{Last: 0.01, Random: 0.40}, false},
		{"both below: the random fifth decides", ShapeScores{Last: 0.01, Random: 0.39}, ShapeScores{Last: 0.09, Random: 0.38}, true},
		{"a tie is not better", ShapeScores{Last: 0.05, Random: 0.40}, ShapeScores{Last: 0.05, Random: 0.40}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := better(tc.a, tc.b, best); got != tc.want {
				t.Fatalf("better(%+v, %+v) = %v", tc.a, tc.b, got)
			}
		})
	}
}
