package eval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/eval"
)

// scripted scores from a fixed table, and scores every history item
// highest, as a model that recalls what the user has seen would.
type scripted struct {
	scores map[int32][]float32
}

func (s *scripted) Name() string                                         { return "scripted" }
func (s *scripted) Fit(context.Context, *tower.Dataset, [][]int32) error { return nil }
func (s *scripted) Score(u int32, history []int32, scores []float32) {
	copy(scores, s.scores[u])
	for _, h := range history {
		scores[h] = 100
	}
}

func TestRun_Metrics(t *testing.T) {
	// Six items, four users; user 2 has no test item and is not counted.
	// Scores hold no ties within anyone's top 3.
	ds := dataset(t, 6, []event{{"u0", "i0", 1}, {"u1", "i1", 1}, {"u2", "i2", 1}, {"u3", "i3", 1}})
	s := &eval.Split{
		Protocol: "hand",
		Items:    6,
		Train: [][]tower.Interaction{
			{{Item: 0}}, {{Item: 1}}, {{Item: 2}}, nil,
		},
		Val:  [][]int32{{3}, nil, nil, nil},
		Test: [][]int32{{2, 4}, {5}, nil, {1}},
	}
	rec := &scripted{scores: map[int32][]float32{
		// ranking 2, 4, 5 once 0 (training) and 3 (validation) are out
		0: {9, 1, 5, 4, 3, 2},
		// ranking 0, 5, 4: the test item second
		1: {5, 9, 1, 2, 3, 4},
		// ranking 0, 1, 2: the test item second
		3: {3, 2, 1, 0, 0, 0},
	}}
	rep, err := eval.Run(context.Background(), ds, s, []eval.Recommender{rec}, eval.Options{K: []int{3, 1}, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.K, []int{1, 3}) || rep.Users != 3 || len(rep.Models) != 1 {
		t.Fatalf("report K %v users %d models %d", rep.K, rep.Users, len(rep.Models))
	}
	l3 := 1 / math.Log2(3) // DCG of a hit at rank 2
	want := map[string]float64{
		// u0 finds one of two test items at rank 1; u1 and u3 miss.
		"recall@1": 0.5 / 3, "ndcg@1": 1.0 / 3, "hr@1": 1.0 / 3, "mrr@1": 1.0 / 3,
		"coverage@1": 2.0 / 6, // {2}, {0}, {0}
		// u0 finds both at ranks 1 and 2 (NDCG 1); u1 and u3 at rank 2.
		"recall@3": 1, "ndcg@3": (1 + 2*l3) / 3, "hr@3": 1, "mrr@3": (1 + 0.5 + 0.5) / 3,
		"coverage@3": 5.0 / 6, // {2,4,5}, {0,5,4}, {0,1,2}: never 3
	}
	got := rep.Models[0].Metrics
	for k, w := range want {
		if math.Abs(got[k]-w) > 1e-12 {
			t.Errorf("%s = %.15f, want %.15f", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("metrics %v, want the keys of %v", got, want)
	}
	// All three histories are shorter than ten: one bucket, the NDCG@1.
	b := rep.Models[0].Buckets
	if len(b) != len(eval.BucketEdges) || b[0] != (eval.Bucket{Min: 0, Max: 10, Users: 3, NDCG: 1.0 / 3}) || b[1].Users != 0 {
		t.Errorf("buckets %+v", b)
	}
}

func TestRun_NDCGSeveralTestItems(t *testing.T) {
	// One user, two test items at ranks 1 and 3 of the top 3:
	// NDCG@3 = (1 + 1/log2(4)) / (1 + 1/log2(3)).
	ds := dataset(t, 4, []event{{"u", "i0", 1}})
	s := &eval.Split{Items: 4, Train: [][]tower.Interaction{nil}, Val: [][]int32{nil}, Test: [][]int32{{0, 2}}}
	rec := &scripted{scores: map[int32][]float32{0: {4, 3, 2, 1}}}
	rep, err := eval.Run(context.Background(), ds, s, []eval.Recommender{rec}, eval.Options{K: []int{3}})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Models[0].Metrics
	if w := (1 + 0.5) / (1 + 1/math.Log2(3)); math.Abs(m["ndcg@3"]-w) > 1e-12 {
		t.Errorf("ndcg@3 = %v, want %v", m["ndcg@3"], w)
	}
	if m["recall@3"] != 1 || m["mrr@3"] != 1 || m["hr@3"] != 1 {
		t.Errorf("metrics %v", m)
	}
}

// failing fails its Fit with an error that is not ErrSkip.
type failing struct{ eval.Pop }

func (*failing) Name() string { return "failing" }
func (*failing) Fit(context.Context, *tower.Dataset, [][]int32) error {
	return errors.New("disk on fire")
}

func TestRun_Skip(t *testing.T) {
	ds := generated(t)
	s := eval.SplitLast(ds)
	rep, err := eval.Run(context.Background(), ds, s, []eval.Recommender{&eval.EASE{Lambda: 100, MaxItems: 10}, &eval.Pop{}}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Name != "ease" || !strings.Contains(rep.Skipped[0].Reason, "limit") {
		t.Errorf("skipped %+v", rep.Skipped)
	}
	if len(rep.Models) != 1 || rep.Models[0].Name != "pop" {
		t.Errorf("models %+v", rep.Models)
	}
	// Any other failure ends the run.
	if _, err := eval.Run(context.Background(), ds, s, []eval.Recommender{&failing{}}, eval.Options{}); err == nil {
		t.Error("a failing Fit did not fail the run")
	}
}

func TestRun_Deterministic(t *testing.T) {
	ds := generated(t)
	s, err := eval.SplitRandom(ds, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	recs := func() []eval.Recommender {
		return []eval.Recommender{&eval.Pop{}, &eval.ItemKNN{Grid: []int{20, 0}}, &eval.Random{Seed: 3}}
	}
	var reps []*eval.Report
	for _, w := range []int{1, 2, 5} {
		rep, err := eval.Run(context.Background(), ds, s, recs(), eval.Options{K: []int{5, 10}, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, rep)
	}
	for _, rep := range reps[1:] {
		for i, m := range rep.Models {
			if !reflect.DeepEqual(m.Metrics, reps[0].Models[i].Metrics) || !reflect.DeepEqual(m.Params, reps[0].Models[i].Params) {
				t.Errorf("%s: %v with more workers, %v with one", m.Name, m.Metrics, reps[0].Models[i].Metrics)
			}
		}
	}
}

func TestRun_Masking(t *testing.T) {
	// A model that puts the user's own history on top must score exactly
	// as one that does not: the history is excluded before ranking.
	ds := generated(t)
	s := eval.SplitLast(ds)
	pop := &eval.Pop{}
	loud := &historyFirst{}
	rep, err := eval.Run(context.Background(), ds, s, []eval.Recommender{pop, loud}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := rep.Models[0].Metrics, rep.Models[1].Metrics; !reflect.DeepEqual(a, b) {
		t.Errorf("pop %v, pop with history on top %v", a, b)
	}
	if rep.Models[0].Metrics["hr@10"] == 0 {
		t.Error("pop finds nothing")
	}
}

type historyFirst struct{ eval.Pop }

func (h *historyFirst) Score(u int32, history []int32, scores []float32) {
	h.Pop.Score(u, history, scores)
	for _, it := range history {
		scores[it] = 1e9
	}
}

func TestRun_ColdStart(t *testing.T) {
	ds := generated(t)
	s, err := eval.HoldOutItems(eval.SplitLast(ds), 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eval.RunColdStart(context.Background(), ds, eval.SplitLast(ds), nil, eval.Options{}); err == nil {
		t.Error("cold start without held-out items accepted")
	}
	rep, err := eval.RunColdStart(context.Background(), ds, s, []eval.Recommender{&eval.Pop{}, &eval.Random{Seed: 1}}, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Models {
		if m.ColdOnly == nil {
			t.Fatalf("%s: no cold-only figures", m.Name)
		}
		// Held-out items were never seen: pop scores them 0 and ranks
		// them under every warm item.
		if m.Name == "pop" && m.Metrics["hr@10"] != 0 {
			t.Errorf("pop retrieves held-out items: %v", m.Metrics)
		}
		if m.ColdOnly["coverage@10"] == 0 || m.ColdOnly["hr@10"] == 0 {
			t.Errorf("%s: cold-only %v", m.Name, m.ColdOnly)
		}
	}
}

func TestReport_WriteJSON(t *testing.T) {
	ds := generated(t)
	rep, err := eval.Run(context.Background(), ds, eval.SplitLast(ds), []eval.Recommender{&eval.Pop{}, &eval.ItemKNN{Grid: []int{10, 20}}}, eval.Options{K: []int{10, 20}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Protocol string           `json:"protocol"`
		K        []int            `json:"k"`
		Models   []map[string]any `json:"models"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.Bytes())
	}
	if got.Protocol != "last" || !reflect.DeepEqual(got.K, []int{10, 20}) || len(got.Models) != 2 {
		t.Fatalf("report %s", b.Bytes())
	}
	for _, m := range got.Models {
		for _, key := range []string{"name", "recall@10", "ndcg@10", "hr@10", "mrr@10", "coverage@10", "recall@20", "ndcg@20", "hr@20", "mrr@20", "coverage@20", "params", "fit_s"} {
			if _, ok := m[key]; !ok {
				t.Errorf("model %v: no %q", m["name"], key)
			}
		}
		if _, ok := m["recall@10"].(float64); !ok {
			t.Errorf("recall@10 is %T", m["recall@10"])
		}
	}
	knn := got.Models[1]
	if knn["name"] != "itemknn" || knn["candidates"] != 2.0 || knn["val_ndcg@10"] == nil {
		t.Errorf("itemknn entry %v", knn)
	}
	if p := knn["params"].(map[string]any); p["neighbours"] == nil {
		t.Errorf("itemknn params %v", p)
	}
	var tb bytes.Buffer
	if err := rep.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "ndcg@20") || !strings.Contains(tb.String(), "neighbours=") {
		t.Errorf("table:\n%s", tb.String())
	}
}

func TestRun_BadInput(t *testing.T) {
	ds := generated(t)
	s := eval.SplitLast(ds)
	if _, err := eval.Run(context.Background(), ds, s, nil, eval.Options{K: []int{0}}); err == nil {
		t.Error("K 0 accepted")
	}
	short := *s
	short.Test = short.Test[:1]
	if _, err := eval.Run(context.Background(), ds, &short, nil, eval.Options{}); err == nil {
		t.Error("split of another dataset accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := eval.Run(ctx, ds, s, []eval.Recommender{&eval.BPR{}}, eval.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
}

func TestRun_ColdOnlyHandWorked(t *testing.T) {
	// Items 3 and 4 are held out; the user's test item is 3.
	ds := dataset(t, 5, []event{{"u", "i0", 1}})
	s := &eval.Split{
		Protocol: "hand+cold",
		Items:    5,
		Train:    [][]tower.Interaction{{{Item: 0}}},
		Val:      [][]int32{nil},
		Test:     [][]int32{{3}},
		Cold:     []int32{3, 4},
	}
	rec := &scripted{scores: map[int32][]float32{0: {0, 5, 4, 3, 6}}}
	rep, err := eval.RunColdStart(context.Background(), ds, s, []eval.Recommender{rec}, eval.Options{K: []int{1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Models[0]
	tests := []struct {
		name string
		got  map[string]float64
		want map[string]float64
	}{
		// full catalogue: 4, 1, 2, then 3 at rank 4
		{"full", m.Metrics, map[string]float64{"recall@3": 0, "mrr@3": 0, "coverage@1": 1.0 / 5, "coverage@3": 3.0 / 5}},
		// held-out only: 4, then 3 at rank 2
		{"cold-only", m.ColdOnly, map[string]float64{"recall@1": 0, "recall@3": 1, "hr@3": 1, "mrr@3": 0.5, "ndcg@3": 1 / math.Log2(3), "coverage@1": 1.0 / 2, "coverage@3": 1}},
	}
	for _, tt := range tests {
		for k, w := range tt.want {
			if math.Abs(tt.got[k]-w) > 1e-12 {
				t.Errorf("%s: %s = %v, want %v", tt.name, k, tt.got[k], w)
			}
		}
	}
}

// constant scores every item alike.
type constant struct{ eval.Random }

func (*constant) Name() string                               { return "constant" }
func (*constant) Score(_ int32, _ []int32, scores []float32) { clear(scores) }

func TestRun_TiesAreNotByIndex(t *testing.T) {
	// A model without an opinion must do as well as chance, not as well
	// as catalogue order: its top 1 spreads over the catalogue.
	ds := generated(t)
	rep, err := eval.Run(context.Background(), ds, eval.SplitLast(ds), []eval.Recommender{&constant{}}, eval.Options{K: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Models[0].Metrics["coverage@1"]; c < 0.3 {
		t.Errorf("coverage@1 of a constant model is %.3f: ties follow item order", c)
	}
}

// recorder remembers what it was fitted on and the histories it scored.
type recorder struct {
	name   string
	cands  int
	fits   *[][][]int32
	scored map[int32][]int32
	mu     *sync.Mutex // shared by the candidates, as scored is
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Fit(_ context.Context, ds *tower.Dataset, train [][]int32) error {
	for u, h := range train {
		if !slices.Equal(h, tower.LatestOrder(ds.History[u])) {
			return fmt.Errorf("user %d: train %v, dataset %v", u, h, ds.History[u])
		}
	}
	*r.fits = append(*r.fits, train)
	return nil
}
func (r *recorder) Score(u int32, history []int32, scores []float32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scored[u] = slices.Clone(history)
}
func (r *tunableRecorder) Candidates() []eval.Recommender {
	var out []eval.Recommender
	for range r.cands {
		out = append(out, &recorder{name: r.name, fits: r.fits, scored: r.scored, mu: r.mu})
	}
	return out
}

// refitSplit is one user's data split by hand: u0 met i0, i1, i2, i3 and
// i4 in that order; i4 is its test item, i1 (met second) its validation
// item.
func refitSplit(t *testing.T) (*tower.Dataset, *eval.Split) {
	t.Helper()
	ds := dataset(t, 5, []event{{"u0", "i0", 1}, {"u0", "i1", 2}, {"u0", "i2", 3}, {"u0", "i3", 4}, {"u0", "i4", 5}})
	return ds, &eval.Split{
		Protocol: "hand", Items: 5,
		Train: [][]tower.Interaction{{{Item: 0, Time: 1}, {Item: 2, Time: 3}, {Item: 3, Time: 4}}},
		Val:   [][]int32{{1}},
		Test:  [][]int32{{4}},
	}
}

func TestRun_Refit(t *testing.T) {
	ds, s := refitSplit(t)
	tests := []struct {
		name    string
		cands   int
		noRefit bool
		fits    [][]int32 // u0's training items in each Fit
	}{
		{"one candidate: fitted on both at once", 1, false, [][]int32{{0, 1, 2, 3}}},
		{"two candidates: each on training, the best again on both", 2, false, [][]int32{{0, 2, 3}, {0, 2, 3}, {0, 1, 2, 3}}},
		{"no refit", 2, true, [][]int32{{0, 2, 3}, {0, 2, 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fits [][][]int32
			// The tunable recorder hands out candidates sharing its
			// records; the harness scores through the chosen one.
			r := &tunableRecorder{recorder{name: "rec", cands: tc.cands, fits: &fits, scored: map[int32][]int32{}, mu: new(sync.Mutex)}}
			var rec eval.Recommender = &r.recorder
			if tc.cands > 1 {
				rec = r
			}
			rep, err := eval.Run(context.Background(), ds, s, []eval.Recommender{rec}, eval.Options{NoRefit: tc.noRefit})
			if err != nil {
				t.Fatal(err)
			}
			var got [][]int32
			for _, f := range fits {
				got = append(got, f[0])
			}
			if !reflect.DeepEqual(got, tc.fits) {
				t.Fatalf("fits %v, want %v", got, tc.fits)
			}
			if rep.Refit == tc.noRefit {
				t.Fatalf("report says refit %v", rep.Refit)
			}
			// The test history is in the order u0 met the items.
			if h := r.scored[0]; !slices.Equal(h, []int32{0, 1, 2, 3}) {
				t.Fatalf("test history %v, want [0 1 2 3]", h)
			}
		})
	}
}

// tunableRecorder is a recorder with candidates.
type tunableRecorder struct{ recorder }

// refitting is a tunable recommender whose candidates refit: it records
// each call, "fit" or "refit" and the candidate's tag.
type refitting struct {
	tag   string
	calls *[]string
}

func (r *refitting) Name() string { return "refitting" }
func (r *refitting) Fit(context.Context, *tower.Dataset, [][]int32) error {
	*r.calls = append(*r.calls, "fit "+r.tag)
	return nil
}
func (r *refitting) Refit(context.Context, *tower.Dataset, [][]int32) error {
	*r.calls = append(*r.calls, "refit "+r.tag)
	return nil
}
func (r *refitting) Score(int32, []int32, []float32) {}
func (r *refitting) Candidates() []eval.Recommender {
	return []eval.Recommender{&refitting{"a", r.calls}, &refitting{"b", r.calls}}
}

func TestRun_Refitter(t *testing.T) {
	ds, s := refitSplit(t)
	for _, tc := range []struct {
		noRefit bool
		want    []string
	}{
		// Scores tie: the first candidate is chosen, and refitted.
		{false, []string{"fit a", "fit b", "refit a"}},
		{true, []string{"fit a", "fit b"}},
	} {
		var calls []string
		if _, err := eval.Run(context.Background(), ds, s, []eval.Recommender{&refitting{"", &calls}}, eval.Options{NoRefit: tc.noRefit}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(calls, tc.want) {
			t.Errorf("no refit %v: calls %v, want %v", tc.noRefit, calls, tc.want)
		}
	}
}
