package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/server"
)

// simulator plays a generated catalog's users against a server over
// HTTP: each takes recommendations and clicks by their hidden taste
// (content.GenTastes), which Duet's model never sees, with the attention
// a list's lower positions get falling as 1/(1+position).
type simulator struct {
	t      testing.TB
	base   string
	users  []string
	tastes *content.GenTastes
	drift  float64
	r      *rand.Rand
}

func (s *simulator) call(method, path, token string, body any, out any) int {
	s.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			s.t.Fatalf("%s %s: %d: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// session shows one user one list and posts the clicks; it returns how
// many items were clicked.
func (s *simulator) session() int {
	user := s.users[s.r.IntN(len(s.users))]
	var ans struct {
		Hits []struct {
			ID string `json:"id"`
		} `json:"hits"`
		ImpressionID string `json:"impression_id"`
	}
	if code := s.call("GET", "/v1/users/"+user+"/recommendations?k=10", "", nil, &ans); code != 200 {
		s.t.Fatalf("recommendations: %d", code)
	}
	var evs []map[string]any
	for p, h := range ans.Hits {
		if s.r.Float64() < s.tastes.Appeal(user, h.ID, s.drift)/float64(1+p) {
			evs = append(evs, map[string]any{"user_id": user, "item_id": h.ID, "kind": "click", "impression_id": ans.ImpressionID})
		}
	}
	if len(evs) > 0 {
		if code := s.call("POST", "/v1/events", eventsTok, map[string]any{"events": evs}, nil); code != 200 {
			s.t.Fatalf("events: %d", code)
		}
	}
	return len(evs)
}

// verdict is the part of an experiment's answer the loop test reads.
type verdict struct {
	Impressions int     `json:"impressions"`
	WinsA       int     `json:"wins_a"`
	WinsB       int     `json:"wins_b"`
	Leader      string  `json:"leader"`
	P           float64 `json:"p"`
	Significant bool    `json:"significant"`
}

// loopImpressions is how many impressions each experiment of the loop
// test shows.
const loopImpressions = 100

// Users clicking by their hidden taste make an interleaved experiment
// pick the default ranker over a deliberately weakened one (popularity
// alone): in at least 19 of 20 seeded runs of loopImpressions
// impressions each.
func TestLoop_InterleavingPicksTheDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("a closed-loop simulation")
	}
	gen := content.GenOptions{Items: 1000, Users: 300, Seed: 11}
	f := newEngineFixtureOf(t, gen, func(c *server.Config) { c.SearchRate = -1 })
	tastes, err := content.GenerateTastes(context.Background(), gen)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	won, significant, clicks := 0, 0, 0
	var ps []string
	for run := range 20 {
		sim := &simulator{t: t, base: ts.URL, users: f.users, tastes: tastes, drift: 1, r: rand.New(rand.NewPCG(uint64(run), 99))}
		id := fmt.Sprintf("weak-%d", run)
		def := map[string]any{"id": id, "route": "recommendations", "a": map[string]any{}, "b": map[string]any{"sources": []string{"popular"}}}
		if code := sim.call("POST", "/admin/experiments", editorTok, def, nil); code != 201 {
			t.Fatalf("define: %d", code)
		}
		for range loopImpressions {
			clicks += sim.session()
		}
		var stopped struct {
			Verdict verdict `json:"verdict"`
		}
		if code := sim.call("POST", "/admin/experiments/"+id+"/stop", adminTok, nil, &stopped); code != 200 {
			t.Fatalf("stop: %d", code)
		}
		v := stopped.Verdict
		if v.Impressions != loopImpressions {
			t.Errorf("run %d: %d impressions counted, %d shown", run, v.Impressions, loopImpressions)
		}
		if v.Leader == "a" {
			won++
		}
		if v.Leader == "a" && v.Significant {
			significant++
		}
		ps = append(ps, fmt.Sprintf("%d:%d p=%.2g", v.WinsA, v.WinsB, v.P))
	}
	t.Logf("default won %d of 20 runs (%d significant at 0.05), %d clicks; wins a:b per run: %s", won, significant, clicks, strings.Join(ps, ", "))
	if won < 19 {
		t.Errorf("the default won %d of 20 runs, want 19 at least", won)
	}
}
