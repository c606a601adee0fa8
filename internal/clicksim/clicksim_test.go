package clicksim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/clicksim"
)

// A user shown items of their taste clicks more of them than one shown
// items of none, and each click names the impression.
func TestSession(t *testing.T) {
	ctx := context.Background()
	gen := content.GenOptions{Items: 200, Users: 20, Seed: 3}
	tastes, err := content.GenerateTastes(ctx, gen)
	if err != nil {
		t.Fatal(err)
	}
	// Find, for user u00, the items they like best and least.
	var liked, disliked []string
	for i := range 200 {
		id := fmt.Sprintf("i%03d", i)
		switch a := tastes.Appeal("u00", id, 1); {
		case a >= 0.5 && len(liked) < 10:
			liked = append(liked, id)
		case a < 0.05 && len(disliked) < 10:
			disliked = append(disliked, id)
		}
	}
	if len(liked) < 3 || len(disliked) < 10 {
		t.Fatalf("liked %v, disliked %v", liked, disliked)
	}
	for _, tc := range []struct {
		name  string
		items []string
		min   int // clicks over 200 sessions
		max   int
	}{
		{"liked", liked, 150, 2000},
		{"disliked", disliked, 0, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, clicks := fakeServer(t, "/v1/users/u00/recommendations", tc.items, nil)
			sim := &clicksim.Simulator{Base: srv.URL, EventsToken: "ev", Users: []string{"u00"}, Tastes: tastes, Drift: 1, Rand: rand.New(rand.NewPCG(1, 2))}
			got := 0
			for range 200 {
				_, c, err := sim.Session(ctx, 10)
				if err != nil {
					t.Fatal(err)
				}
				got += c
			}
			if got != *clicks || got < tc.min || got > tc.max {
				t.Errorf("%d clicks (server saw %d), want %d to %d", got, *clicks, tc.min, tc.max)
			}
		})
	}
}

// A search asks for two words as the user, and clicks name its impression.
func TestSearch(t *testing.T) {
	ctx := context.Background()
	gen := content.GenOptions{Items: 200, Users: 20, Seed: 3}
	tastes, err := content.GenerateTastes(ctx, gen)
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("i%03d", i))
	}
	srv, clicks := fakeServer(t, "/v1/search", ids, func(r *http.Request) {
		q := r.URL.Query()
		if q.Get("user") != "u00" || q.Get("k") != "10" || len(strings.Fields(q.Get("q"))) != 2 {
			t.Errorf("search %s", r.URL.RawQuery)
		}
		asked = append(asked, q.Get("q"))
	})
	sim := &clicksim.Simulator{Base: srv.URL, EventsToken: "ev", Users: []string{"u00"}, Tastes: tastes, Rand: rand.New(rand.NewPCG(1, 2))}
	got := 0
	for range 50 {
		shown, c, err := sim.Search(ctx, 10)
		if err != nil || shown != 10 {
			t.Fatalf("shown %d, %v", shown, err)
		}
		got += c
	}
	if len(asked) != 50 || got != *clicks || got == 0 {
		t.Errorf("%d searches, %d clicks (server saw %d)", len(asked), got, *clicks)
	}
}

// fakeServer answers GET path with hits of ids under impression "imp" and
// counts the clicks posted with token "ev", each of which must name it.
func fakeServer(t *testing.T, path string, ids []string, asked func(*http.Request)) (*httptest.Server, *int) {
	t.Helper()
	clicks := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == path:
			if asked != nil {
				asked(r)
			}
			hits := make([]map[string]string, len(ids))
			for i, id := range ids {
				hits[i] = map[string]string{"id": id}
			}
			json.NewEncoder(w).Encode(map[string]any{"hits": hits, "impression_id": "imp"})
		case r.Method == "POST" && r.URL.Path == "/v1/events" && r.Header.Get("Authorization") == "Bearer ev":
			var body struct {
				Events []struct {
					ImpressionID string `json:"impression_id"`
				} `json:"events"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			for _, e := range body.Events {
				if e.ImpressionID != "imp" {
					t.Errorf("a click names %q", e.ImpressionID)
				}
			}
			*clicks += len(body.Events)
		default:
			http.Error(w, "no", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, clicks
}
