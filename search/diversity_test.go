package search

import (
	"errors"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

func ids(fs []fused) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.id)
	}
	return strings.Join(s, ",")
}

func TestMMR(t *testing.T) {
	// a and b are near-duplicates; c is different and a little less relevant.
	cands := []fused{{id: "a", score: 1.0}, {id: "b", score: 0.9}, {id: "c", score: 0.5}, {id: "d", score: 0.0}}
	sim := func(x, y string) float64 {
		if (x == "a" && y == "b") || (x == "b" && y == "a") {
			return 0.99
		}
		return 0
	}
	cases := []struct {
		lambda float64
		want   string
	}{
		{0, "a,b,c"},   // off
		{1, "a,b,c"},   // pure relevance
		{0.7, "a,c,b"}, // b: .7·.9 − .3·.99 = .333 < c: .7·.5 = .35
		{0.9, "a,b,c"}, // b: .81 − .099 = .711 > c: .45
		{0.3, "a,c,d"}, // b: .27 − .693 < 0 = d: 0 − 0; c: .15
	}
	for _, c := range cases {
		if got := ids(mmr(cands, 3, c.lambda, sim)); got != c.want {
			t.Errorf("λ=%v: got %s, want %s", c.lambda, got, c.want)
		}
	}
}

func TestCapPerCategory(t *testing.T) {
	cat := map[string]string{"a": "x", "b": "x", "c": "y", "d": "x", "e": ""}
	cands := []fused{{id: "a"}, {id: "b"}, {id: "c"}, {id: "d"}, {id: "e"}}
	if got := ids(capPerCategory(cands, 1, func(id string) string { return cat[id] })); got != "a,c,e" {
		t.Fatalf("cap 1: %s", got)
	}
	if got := ids(capPerCategory(cands, 2, func(id string) string { return cat[id] })); got != "a,b,c,e" {
		t.Fatalf("cap 2: %s", got)
	}
	if got := ids(capPerCategory(cands, 0, func(id string) string { return cat[id] })); got != "a,b,c,d,e" {
		t.Fatalf("no cap: %s", got)
	}
}

func TestRequest_Normalize(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	s := func(v string) *content.Value { x := content.String(v); return &x }
	cases := []struct {
		name string
		req  Request
		bad  string // "" when valid
	}{
		{"defaults", Request{Query: "x"}, ""},
		{"user only", Request{UserID: "u"}, ""},
		{"nothing at all is fine: popular items", Request{}, ""},
		{"k too big", Request{K: 1001}, "k must"},
		{"negative k", Request{K: -1}, "k must"},
		{"negative offset", Request{Offset: -1}, "offset"},
		{"bad mode", Request{Mode: "psychic"}, "mode"},
		{"bad fusion", Request{Fusion: "magic"}, "fusion"},
		{"alpha above 1", Request{Alpha: f(1.5)}, "alpha"},
		{"rrf k zero after default is fine", Request{RRFK: 0}, ""},
		{"rrf k below 1", Request{RRFK: 0.5}, "rrf_k"},
		{"query too long", Request{Query: strings.Repeat("q", MaxQueryBytes+1)}, "query"},
		{"query with control", Request{Query: "a\x00b"}, "control"},
		{"query not UTF-8", Request{Query: "a\xffb"}, "UTF-8"},
		{"mmr above 1", Request{Diversity: Diversity{MMRLambda: 2}}, "mmr"},
		{"negative cap", Request{Diversity: Diversity{MaxPerCategory: -1}}, "max_per_category"},
		{"keyword mode with nothing", Request{Mode: ModeKeyword}, "keyword mode"},
		{"keyword mode with a filter", Request{Mode: ModeKeyword, Filters: Filters{Tags: []string{"t"}}}, ""},
		{"empty category", Request{Filters: Filters{Categories: []string{""}}}, "empty category"},
		{"attribute without test", Request{Filters: Filters{Attributes: []AttrFilter{{Key: "year"}}}}, "tests nothing"},
		{"inverted range", Request{Filters: Filters{Attributes: []AttrFilter{{Key: "year", Min: f(2000), Max: f(1990)}}}}, "above max"},
		{"equality", Request{Filters: Filters{Attributes: []AttrFilter{{Key: "lang", Equals: s("en")}}}}, ""},
		{"window below k", Request{K: 50, Window: 10}, "window"},
		{"deep page fits the window", Request{K: 10, Offset: 1300}, ""},
		{"page beyond the window", Request{K: 10, Offset: MaxOffset + 1}, "offset"},
		{"two equalities on one key", Request{Filters: Filters{Attributes: []AttrFilter{{Key: "lang", Equals: s("en")}, {Key: "lang", Equals: s("fr")}}}}, "two equality"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.req
			err := r.Normalize()
			if c.bad == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				if r.K == 0 || r.Mode == "" || r.Fusion == "" || r.Alpha == nil || r.RRFK == 0 || r.Window < r.K {
					t.Fatalf("defaults not filled: %+v", r)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), c.bad) {
				t.Fatalf("err %v, want one about %q", err, c.bad)
			}
		})
	}
}
