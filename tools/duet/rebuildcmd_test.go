package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/duetrec/duet/search"
	searcheval "github.com/duetrec/duet/search/eval"
	"github.com/duetrec/duet/tools/rebuild"
)

func TestServedLine(t *testing.T) {
	served := searcheval.Choice{Fusion: search.FusionRelative, Sources: map[string]float64{search.SourceCF: 1, search.SourceTower: 0.5}}
	cases := []struct {
		name string
		rep  rebuild.Report
		want []string
	}{
		{"chosen", rebuild.Report{Served: served, Neighbours: "ease", Tuning: &searcheval.Choosing{
			Choice: served, Users: 610, Folds: 2,
			NDCG:    map[string]float64{searcheval.ShapeLast: 0.05, searcheval.ShapeRandom: 0.23},
			Popular: map[string]float64{searcheval.ShapeLast: 0.01, searcheval.ShapeRandom: 0.11},
		}}, []string{"tower 0.5, cf 1, relative fusion", "chosen on 610 users, 2 splits", "0.0500 on their last items (popular 0.0100)", "0.2300 on a random fifth (popular 0.1100)"}},
		{"failed", rebuild.Report{Served: served, TuneError: errors.New("no user has five or more items")}, []string{"the defaults, as choosing failed: no user has five or more items"}},
		{"off", rebuild.Report{Served: served}, []string{"; the defaults"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			line := servedLine(&c.rep)
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("%q\nlacks %q", line, w)
				}
			}
		})
	}
}
