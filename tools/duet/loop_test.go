package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/clicksim"
	"github.com/duetrec/duet/internal/race"
)

// earlyEvents writes the first half of each user's events in src to dst,
// leaving out those of items numbered from cold on: the store then knows
// users as they were before their interests drifted, and nobody's taste
// for the cold items, which only their text describes.
func earlyEvents(t *testing.T, src, dst string, cold int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	byUser := map[string][]string{}
	var users []string
	for _, l := range lines[1:] {
		u, _, _ := strings.Cut(l, ",")
		if _, ok := byUser[u]; !ok {
			users = append(users, u)
		}
		byUser[u] = append(byUser[u], l)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, lines[0])
	for _, u := range users {
		for _, l := range byUser[u][:max(1, len(byUser[u])/2)] {
			var i int
			if _, err := fmt.Sscanf(strings.Split(l, ",")[1], "i%d", &i); err == nil && i >= cold {
				continue
			}
			fmt.Fprintln(w, l)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Scheduled rebuilds under a closed loop: users whose interests drifted
// since the store's events, and cold items nobody's taste for is known,
// take recommendations and click by their hidden taste while the server
// rebuilds by itself every 150 events: every session is answered, the
// rebuilds publish and are served in turn, and clicks per session by
// snapshot are logged (docs/EVALUATION.md; with DUET_LOOP_CONTROL=1 the
// same loop without rebuilds, for comparison).
func TestLoop_ScheduledRebuildsUnderTraffic(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("a closed loop with rebuilds in child processes; run without -short and -race")
	}
	ctx := context.Background()
	t.Setenv("DUET_EDITOR_TOKEN", testEditorToken)
	t.Setenv("DUET_ADMIN_TOKEN", testAdminToken)
	t.Setenv("DUET_EVENTS_TOKEN", "e2e-events")
	t.Setenv("DUET_READ_TOKEN", "")
	gen := content.GenOptions{Items: 3000, Users: 600, Seed: 21}
	dir := t.TempDir()
	src, data := filepath.Join(dir, "src"), filepath.Join(dir, "data")
	if _, err := content.GenerateFiles(ctx, src, gen); err != nil {
		t.Fatal(err)
	}
	early := filepath.Join(src, "early.csv")
	earlyEvents(t, filepath.Join(src, content.GenEventsFile), early, gen.Items*2/3)
	mustRun(t, "import", "--data", data, "--items", filepath.Join(src, content.GenItemsFile), "--events", early)
	fast := []string{"--epochs", "4", "--workers", "1", "--ann", "exact", "--tune=false"}
	mustRun(t, append([]string{"rebuild", "--data", data}, fast...)...)
	var args []string
	control := os.Getenv("DUET_LOOP_CONTROL") != ""
	if !control {
		args = append(args, "--rebuild-after-events", "150", "--rebuild-max-drop", "0")
		for _, f := range fast {
			args = append(args, "--rebuild-flag="+f)
		}
	}
	c := serveChild(t, data, args...)
	tastes, err := content.GenerateTastes(ctx, gen)
	if err != nil {
		t.Fatal(err)
	}
	users := make([]string, gen.Users)
	for u := range users {
		users[u] = fmt.Sprintf("u%03d", u)
	}
	sim := &clicksim.Simulator{Base: c.base, EventsToken: "e2e-events", Users: users, Tastes: tastes, Drift: 1, Rand: rand.New(rand.NewPCG(5, 6))}

	// Sessions until five snapshots have served (or, the control, as many
	// sessions as that took), each one's clicks counted apart.
	type served struct {
		name            string
		sessions, click int
	}
	var order []*served
	var cur *served
	sessions := 0
	deadline := time.Now().Add(4 * time.Minute)
	for (control && sessions < 9000) || (!control && len(order) < 5 && time.Now().Before(deadline)) {
		var st struct {
			Snapshot struct {
				Snapshot string `json:"snapshot"`
			} `json:"snapshot"`
		}
		if err := sim.Call(ctx, "GET", "/admin/stats", testAdminToken, nil, &st); err != nil {
			t.Fatal(err)
		}
		name := st.Snapshot.Snapshot
		if control {
			name = fmt.Sprintf("sessions %d to %d", sessions/1500*1500, sessions/1500*1500+1500)
		}
		if cur == nil || cur.name != name {
			cur = &served{name: name}
			order = append(order, cur)
		}
		for range 20 {
			_, k, err := sim.Session(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			cur.sessions++
			cur.click += k
			sessions++
		}
	}
	var report []string
	for _, s := range order {
		report = append(report, fmt.Sprintf("%s: %d sessions, %.3f clicks each", filepath.Base(s.name), s.sessions, float64(s.click)/float64(s.sessions)))
	}
	t.Logf("clicks per session by snapshot served:\n%s", strings.Join(report, "\n"))
	if !control && len(order) < 5 {
		t.Fatalf("%d snapshots served in 4 minutes, want 5: the first and four scheduled rebuilds", len(order))
	}
}
