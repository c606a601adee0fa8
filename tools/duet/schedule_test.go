package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/internal/race"
)

// A server with --rebuild-after-events rebuilds in a child process once
// enough events came, loads what it published, and says so in
// /admin/stats.
func TestServe_ScheduledRebuild(t *testing.T) {
	if testing.Short() || race.Enabled {
		t.Skip("runs a rebuild in a child of a child process; run without -short and -race (make loop)")
	}
	data := smallData(t, "200", "50", "9")
	c := serveChild(t, data, "--rebuild-after-events", "30",
		"--rebuild-flag=--epochs=2", "--rebuild-flag=--workers=1", "--rebuild-flag=--ann=exact", "--rebuild-flag=--tune=false")
	type stats struct {
		Snapshot struct {
			Snapshot string `json:"snapshot"`
		} `json:"snapshot"`
		Rebuilds struct {
			AfterEvents int `json:"after_events"`
			EventsSince int `json:"events_since"`
			Runs        []struct {
				Trigger, Validation, Snapshot, Error string
				OK                                   bool  `json:"ok"`
				PeakRSS                              int64 `json:"peak_rss_bytes"`
			} `json:"runs"`
		} `json:"rebuilds"`
	}
	read := func() stats {
		code, body, err := apiRequest(c.base, "GET", "/admin/stats", testAdminToken, "")
		var s stats
		if err != nil || code != 200 || json.Unmarshal(body, &s) != nil {
			t.Fatalf("stats: %d %s %v", code, body, err)
		}
		return s
	}
	before := read()
	if before.Rebuilds.AfterEvents != 30 || len(before.Rebuilds.Runs) != 0 {
		t.Fatalf("schedule before any event: %+v", before.Rebuilds)
	}
	var evs []string
	for i := range 40 {
		evs = append(evs, fmt.Sprintf(`{"user_id":"u%03d","item_id":"i%03d","kind":"click"}`, i%50, (i*7)%200))
	}
	if code, body, err := apiRequest(c.base, "POST", "/v1/events", "e2e-events", `{"events":[`+strings.Join(evs, ",")+`]}`); err != nil || code != 200 {
		t.Fatalf("events: %d %s %v", code, body, err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		s := read()
		if runs := s.Rebuilds.Runs; len(runs) > 0 {
			r := runs[0]
			if !r.OK || r.Trigger != "events" || !strings.HasPrefix(r.Validation, "validation ") || r.Snapshot == "" || r.PeakRSS <= 0 {
				t.Fatalf("scheduled run %+v", r)
			}
			if strings.HasSuffix(s.Snapshot.Snapshot, r.Snapshot) && s.Snapshot.Snapshot != before.Snapshot.Snapshot {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled rebuild loaded in 3 minutes: %+v", s)
		}
		time.Sleep(time.Second)
	}
}

// Scheduled rebuilds of a bbolt store read it through the server, with
// the admin token: without one, serve refuses to start.
func TestServe_ScheduleNeedsAdminToken(t *testing.T) {
	t.Setenv("DUET_ADMIN_TOKEN", "")
	code, _, errs := runCLI(t, "serve", "--data", t.TempDir(), "--rebuild-every", "1h")
	if code != 2 || !strings.Contains(errs, "DUET_ADMIN_TOKEN") {
		t.Errorf("exit %d: %s", code, errs)
	}
	for _, bad := range [][]string{{"--rebuild-every", "-1s"}, {"--rebuild-after-events", "-3"}, {"--rebuild-max-drop", "1"}} {
		code, _, errs := runCLI(t, append([]string{"serve", "--data", t.TempDir()}, bad...)...)
		if code != 2 {
			t.Errorf("%v: exit %d: %s", bad, code, errs)
		}
	}
}
