package rebuild_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duetrec/duet/tools/rebuild"
)

func TestSchedule(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name    string
		sched   *rebuild.Schedule
		events  int64 // added before the run starts
		trigger string
		ok      bool
		errLine string
	}{
		{
			name:    "by time, published",
			sched:   &rebuild.Schedule{Every: 50 * time.Millisecond, Command: []string{"sh", "-c", "echo 'validation (9 users): NDCG@10 0.5'; echo 'served: tower 1'; echo 'snapshot snap-9: 3 items'"}},
			trigger: "time", ok: true,
		},
		{
			name:    "by events, refused by the gate",
			sched:   &rebuild.Schedule{AfterEvents: 5, Check: 10 * time.Millisecond, Command: []string{"sh", "-c", "echo 'validation (9 users): NDCG@10 0.1'; echo progress >&2; echo 'rebuild: below the gate: nothing published' >&2; exit 1"}},
			events:  5,
			trigger: "events", ok: false, errLine: "rebuild: below the gate: nothing published",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var events atomic.Int64
			s := tc.sched
			s.Logger = quiet
			s.Events = func(context.Context) (int, error) { return int(events.Load()), nil }
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			time.Sleep(30 * time.Millisecond)
			if st := s.Status(); len(st.Runs) != 0 {
				t.Fatalf("ran before it was due: %+v", st)
			}
			events.Add(tc.events)
			deadline := time.Now().Add(5 * time.Second)
			for len(s.Status().Runs) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			<-done
			st := s.Status()
			if len(st.Runs) == 0 {
				t.Fatal("never ran")
			}
			r := st.Runs[len(st.Runs)-1]
			if r.Trigger != tc.trigger || r.OK != tc.ok || r.Error != tc.errLine || r.Validation == "" {
				t.Errorf("run %+v", r)
			}
			if tc.ok && (r.Snapshot != "snap-9" || r.Served != "tower 1") {
				t.Errorf("run %+v", r)
			}
		})
	}
	if err := (&rebuild.Schedule{Command: []string{"true"}}).Run(context.Background()); err == nil {
		t.Error("a schedule with neither period nor event count ran")
	}
}
