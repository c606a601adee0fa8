package content_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

func TestStore_FeedbackAttribution(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, err := s.PutItem(ctx, content.Item{ID: id, Title: id}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	imps := []content.Impression{
		{ID: "old", Time: now.Add(-2 * time.Hour), Route: "search", Items: []string{"a"}},
		{ID: "imp1", Time: now, UserID: "u1", Route: "recommendations", Items: []string{"a", "b", "c"}, Snapshot: "s1", Experiment: "e1", Teams: "aba"},
		{ID: "imp2", Time: now, UserID: "u2", Route: "search", Items: []string{"c", "d"}, Config: "default"},
	}
	if _, err := s.LogImpressions(ctx, imps); err != nil {
		t.Fatal(err)
	}
	s.SetAttributionWindow(time.Hour)
	before, _ := s.Stats(ctx)
	logged, _ := s.FeedbackSince(ctx, 0, 0)

	bad := []struct {
		name string
		ev   content.Event
		want error
	}{
		{"unknown impression", content.Event{UserID: "u1", ItemID: "a", Kind: "click", Value: 1, ImpressionID: "nope"}, content.ErrUnknownImpression},
		{"item not shown", content.Event{UserID: "u1", ItemID: "d", Kind: "click", Value: 1, ImpressionID: "imp1"}, content.ErrNotShown},
		{"another user's", content.Event{UserID: "u2", ItemID: "a", Kind: "click", Value: 1, ImpressionID: "imp1"}, content.ErrNotShown},
		{"expired", content.Event{UserID: "u1", ItemID: "a", Kind: "click", Value: 1, ImpressionID: "old"}, content.ErrImpressionExpired},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			// With a good event beside it: all or nothing.
			good := content.Event{UserID: "u1", ItemID: "b", Kind: "click", Value: 1, ImpressionID: "imp1"}
			if _, err := s.AppendEvents(ctx, []content.Event{good, tc.ev}); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			st, _ := s.Stats(ctx)
			fb, _ := s.FeedbackSince(ctx, 0, 0)
			if st.Events != before.Events || len(fb) != len(logged) {
				t.Fatalf("a refused batch changed the store: %d events (was %d), %d feedback records (was %d)", st.Events, before.Events, len(fb), len(logged))
			}
		})
	}

	evs := []content.Event{
		{UserID: "u1", ItemID: "c", Kind: "click", Value: 1, ImpressionID: "imp1"},
		{UserID: "u1", ItemID: "b", Kind: "purchase", Value: 1, ImpressionID: "imp1"},
		{UserID: "u1", ItemID: "a", Kind: "dislike", Value: -1, ImpressionID: "imp1"},
		{UserID: "u2", ItemID: "d", Kind: "click", Value: 1, ImpressionID: "imp2"},
		{UserID: "u3", ItemID: "d", Kind: "view", Value: 1}, // no impression
	}
	if _, err := s.AppendEvents(ctx, evs[:2]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendEvents(ctx, evs[2:]); err != nil {
		t.Fatal(err)
	}
	fb, err := s.FeedbackSince(ctx, logged[len(logged)-1].Seq, 0)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		imp, item, team string
		pos, before     int
		teams           [2]int
		positive        bool
	}
	want := []got{
		{"imp1", "c", "a", 2, -1, [2]int{0, 0}, true},
		{"imp1", "b", "b", 1, 2, [2]int{1, 0}, true},
		{"imp1", "a", "a", 0, 1, [2]int{1, 1}, false},
		{"imp2", "d", "", 1, -1, [2]int{}, true},
	}
	if len(fb) != len(want) {
		t.Fatalf("%d click records, want %d", len(fb), len(want))
	}
	for i, f := range fb {
		c := f.Click
		if c == nil {
			t.Fatalf("record %d is not a click", i)
		}
		g := got{c.ImpressionID, c.ItemID, c.Team, c.Position, c.Before, c.BeforeTeams, c.Positive}
		if g != want[i] {
			t.Errorf("click %d = %+v, want %+v", i, g, want[i])
		}
		if i > 0 && f.Seq <= fb[i-1].Seq {
			t.Errorf("records out of order")
		}
	}
	if c := fb[0].Click; c.Snapshot != "s1" || c.Experiment != "e1" || c.Route != "recommendations" || !c.Shown.Equal(now) {
		t.Errorf("click labels = %+v, want the impression's", c)
	}
	im, err := s.Impression(ctx, "imp1")
	if err != nil {
		t.Fatal(err)
	}
	if im.Best != 1 || im.TeamClicks != [2]int{1, 1} {
		t.Errorf("impression after its clicks: best %d, teams %v; want 1, [1 1]", im.Best, im.TeamClicks)
	}
	// The events themselves are in the log, as any other.
	if got, _ := s.UserEvents(ctx, "u1", 0); len(got) != 3 {
		t.Errorf("u1 has %d events, want 3", len(got))
	}

	// Pruning removes the old impression's record, and what it names no
	// longer attributes.
	n, err := s.PruneFeedback(ctx, now.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	if _, err := s.Impression(ctx, "old"); !errors.Is(err, content.ErrNotFound) {
		t.Errorf("pruned impression: %v, want ErrNotFound", err)
	}
	all, _ := s.FeedbackSince(ctx, 0, 0)
	if len(all) != 2+len(want) {
		t.Errorf("%d records after pruning, want %d", len(all), 2+len(want))
	}
	if n, err := s.PruneFeedback(ctx, now.Add(time.Second)); err != nil || n != len(all) {
		t.Errorf("pruned %d, %v; want %d", n, err, len(all))
	}
}

func TestStore_LogImpressionsInvalid(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	now := time.Now()
	long := make([]string, content.MaxImpressionItems+1)
	for _, im := range []content.Impression{
		{Time: now, Route: "search"},
		{ID: "x", Time: now},
		{ID: "x", Route: "search"},
		{ID: "x", Time: now, Route: "search", Items: []string{"a"}, Teams: "ab"},
		{ID: "x", Time: now, Route: "search", Items: long},
	} {
		if _, err := s.LogImpressions(ctx, []content.Impression{{ID: "ok", Time: now, Route: "search"}, im}); !errors.Is(err, content.ErrInvalid) {
			t.Errorf("%+v: err = %v, want ErrInvalid", im, err)
		}
	}
	if fb, _ := s.FeedbackSince(ctx, 0, 0); len(fb) != 0 {
		t.Errorf("refused impressions left %d records", len(fb))
	}
}

func TestStore_Experiments(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.PutExperiment(ctx, "e1", json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutExperiment(ctx, "e1", json.RawMessage(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, body string
	}{{"", `{}`}, {"e2", `{`}} {
		if err := s.PutExperiment(ctx, tc.id, json.RawMessage(tc.body)); !errors.Is(err, content.ErrInvalid) {
			t.Errorf("PutExperiment(%q, %q) = %v, want ErrInvalid", tc.id, tc.body, err)
		}
	}
	got, err := s.Experiments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got["e1"]) != `{"a":2}` {
		t.Errorf("experiments = %s", got)
	}
}
