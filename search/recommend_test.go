package search_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
)

// newRecommender is newEngine's world with collaborative lists: bread →
// bebop (1), comet (0.5); rocket → soup (1); sequence lists: bread was
// followed by orbit, rocket by comet; and nearby lists: bebop was met close
// to rocket, comet to bread.
func newRecommender(t *testing.T, opts search.Options) *search.Engine {
	t.Helper()
	return newRecommenderWith(t, opts, nil)
}

// newRecommenderWith is newRecommender with its parts changed by change.
func newRecommenderWith(t *testing.T, opts search.Options, change func(*search.Parts)) *search.Engine {
	t.Helper()
	e, text := newEngine(t)
	ids := []string{"rocket", "orbit", "comet", "bread", "soup", "bebop"}
	nbrs, err := index.NewNeighbours(ids, []int64{0, 1, 1, 1, 3, 3, 3}, []int32{4, 5, 2}, []float32{1, 1, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := index.NewNeighbours(ids, []int64{0, 1, 1, 1, 2, 2, 2}, []int32{2, 1}, []float32{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Met close to rocket: bebop; to bread: comet.
	near, err := index.NewNeighbours(ids, []int64{0, 1, 1, 1, 2, 2, 2}, []int32{5, 2}, []float32{0.5, 0.4})
	if err != nil {
		t.Fatal(err)
	}
	// The same parts, with the lists; the catalogue is newEngine's.
	ex, _ := index.NewExact(3)
	enc := &fakeEncoder{vecs: map[string][]float32{}}
	for _, w := range world {
		enc.vecs[w.item.ID] = w.v
		ex.Upsert(w.item.ID, unit(w.v))
	}
	// fan saw rocket, then bebop, then bread, MaxHistory events in all.
	fan := []content.Event{{UserID: "fan", ItemID: "rocket"}, {UserID: "fan", ItemID: "bebop"}}
	for range search.MaxHistory - 2 {
		fan = append(fan, content.Event{UserID: "fan", ItemID: "bread"})
	}
	hist := fakeHistory{"chef": {{UserID: "chef", ItemID: "bread", Kind: "view"}}, "fan": fan}
	p := search.Parts{Vectors: ex, Text: text, Encoder: recentEncoder{enc}, History: hist, Catalog: e.Catalog(), Neighbours: nbrs, Sequence: seq, Nearby: near}
	if change != nil {
		change(&p)
	}
	return search.New(p, opts)
}

func TestEngine_Recommend(t *testing.T) {
	ctx := context.Background()
	e := newRecommender(t, search.Options{})
	tests := []struct {
		name    string
		req     search.Request
		want    string // the hits' ids, in order
		sources map[string][]string
	}{
		{"the model's list", search.Request{UserID: "chef", K: 2, Sources: []string{"tower"}, ExcludeSeen: true}, "soup,rocket",
			map[string][]string{"soup": {"tower"}}},
		{"the collaborative list", search.Request{UserID: "chef", K: 3, Sources: []string{"cf"}, ExcludeSeen: true}, "bebop,comet",
			map[string][]string{"bebop": {"cf"}, "comet": {"cf"}}},
		// Relative fusion: soup leads the model's list, bebop the
		// collaborative one, both at 1; the tie goes to the id.
		{"both, fused", search.Request{UserID: "chef", K: 2, ExcludeSeen: true, Weights: map[string]float64{"tower": 1, "cf": 1}}, "bebop,soup",
			map[string][]string{"bebop": {"tower", "cf"}, "soup": {"tower"}}},
		// The defaults: bread's neighbours lead cf, what was met close
		// to it nearby and session.
		{"every source", search.Request{UserID: "chef", K: 2, ExcludeSeen: true}, "bebop,comet",
			map[string][]string{"bebop": {"tower", "recent", "cf"}, "comet": {"tower", "recent", "cf", "nearby", "session"}}},
		{"a history given", search.Request{UserID: "nobody", History: []string{"rocket"}, K: 1, Sources: []string{"cf"}}, "soup", nil},
		// rocket → soup and bread → bebop weigh 1 each: the collaborative
		// list ties them (to the earlier item of the lists).
		{"the whole history alike", search.Request{History: []string{"rocket", "bread"}, K: 2, Sources: []string{"cf"}}, "soup,bebop",
			map[string][]string{"soup": {"cf"}}},
		// rocket's words (Rocket launch space nasa) name soup's title.
		{"the content list", search.Request{History: []string{"rocket"}, K: 2, Sources: []string{"content"}, ExcludeSeen: true}, "soup",
			map[string][]string{"soup": {"content"}}},
		// The nearby lists, bread, the latest, weighing above rocket:
		// bread's comet (0.4) above rocket's bebop (0.5·e^(−1/3)).
		{"the latest items first", search.Request{History: []string{"rocket", "bread"}, K: 2, Sources: []string{"session"}}, "comet,bebop",
			map[string][]string{"comet": {"session"}, "bebop": {"session"}}},
		// bread, the latest, was followed by orbit; rocket, before it, by
		// comet.
		{"the sequence list", search.Request{History: []string{"rocket", "bread"}, K: 2, Sources: []string{"sequence"}}, "orbit,comet",
			map[string][]string{"orbit": {"sequence"}, "comet": {"sequence"}}},
		// Summed over the whole history: rocket's bebop (0.5) above
		// bread's comet (0.4), though bread is the latest.
		{"the nearby list", search.Request{History: []string{"rocket", "bread"}, K: 2, Sources: []string{"nearby"}}, "bebop,comet",
			map[string][]string{"bebop": {"nearby"}, "comet": {"nearby"}}},
		{"seen items kept on request", search.Request{UserID: "chef", K: 1, Sources: []string{"tower"}}, "bread", nil},
		{"no history: popular", search.Request{UserID: "nobody", K: 2}, "rocket,orbit",
			map[string][]string{"rocket": {"popular"}}},
		{"a filter", search.Request{UserID: "chef", K: 3, Sources: []string{"cf"}, ExcludeSeen: true, Filters: search.Filters{Categories: []string{"jazz"}}}, "bebop", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Explain = true
			res, err := e.Recommend(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			if res.Mode != search.ModeRecommend {
				t.Fatalf("mode %q", res.Mode)
			}
			for _, h := range res.Hits {
				want, ok := tc.sources[h.ID]
				if !ok {
					continue
				}
				var got []string
				for _, s := range h.Explain.Sources {
					got = append(got, s.Source)
					if s.Rank < 1 {
						t.Fatalf("%s: rank %d in %s", h.ID, s.Rank, s.Source)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s proposed by %v, want %v", h.ID, got, want)
				}
			}
		})
	}
}

// A user whose history is longer than the old 500-event window gets none
// of their early items back, and the lists of those items still count.
func TestEngine_RecommendLongHistory(t *testing.T) {
	ctx := context.Background()
	e := newRecommender(t, search.Options{})
	res, err := e.Recommend(ctx, search.Request{UserID: "fan", K: 3, Sources: []string{"cf"}, ExcludeSeen: true})
	if err != nil {
		t.Fatal(err)
	}
	// bread's thousands of views weigh comet 0.5 each; rocket's one weighs
	// soup 1; bebop, seen first of all, is excluded.
	if got, want := ids(res), "comet,soup"; got != want {
		t.Fatalf("hits %s, want %s", got, want)
	}
	// Without exclude-seen the lists still sum the whole history.
	res, err = e.Recommend(ctx, search.Request{UserID: "fan", K: 3, Sources: []string{"cf"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(res), "bebop,comet,soup"; got != want {
		t.Fatalf("without exclude-seen: hits %s, want %s", got, want)
	}
}

func TestEngine_RecommendRefuses(t *testing.T) {
	ctx := context.Background()
	e := newRecommender(t, search.Options{})
	long := make([]string, search.MaxHistory+1)
	for i := range long {
		long[i] = "bread"
	}
	for _, req := range []search.Request{
		{UserID: "chef", Sources: []string{"magic"}},
		{UserID: "chef", Weights: map[string]float64{"tower": -1}},
		{UserID: "chef", Weights: map[string]float64{"oracle": 1}},
		{UserID: "chef", History: long},
		{UserID: "chef", History: []string{""}},
		{UserID: "chef", Fusion: search.FusionWeighted},
	} {
		if _, err := e.Recommend(ctx, req); !errors.Is(err, search.ErrInvalidRequest) {
			t.Errorf("%+v: %v, want ErrInvalidRequest", req, err)
		}
	}
}

func TestEngine_RecommendWithoutLists(t *testing.T) {
	// An engine without collaborative lists asked for them alone falls
	// back to the popular items.
	e, _ := newEngine(t)
	res, err := e.Recommend(context.Background(), search.Request{UserID: "chef", K: 1, Sources: []string{"cf"}, ExcludeSeen: true})
	if err != nil || ids(res) != "rocket" {
		t.Fatalf("%+v %v", res, err)
	}
	// Weights given with the request replace the engine's.
	e2 := newRecommender(t, search.Options{Sources: map[string]float64{search.SourceCF: 1}})
	res, err = e2.Recommend(context.Background(), search.Request{UserID: "chef", K: 1, ExcludeSeen: true, Weights: map[string]float64{"tower": 1}})
	if err != nil || ids(res) != "soup" {
		t.Fatalf("weights of the request: %s %v", ids(res), err)
	}
}

func TestEngine_RecommendCFPart(t *testing.T) {
	// With Parts.CF the collaborative source asks it (bread → orbit),
	// the session source still the nearby lists (bread → comet), or
	// without them the collaborative lists (bread → bebop, comet); without
	// either the session source is not asked.
	ctx := context.Background()
	items := []string{"rocket", "orbit", "comet", "bread", "soup", "bebop"}
	exact, err := index.NewNeighbours(items, []int64{0, 0, 0, 0, 1, 1, 1}, []int32{1}, []float32{1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		change  func(*search.Parts)
		sources []string
		want    string
	}{
		{"cf from the part", func(p *search.Parts) { p.CF = exact }, []string{"cf"}, "orbit"},
		{"session from the nearby lists", func(p *search.Parts) { p.CF = exact }, []string{"session"}, "comet"},
		{"session from the lists without the nearby ones", func(p *search.Parts) { p.CF, p.Nearby = exact, nil }, []string{"session"}, "bebop,comet"},
		{"cf from the lists without the part", nil, []string{"cf"}, "bebop,comet"},
		{"cf without the lists", func(p *search.Parts) { p.CF, p.Neighbours = exact, nil }, []string{"cf"}, "orbit"},
		// Nothing to ask: the popular floor.
		{"session without the lists", func(p *search.Parts) { p.CF, p.Neighbours, p.Nearby = exact, nil, nil }, []string{"session"}, "rocket,orbit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRecommenderWith(t, search.Options{}, tt.change)
			res, err := e.Recommend(ctx, search.Request{UserID: "chef", K: 2, Sources: tt.sources, ExcludeSeen: true})
			if err != nil || ids(res) != tt.want {
				t.Fatalf("%s %v, want %s", ids(res), err, tt.want)
			}
		})
	}
}

func TestCandidates_FuseAsRecommend(t *testing.T) {
	// Lists fetched once for every source and fused under some weights
	// rank as Recommend does under those weights.
	ctx := context.Background()
	e := newRecommender(t, search.Options{})
	all := map[string]float64{}
	for _, name := range search.Sources {
		all[name] = 1
	}
	for _, hist := range [][]string{{"rocket", "bread"}, {"comet"}, nil} {
		c, err := e.Candidates(ctx, search.Request{History: hist, K: 4, ExcludeSeen: true, Weights: all, Explain: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []search.Fusion{search.FusionRelative, search.FusionRRF} {
			for _, w := range []map[string]float64{
				{"tower": 1},
				{"cf": 1, "session": 0.5},
				{"tower": 0.2, "cf": 1, "content": 0.7, "popular": 0.1},
				{"recent": 1, "session": 1},
			} {
				want, err := e.Recommend(ctx, search.Request{History: hist, K: 4, ExcludeSeen: true, Weights: w, Fusion: f, Explain: true})
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.Fuse(w, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Hits) != len(want.Hits) {
					t.Fatalf("%v %s %v: %s, want %s", hist, f, w, ids(got), ids(want))
				}
				for i := range got.Hits {
					g, w := got.Hits[i], want.Hits[i]
					if g.ID != w.ID || g.Score != w.Score || !slices.Equal(g.Explain.Sources, w.Explain.Sources) {
						t.Fatalf("%v %s: hit %d %+v, want %+v", hist, f, i, g, w)
					}
				}
			}
		}
		if _, err := c.Fuse(map[string]float64{"magic": 1}, ""); !errors.Is(err, search.ErrInvalidRequest) {
			t.Fatalf("unknown source: %v", err)
		}
		if _, err := c.Fuse(map[string]float64{"cf": -1}, ""); !errors.Is(err, search.ErrInvalidRequest) {
			t.Fatalf("negative weight: %v", err)
		}
		if _, err := c.Fuse(all, search.FusionWeighted); !errors.Is(err, search.ErrInvalidRequest) {
			t.Fatalf("weighted fusion: %v", err)
		}
	}
}

func TestEngine_RecommendRecent(t *testing.T) {
	// With RecentLen 1 the recent list reads the latest item alone:
	// rocket's vector finds orbit, where the whole history's (bread and
	// rocket) finds soup.
	e := newRecommender(t, search.Options{RecentLen: 1})
	for _, tc := range []struct{ source, want string }{{"recent", "orbit"}, {"tower", "soup"}} {
		res, err := e.Recommend(context.Background(), search.Request{History: []string{"bread", "rocket"}, K: 1, Sources: []string{tc.source}, ExcludeSeen: true, Explain: true})
		if err != nil {
			t.Fatal(err)
		}
		if ids(res) != tc.want || len(res.Hits[0].Explain.Sources) != 1 || res.Hits[0].Explain.Sources[0].Source != tc.source {
			t.Fatalf("%s: %s, explained %+v", tc.source, ids(res), res.Hits[0].Explain)
		}
	}
}
