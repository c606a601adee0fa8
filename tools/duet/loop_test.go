package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/clicksim"
	"github.com/duetrec/duet/internal/race"
)

// earlyEvents writes each user's first keep events in src to dst, leaving
// out those of items numbered from cold on: the store then knows users as
// they were before their interests drifted, little of what they like, and
// nobody's taste for the cold items, which only their text describes.
func earlyEvents(t *testing.T, src, dst string, keep, cold int) {
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
		for _, l := range byUser[u][:min(keep, len(byUser[u]))] {
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

// Loop sizes: sessions in all, and in each phase whose clicks are counted
// apart; a rebuild every loopRebuildEvents events (clicks).
const (
	loopSessions      = 8000
	loopPhase         = 1000
	loopRebuildEvents = 400
)

// loopPhaseFigures are one phase of a closed loop: recommendation sessions and
// searches, the clicks each drew, and the snapshot that answered them.
type loopPhaseFigures struct {
	snapshot                         string
	sessions, clicks, searches, hits int
}

func (p loopPhaseFigures) ctr() float64 { return float64(p.clicks) / float64(p.sessions) }

// meanCTR is the clicks per recommendation session over phases.
func meanCTR(ps []loopPhaseFigures) float64 {
	var s, c int
	for _, p := range ps {
		s += p.sessions
		c += p.clicks
	}
	return float64(c) / float64(s)
}

// Scheduled rebuilds under a closed loop. The store knows each user's
// first three events, none of a third of the catalogue, and nothing of the
// hidden styles beyond what so few events show. Users take
// recommendations and search for what interests them, clicking by their
// hidden taste, which drifts from their early to their late interests in
// the first phase (DUET_LOOP_DRIFT sets the pace: 8 by default, the late
// tastes from the first phase's end; 1.5 from two thirds of the run; 0
// never). The loop runs twice from the same store and snapshot: without
// rebuilds, then with the server rebuilding by itself every
// loopRebuildEvents events (DUET_LOOP_FLAGS sets the rebuilds' flags).
// With rebuilds, each phase is answered by a newer snapshot than the one
// before, click-through rises from the first phase at the late tastes to
// the last two, and it is above the loop's without rebuilds over the
// phases after the first rebuild. Figures by phase in docs/EVALUATION.md.
func TestLoop_ScheduledRebuildsUnderTraffic(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("a closed loop with rebuilds in child processes; run without -short and -race")
	}
	t.Parallel()
	ctx := context.Background()
	gen := content.GenOptions{Items: 3000, Users: 600, Seed: 21}
	dir := t.TempDir()
	src, data, still := filepath.Join(dir, "src"), filepath.Join(dir, "data"), filepath.Join(dir, "still")
	if _, err := content.GenerateFiles(ctx, src, gen); err != nil {
		t.Fatal(err)
	}
	early := filepath.Join(src, "early.csv")
	earlyEvents(t, filepath.Join(src, content.GenEventsFile), early, 3, gen.Items*2/3)
	mustRun(t, "import", "--data", data, "--items", filepath.Join(src, content.GenItemsFile), "--events", early)
	fast := strings.Fields(os.Getenv("DUET_LOOP_FLAGS"))
	if len(fast) == 0 {
		fast = []string{"--epochs", "4", "--workers", "1", "--ann", "exact", "--tune=false"}
	}
	mustRun(t, append([]string{"rebuild", "--data", data}, fast...)...)
	if err := os.CopyFS(still, os.DirFS(data)); err != nil {
		t.Fatal(err)
	}
	tastes, err := content.GenerateTastes(ctx, gen)
	if err != nil {
		t.Fatal(err)
	}

	control := runLoop(ctx, t, still, tastes, gen.Users, nil)
	args := []string{"--rebuild-after-events", strconv.Itoa(loopRebuildEvents), "--rebuild-max-drop", "0"}
	for _, f := range fast {
		args = append(args, "--rebuild-flag="+f)
	}
	phases := runLoop(ctx, t, data, tastes, gen.Users, args)

	var report []string
	distinct := map[string]bool{}
	for i, p := range phases {
		c := control[i]
		report = append(report, fmt.Sprintf("phase %d: recommendations %.3f clicks each (without rebuilds %.3f), searches %.3f (%.3f); snapshot %s",
			i+1, p.ctr(), c.ctr(), float64(p.hits)/float64(p.searches), float64(c.hits)/float64(c.searches), p.snapshot))
		distinct[p.snapshot] = true
	}
	t.Logf("clicks per session by phase, %d recommendations and %d searches each:\n%s", phases[0].sessions, phases[0].searches, strings.Join(report, "\n"))
	if len(distinct) != len(phases) {
		t.Fatalf("%d snapshots served %d phases, want one each: the first and a scheduled rebuild after each phase", len(distinct), len(phases))
	}
	if first, last := phases[1].ctr(), meanCTR(phases[len(phases)-2:]); last < 1.2*first {
		t.Errorf("click-through in the last two phases is %.3f, want at least 1.2 × the second phase's %.3f", last, first)
	}
	if with, without := meanCTR(phases[2:]), meanCTR(control[2:]); with < 1.05*without {
		t.Errorf("click-through after the first rebuild is %.3f, want at least 1.05 × the loop's without rebuilds, %.3f", with, without)
	}
}

// runLoop serves data (with args) and plays the simulated users against
// it, phase by phase: loopPhase sessions each, one in four a search.
// When the server rebuilds by itself, it waits between phases for the
// rebuild the phase's clicks started to be served, so that each phase is
// answered by one snapshot.
func runLoop(ctx context.Context, t *testing.T, data string, tastes *content.GenTastes, nusers int, args []string) []loopPhaseFigures {
	t.Helper()
	c := serveChild(t, data, args...)
	defer c.kill()
	users := make([]string, nusers)
	for u := range users {
		users[u] = fmt.Sprintf("u%03d", u)
	}
	sim := &clicksim.Simulator{Base: c.base, EventsToken: "e2e-events", Users: users, Tastes: tastes, Rand: rand.New(rand.NewPCG(5, 6))}
	served := func() string {
		var st struct {
			Snapshot struct {
				Snapshot string `json:"snapshot"`
			} `json:"snapshot"`
		}
		if err := sim.Call(ctx, "GET", "/admin/stats", testAdminToken, nil, &st); err != nil {
			t.Fatal(err)
		}
		return filepath.Base(st.Snapshot.Snapshot)
	}
	rebuilds := len(args) > 0
	phases := make([]loopPhaseFigures, loopSessions/loopPhase)
	for i := range phases {
		p := &phases[i]
		p.snapshot = served()
		if i > 0 && rebuilds {
			for deadline := time.Now().Add(3 * time.Minute); p.snapshot == phases[i-1].snapshot; p.snapshot = served() {
				if time.Now().After(deadline) {
					t.Fatalf("phase %d: no rebuild served in 3 minutes", i+1)
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
		for j := range loopPhase {
			sim.Drift = min(1, loopDriftSpeed*float64(i*loopPhase+j)/loopSessions)
			if j%4 == 3 {
				_, k, err := sim.Search(ctx, 10)
				if err != nil {
					t.Fatal(err)
				}
				p.searches++
				p.hits += k
				continue
			}
			_, k, err := sim.Session(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			p.sessions++
			p.clicks += k
		}
		if s := served(); s != p.snapshot {
			t.Fatalf("phase %d was answered by %s and %s", i+1, p.snapshot, s)
		}
	}
	return phases
}

var loopDriftSpeed = func() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("DUET_LOOP_DRIFT"), 64); err == nil {
		return v
	}
	return 8
}()
