package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/clicksim"
	"github.com/duetrec/duet/server"
)

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
	if testing.Short() || *indexFlag == "weaviate" {
		t.Skip("a closed-loop simulation of the ranker, whatever its index: run with the embedded one")
	}
	gen := content.GenOptions{Items: 1000, Users: 300, Seed: 11}
	f := newEngineFixtureOf(t, gen, func(c *server.Config) { c.SearchRate = -1 })
	ctx := context.Background()
	tastes, err := content.GenerateTastes(ctx, gen)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	won, significant, clicks := 0, 0, 0
	var ps []string
	for run := range 20 {
		sim := &clicksim.Simulator{Base: ts.URL, EventsToken: eventsTok, Users: f.users, Tastes: tastes, Drift: 1, Rand: rand.New(rand.NewPCG(uint64(run), 99))}
		id := fmt.Sprintf("weak-%d", run)
		def := map[string]any{"id": id, "route": "recommendations", "a": map[string]any{}, "b": map[string]any{"sources": []string{"popular"}}}
		if err := sim.Call(ctx, "POST", "/admin/experiments", editorTok, def, nil); err != nil {
			t.Fatal(err)
		}
		for range loopImpressions {
			_, c, err := sim.Session(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			clicks += c
		}
		var stopped struct {
			Verdict verdict `json:"verdict"`
		}
		if err := sim.Call(ctx, "POST", "/admin/experiments/"+id+"/stop", adminTok, nil, &stopped); err != nil {
			t.Fatal(err)
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
