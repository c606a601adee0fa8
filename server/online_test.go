package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/search/online"
	"github.com/duetrec/duet/server"
)

// shown is an answer as the feedback tests read it.
type shown struct {
	Hits []struct {
		ID string `json:"id"`
	} `json:"hits"`
	ImpressionID string `json:"impression_id"`
}

func (f *engineFixture) show(target string) shown {
	f.t.Helper()
	rec := f.do("GET", target, "", "")
	var s shown
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &s) != nil {
		f.t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return s
}

// online reads GET /admin/online once the figures have folded want
// impressions.
func (f *engineFixture) online(want int) map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := f.do("GET", "/admin/online?window=1h", adminTok, "")
		var body map[string]any
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			f.t.Fatalf("online: %d %s", rec.Code, rec.Body)
		}
		n := 0
		for _, r := range body["routes"].([]any) {
			n += int(r.(map[string]any)["impressions"].(float64))
		}
		if n >= want || time.Now().After(deadline) {
			return body
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every answer names its impression; a click naming it is attributed to
// its position, and the online figures count it.
func TestFeedback_ImpressionsAndClicks(t *testing.T) {
	f := newEngineFixture(t)
	user := f.users[0]
	recs := f.show("/v1/users/" + user + "/recommendations?k=5")
	search := f.show("/v1/search?q=guide&k=5")
	similar := f.show("/v1/items/" + f.items[0].ID + "/similar?k=5")
	for _, s := range []shown{recs, search, similar} {
		if s.ImpressionID == "" || len(s.Hits) == 0 {
			t.Fatalf("answer without an impression: %+v", s)
		}
	}
	if recs.ImpressionID == search.ImpressionID {
		t.Fatal("two answers share an impression id")
	}
	// A click at once, on the third item: the impression may not be
	// written yet, and must be found anyway.
	clicked := recs.Hits[2].ID
	ev := fmt.Sprintf(`{"user_id":%q,"item_id":%q,"kind":"click","impression_id":%q}`, user, clicked, recs.ImpressionID)
	if rec := f.do("POST", "/v1/events", eventsTok, ev); rec.Code != 200 {
		t.Fatalf("click: %d %s", rec.Code, rec.Body)
	}
	body := f.online(3)
	var recFig map[string]any
	for _, r := range body["routes"].([]any) {
		if m := r.(map[string]any); m["route"] == "recommendations" {
			recFig = m
		}
	}
	if recFig == nil {
		t.Fatalf("no recommendations figures: %v", body)
	}
	ctr := recFig["ctr"].(map[string]any)
	if recFig["impressions"].(float64) != 1 || recFig["clicks"].(float64) != 1 || ctr["ctr@1"].(float64) != 0 || ctr["ctr@3"].(float64) != 1 || recFig["mrr"].(float64) != 1.0/3 {
		t.Errorf("recommendations figures %v", recFig)
	}
	if len(body["series"].([]any)) == 0 {
		t.Error("no time series")
	}
	metrics := f.do("GET", "/metrics", "", "").Body.String()
	for _, want := range []string{`duet_online_ctr{k="3",route="recommendations"} 1`, `duet_online_impressions{arm="none",route="search"} 1`, "duet_impressions_recorded_total 3"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Events naming an impression that cannot take them are refused, and
// nothing of their batch is stored.
func TestFeedback_BadEvents(t *testing.T) {
	f := newEngineFixture(t, func(c *server.Config) { c.AttributionWindow = 300 * time.Millisecond })
	user := f.users[0]
	recs := f.show("/v1/users/" + user + "/recommendations?k=5")
	notShown := ""
	for _, it := range f.items {
		found := false
		for _, h := range recs.Hits {
			found = found || h.ID == it.ID
		}
		if !found {
			notShown = it.ID
			break
		}
	}
	good := fmt.Sprintf(`{"user_id":%q,"item_id":%q,"kind":"click","impression_id":%q}`, user, recs.Hits[0].ID, recs.ImpressionID)
	before := f.do("GET", "/admin/stats", adminTok, "").Body.String()
	for _, tc := range []struct {
		name, event, code string
	}{
		{"unknown impression", fmt.Sprintf(`{"user_id":%q,"item_id":%q,"kind":"click","impression_id":"no-such-impression"}`, user, recs.Hits[0].ID), "unknown_impression"},
		{"item not shown", fmt.Sprintf(`{"user_id":%q,"item_id":%q,"kind":"click","impression_id":%q}`, user, notShown, recs.ImpressionID), "not_shown"},
		{"id too long", fmt.Sprintf(`{"user_id":%q,"item_id":%q,"kind":"click","impression_id":%q}`, user, recs.Hits[0].ID, strings.Repeat("x", 65)), "invalid_field"},
	} {
		rec := f.do("POST", "/v1/events", eventsTok, `{"events":[`+good+`,`+tc.event+`]}`)
		if code := errorCode(t, rec); rec.Code/100 != 4 || code != tc.code {
			t.Errorf("%s: %d %s, want 4xx %s", tc.name, rec.Code, rec.Body, tc.code)
		}
	}
	time.Sleep(400 * time.Millisecond)
	rec := f.do("POST", "/v1/events", eventsTok, good)
	if code := errorCode(t, rec); rec.Code != 422 || code != "impression_expired" {
		t.Errorf("expired: %d %s", rec.Code, rec.Body)
	}
	if after := f.do("GET", "/admin/stats", adminTok, "").Body.String(); after != before {
		t.Errorf("refused events changed the store:\n%s\n%s", before, after)
	}
}

// An experiment is defined by an editor, interleaves its arms' lists in
// every answer, keeps its definition across restarts and is stopped by
// an admin with its verdict.
func TestFeedback_Experiments(t *testing.T) {
	f := newEngineFixture(t)
	def := `{"id":"pop-vs-default","route":"recommendations","b":{"sources":["popular"]}}`
	for _, tc := range []struct {
		name, token, body string
		status            int
		code              string
	}{
		{"no token", "", def, 401, "unauthorized"},
		{"events token", eventsTok, def, 401, "unauthorized"},
		{"same arms", editorTok, `{"id":"x","route":"search","a":{},"b":{}}`, 400, "invalid_experiment"},
		{"unknown route", editorTok, `{"id":"x","route":"nowhere","b":{"fusion":"relative"}}`, 400, "invalid_experiment"},
		{"unknown field", editorTok, `{"id":"x","route":"search","b":{"colour":"red"}}`, 400, "bad_json"},
		{"bad source", editorTok, `{"id":"x","route":"recommendations","b":{"sources":["psychic"]}}`, 400, "invalid_experiment"},
		{"started given", editorTok, `{"id":"x","route":"search","b":{"fusion":"relative"},"started":"2020-01-01T00:00:00Z"}`, 400, "invalid_experiment"},
	} {
		rec := f.do("POST", "/admin/experiments", tc.token, tc.body)
		if rec.Code != tc.status || errorCode(t, rec) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, rec.Code, rec.Body, tc.status, tc.code)
		}
	}
	if rec := f.do("GET", "/admin/experiments", editorTok, ""); !strings.Contains(rec.Body.String(), `"experiments":[]`) {
		t.Fatalf("refused definitions stored: %s", rec.Body)
	}
	if rec := f.do("POST", "/admin/experiments", editorTok, def); rec.Code != 201 {
		t.Fatalf("define: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("POST", "/admin/experiments", adminTok, `{"id":"second","route":"recommendations","b":{"sources":["cf"]}}`); rec.Code != 409 {
		t.Errorf("a second experiment on the route: %d %s", rec.Code, rec.Body)
	}
	// Interleaved: the answer holds the popular list's first item and the
	// default's first item.
	user := f.users[1]
	got := f.show("/v1/users/" + user + "/recommendations?k=10")
	pop := f.hitIDs("/v1/users/" + user + "/recommendations?k=10&sources=popular")
	if got.ImpressionID == "" || len(got.Hits) != 10 {
		t.Fatalf("interleaved answer %+v", got)
	}
	ids := map[string]bool{}
	for _, h := range got.Hits {
		ids[h.ID] = true
	}
	if !ids[pop[0]] {
		t.Errorf("the interleaved list %v lacks arm b's first item %s", got.Hits, pop[0])
	}
	ev := fmt.Sprintf(`{"user_id":%q,"item_id":%q,"kind":"click","impression_id":%q}`, user, got.Hits[0].ID, got.ImpressionID)
	if rec := f.do("POST", "/v1/events", eventsTok, ev); rec.Code != 200 {
		t.Fatalf("click: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("POST", "/admin/experiments/pop-vs-default/stop", editorTok, ""); rec.Code != 401 {
		t.Errorf("an editor stopped it: %d", rec.Code)
	}
	if rec := f.do("POST", "/admin/experiments/nope/stop", adminTok, ""); rec.Code != 404 {
		t.Errorf("stop of a missing experiment: %d", rec.Code)
	}
	rec := f.do("POST", "/admin/experiments/pop-vs-default/stop", adminTok, "")
	var stopped struct {
		Stopped *time.Time `json:"stopped"`
		Verdict struct {
			Impressions int `json:"impressions"`
			WinsA       int `json:"wins_a"`
			WinsB       int `json:"wins_b"`
		} `json:"verdict"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &stopped) != nil || stopped.Stopped == nil {
		t.Fatalf("stop: %d %s", rec.Code, rec.Body)
	}
	if stopped.Verdict.Impressions != 1 || stopped.Verdict.WinsA+stopped.Verdict.WinsB != 1 {
		t.Errorf("verdict %s", rec.Body)
	}
	if rec := f.do("POST", "/admin/experiments/pop-vs-default/stop", adminTok, ""); rec.Code != 409 {
		t.Errorf("second stop: %d", rec.Code)
	}
	// Stopped: answers are the default's again.
	if a, b := f.hitIDs("/v1/users/"+user+"/recommendations?k=10"), f.hitIDs("/v1/users/"+user+"/recommendations?k=10"); strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("answers still vary after the stop: %v %v", a, b)
	}
}

// An experiment can compare two snapshots' models: an arm names an older
// snapshot, which the server loads beside the one in service and keeps up
// with live writes; a snapshot that does not exist is refused, nothing
// stored.
func TestFeedback_SnapshotExperiment(t *testing.T) {
	f := newEngineFixture(t)
	older, err := f.root.List()
	if err != nil || len(older) != 1 {
		t.Fatalf("snapshots %v %v", older, err)
	}
	if err := f.rebuild(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(older[0])
	for _, tc := range []struct{ body, code string }{
		{`{"id":"old","route":"search","b":{"snapshot":"snap-00000000000000000001-1"}}`, "unknown_snapshot"},
		{`{"id":"old","route":"search","b":{"snapshot":"../etc"}}`, "invalid_experiment"},
	} {
		rec := f.do("POST", "/admin/experiments", adminTok, tc.body)
		if rec.Code/100 != 4 || errorCode(t, rec) != tc.code {
			t.Errorf("%s: %d %s", tc.body, rec.Code, rec.Body)
		}
	}
	if rec := f.do("GET", "/admin/experiments", adminTok, ""); !strings.Contains(rec.Body.String(), `"experiments":[]`) {
		t.Fatalf("refused definitions stored: %s", rec.Body)
	}
	def := fmt.Sprintf(`{"id":"old-vs-new","route":"search","method":"ab","b":{"snapshot":%q}}`, name)
	if rec := f.do("POST", "/admin/experiments", adminTok, def); rec.Code != 201 {
		t.Fatalf("define: %d %s", rec.Code, rec.Body)
	}
	// A write after the definition reaches the older snapshot too: a user
	// shown arm b finds an item only the write holds.
	exp := &online.Experiment{ID: "old-vs-new"}
	user := ""
	for _, u := range f.users {
		if exp.ArmFor(u) == 'b' {
			user = u
			break
		}
	}
	if rec := f.do("POST", "/v1/items", editorTok, `{"id":"zz-new","title":"Xylophonic Zebradrome"}`); rec.Code != 201 {
		t.Fatalf("add: %d %s", rec.Code, rec.Body)
	}
	// A Weaviate collection can take a moment to show a write (see
	// TestStress_WritesSearchesReloads): there, searches are repeated until it does,
	// each one an impression all the same.
	searches := 0
	for wait, found := time.Now().Add(5*time.Second), 0; found < 10; {
		got := f.show("/v1/search?q=xylophonic+zebradrome&k=10&user=" + user)
		searches++
		if got.ImpressionID == "" {
			t.Fatalf("search without an impression: %+v", got)
		}
		hit := false
		for _, h := range got.Hits {
			hit = hit || h.ID == "zz-new"
		}
		if hit {
			found++
			continue
		}
		if *indexFlag != "weaviate" || time.Now().After(wait) {
			t.Fatalf("the older snapshot's arm misses the write: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec := f.do("POST", "/admin/experiments/old-vs-new/stop", adminTok, "")
	if want := fmt.Sprintf(`"impressions":%d`, searches); rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("stop after %d searches: %d %s", searches, rec.Code, rec.Body)
	}
}

// With impressions off, answers carry no impression id and experiments,
// which are judged by them, are refused.
func TestFeedback_ImpressionsOff(t *testing.T) {
	f := newEngineFixture(t, func(c *server.Config) { c.NoImpressions = true })
	if got := f.show("/v1/search?q=guide&k=5"); got.ImpressionID != "" || len(got.Hits) == 0 {
		t.Errorf("answer %+v", got)
	}
	rec := f.do("POST", "/admin/experiments", adminTok, `{"id":"x","route":"search","b":{"fusion":"relative"}}`)
	if rec.Code != 503 {
		t.Errorf("experiment with impressions off: %d %s", rec.Code, rec.Body)
	}
}
