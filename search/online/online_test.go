package online_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search/online"
)

func TestTeamDraft(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		k    int
	}{
		{"same lists", []string{"1", "2", "3", "4"}, []string{"1", "2", "3", "4"}, 4},
		{"disjoint", []string{"a1", "a2", "a3"}, []string{"b1", "b2", "b3"}, 4},
		{"overlap", []string{"1", "2", "3", "4", "5"}, []string{"3", "1", "6", "7"}, 5},
		{"one short", []string{"1"}, []string{"2", "3", "4", "5"}, 4},
		{"both short", []string{"1", "2"}, []string{"2"}, 10},
		{"empty", nil, nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				r := rand.New(rand.NewPCG(seed, 1))
				out, teams := online.TeamDraft(tc.a, tc.b, tc.k, func() bool { return r.IntN(2) == 0 })
				if len(out) != len(teams) {
					t.Fatalf("%d items, %d teams", len(out), len(teams))
				}
				union := map[string]bool{}
				for _, id := range append(append([]string{}, tc.a...), tc.b...) {
					union[id] = true
				}
				if want := min(tc.k, len(union)); len(out) != want {
					t.Fatalf("%d items, want %d", len(out), want)
				}
				seen := map[string]bool{}
				var na, nb int
				for i, id := range out {
					if seen[id] {
						t.Fatalf("%q twice in %v", id, out)
					}
					seen[id] = true
					list := tc.a
					if teams[i] == 'b' {
						list, nb = tc.b, nb+1
					} else {
						na++
					}
					// A team proposes its best item not yet taken.
					for _, best := range list {
						if !seen[best] || best == id {
							if best != id {
								t.Fatalf("team %c picked %q before its better %q: %v %s", teams[i], id, best, out, teams)
							}
							break
						}
					}
					_ = best(list)
				}
				// Teams stay even while both lists last.
				if len(out) == tc.k && len(tc.a) >= tc.k && len(tc.b) >= tc.k && (na-nb > 1 || nb-na > 1) {
					t.Fatalf("teams %d and %d are uneven: %s", na, nb, teams)
				}
			}
		})
	}
}

func best(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

func TestVerdict_SignTest(t *testing.T) {
	ctx := context.Background()
	store, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tally := online.NewTally(online.TallyOptions{})
	e := &online.Experiment{ID: "e", Route: online.RouteRecommendations, Method: online.Interleave}
	now := time.Now()
	var recs []content.Feedback
	seq := uint64(0)
	add := func(f content.Feedback) {
		seq++
		f.Seq = seq
		recs = append(recs, f)
	}
	// 30 impressions: 20 won by b, 6 by a, 4 ties.
	for i := range 30 {
		id := string(rune('A' + i))
		add(content.Feedback{Impression: &content.Impression{ID: id, Time: now, Route: "recommendations", Items: []string{"x", "y"}, Experiment: "e", Teams: "ab"}})
		click := func(team string, best int, before [2]int) {
			pos := 0
			if team == "b" {
				pos = 1
			}
			add(content.Feedback{Click: &content.Click{ImpressionID: id, Position: pos, Positive: true, Shown: now, Route: "recommendations", Experiment: "e", Team: team, Before: best, BeforeTeams: before}})
		}
		switch {
		case i < 20:
			click("b", -1, [2]int{})
		case i < 26:
			click("a", -1, [2]int{})
		default:
			click("a", -1, [2]int{})
			click("b", 0, [2]int{1, 0})
		}
	}
	tally.Fold(recs)
	tally.Fold(recs) // folding again counts nothing twice
	v := tally.Verdict(e)
	if v.WinsA != 6 || v.WinsB != 20 || v.Ties != 4 || v.Impressions != 30 {
		t.Fatalf("verdict %+v, want 6/20/4 of 30", v)
	}
	// P(X ≥ 20 | n = 26, p = ½) doubled: 0.00936.
	if v.Leader != "b" || math.Abs(v.P-0.009355) > 1e-4 || !v.Significant {
		t.Errorf("leader %q, p %.5f, significant %v; want b, 0.00936, true", v.Leader, v.P, v.Significant)
	}
	r := tally.Report(time.Hour, 4)
	if len(r.Groups) != 1 {
		t.Fatalf("groups %+v", r.Groups)
	}
	g := r.Groups[0]
	// Every impression clicked: at 1 only those whose position-0 item
	// (team a) was clicked, 10 of 30.
	if g.Impressions != 30 || g.Clicks != 34 || g.CTR["ctr@1"] != 10.0/30 || g.CTR["ctr@3"] != 1 || g.Arm != "interleaved" || g.Items != 2 || g.Coverage != 0.5 {
		t.Errorf("figures %+v", g)
	}
	// MRR: 20 impressions at rank 2 (½), 10 at rank 1.
	if want := (20*0.5 + 10) / 30; math.Abs(g.MRR-want) > 1e-12 {
		t.Errorf("MRR %v, want %v", g.MRR, want)
	}
}

func TestTally_FromStore(t *testing.T) {
	ctx := context.Background()
	store, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := store.PutItem(ctx, content.Item{ID: id, Title: id}); err != nil {
			t.Fatal(err)
		}
	}
	rec := online.NewRecorder(store, online.RecorderOptions{})
	now := time.Now().UTC()
	for i, arm := range []string{"a", "b", "a", "b"} {
		if !rec.Record(content.Impression{ID: string(rune('0' + i)), Time: now, UserID: "u", Route: "search", Items: []string{"a", "b", "c"}, Snapshot: "s", Experiment: "ab", Arm: arm}) {
			t.Fatal("not queued")
		}
	}
	rec.Close()
	if st := rec.Stats(); st.Logged != 4 || st.Dropped != 0 {
		t.Fatalf("recorder %+v", st)
	}
	// Arm a's first impression clicked at 3, arm b's second at 1.
	for _, ev := range []content.Event{
		{UserID: "u", ItemID: "c", Kind: "click", Value: 1, ImpressionID: "0"},
		{UserID: "u", ItemID: "a", Kind: "click", Value: 1, ImpressionID: "3"},
	} {
		if _, err := store.AppendEvents(ctx, []content.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	tally := online.NewTally(online.TallyOptions{})
	if err := tally.CatchUp(ctx, store); err != nil {
		t.Fatal(err)
	}
	byArm := map[string]online.Figures{}
	for _, g := range tally.Report(time.Hour, 3).Groups {
		byArm[g.Arm] = g
	}
	if a := byArm["a"]; a.Impressions != 2 || a.CTR["ctr@1"] != 0 || a.CTR["ctr@3"] != 0.5 || math.Abs(a.MRR-1.0/6) > 1e-12 || a.Coverage != 1 {
		t.Errorf("arm a %+v", a)
	}
	if b := byArm["b"]; b.Impressions != 2 || b.CTR["ctr@1"] != 0.5 || b.MRR != 0.5 {
		t.Errorf("arm b %+v", b)
	}
	v := tally.Verdict(&online.Experiment{ID: "ab", Method: online.AB})
	if v.ImpressionsA != 2 || v.ImpressionsB != 2 || v.ClickedA != 1 || v.ClickedB != 1 || v.Leader != "" || v.P != 1 {
		t.Errorf("verdict %+v", v)
	}
}

func TestExperiments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := content.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	x, err := online.LoadExperiments(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	bad := []online.Experiment{
		{ID: "", Route: "search", B: online.Arm{Fusion: "relative"}},
		{ID: "has space", Route: "search", B: online.Arm{Fusion: "relative"}},
		{ID: "e", Route: "nowhere", B: online.Arm{Fusion: "relative"}},
		{ID: "e", Route: "search", Method: "coin", B: online.Arm{Fusion: "relative"}},
		{ID: "e", Route: "search"},
		{ID: "e", Route: "search", B: online.Arm{Fusion: "loud"}},
		{ID: "e", Route: "search", B: online.Arm{MMR: 2}},
		{ID: "e", Route: "search", B: online.Arm{Sources: []string{"popular"}}},
		{ID: "e", Route: "recommendations", B: online.Arm{Sources: []string{"psychic"}}},
		{ID: "e", Route: "recommendations", B: online.Arm{Weights: map[string]float64{"cf": -1}}},
	}
	for _, e := range bad {
		if _, err := x.Define(ctx, e); !errors.Is(err, online.ErrInvalid) {
			t.Errorf("Define(%+v) = %v, want ErrInvalid", e, err)
		}
	}
	if got := x.All(); len(got) != 0 {
		t.Fatalf("refused definitions stored: %+v", got)
	}
	e, err := x.Define(ctx, online.Experiment{ID: "pop", Route: "recommendations", B: online.Arm{Sources: []string{"popular"}}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Method != online.Interleave || !e.Running() {
		t.Errorf("defined %+v", e)
	}
	for _, c := range []online.Experiment{
		{ID: "pop", Route: "search", B: online.Arm{Fusion: "relative"}},               // id taken
		{ID: "two", Route: "recommendations", B: online.Arm{Sources: []string{"cf"}}}, // route busy
	} {
		if _, err := x.Define(ctx, c); !errors.Is(err, online.ErrConflict) {
			t.Errorf("Define(%+v) = %v, want ErrConflict", c, err)
		}
	}
	if x.Running("recommendations") == nil || x.Running("search") != nil {
		t.Error("running experiments are not as defined")
	}
	if _, err := x.Stop(ctx, "nope", online.Verdict{}); !errors.Is(err, online.ErrNotFound) {
		t.Errorf("stop of a missing experiment: %v", err)
	}
	if _, err := x.Stop(ctx, "pop", online.Verdict{WinsA: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Stop(ctx, "pop", online.Verdict{}); !errors.Is(err, online.ErrConflict) {
		t.Errorf("second stop: %v", err)
	}
	store.Close()

	// Durable across restarts.
	store, err = content.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	x, err = online.LoadExperiments(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := x.Get("pop")
	if !ok || got.Running() || got.Final == nil || got.Final.WinsA != 3 || len(got.B.Sources) != 1 {
		t.Errorf("after reopening: %+v", got)
	}
	if x.Running("recommendations") != nil {
		t.Error("a stopped experiment runs again")
	}
}

func TestArmFor_Stable(t *testing.T) {
	e := &online.Experiment{ID: "e"}
	var a int
	for i := range 1000 {
		u := string(rune('a'+i%26)) + string(rune('0'+i/26))
		if e.ArmFor(u) != e.ArmFor(u) {
			t.Fatal("not stable")
		}
		if e.ArmFor(u) == 'a' {
			a++
		}
	}
	if a < 400 || a > 600 {
		t.Errorf("%d of 1000 users in arm a", a)
	}
}

func TestRecorder_DropsWhenFull(t *testing.T) {
	ctx := context.Background()
	store, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rec := online.NewRecorder(store, online.RecorderOptions{Buffer: 4})
	n := 0
	for i := range 10000 {
		if rec.Record(content.Impression{ID: online.NewImpressionID(), Time: time.Now(), Route: "search", Items: []string{string(rune('a' + i%26))}}) {
			n++
		}
	}
	rec.Close()
	st := rec.Stats()
	if int(st.Logged) != n || int(st.Dropped) != 10000-n {
		t.Errorf("queued %d; stats %+v", n, st)
	}
	fb, err := store.FeedbackSince(ctx, 0, 0)
	if err != nil || len(fb) != n {
		t.Errorf("%d records, %v; want %d", len(fb), err, n)
	}
	if rec.Record(content.Impression{ID: "late", Time: time.Now(), Route: "search"}) {
		t.Error("a closed recorder queued an impression")
	}
}

// A refresh running beside a stop does not put the stopped experiment
// back as running: the next definition on its route is accepted.
func TestExperiments_RefreshBesideStop(t *testing.T) {
	ctx := context.Background()
	store, err := content.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	x, err := online.LoadExperiments(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	refreshed := make(chan error, 1)
	go func() {
		for {
			select {
			case <-done:
				refreshed <- nil
				return
			default:
			}
			if err := x.Refresh(ctx); err != nil {
				refreshed <- err
				return
			}
		}
	}()
	for i := range 200 {
		id := fmt.Sprintf("e-%d", i)
		if _, err := x.Define(ctx, online.Experiment{ID: id, Route: "recommendations", B: online.Arm{Sources: []string{"popular"}}}); err != nil {
			t.Fatalf("define %s: %v", id, err)
		}
		if _, err := x.Stop(ctx, id, online.Verdict{}); err != nil {
			t.Fatalf("stop %s: %v", id, err)
		}
	}
	close(done)
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if e := x.Running("recommendations"); e != nil {
		t.Fatalf("%s runs after its stop", e.ID)
	}
}
