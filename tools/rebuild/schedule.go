package rebuild

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duetrec/duet/internal/procstat"
)

// Schedule runs rebuilds by themselves: every Every, and/or once the
// store has taken AfterEvents events since the last one. Each runs in a
// child process (Command), so that a rebuild's memory is its own and
// returned to the system when it ends, one at a time; the rebuild's own
// lock keeps it apart from rebuilds started by hand. What a run publishes,
// the server loads as it loads any new snapshot.
type Schedule struct {
	Every       time.Duration // 0: not by time
	AfterEvents int           // 0: not by events
	// Command is the child's program and arguments: `duet rebuild` with
	// the server's data, store and index, and the validation gate.
	Command []string
	// MemoryLimit, when set, is the child's GOMEMLIMIT in bytes: a soft
	// bound the Go runtime collects harder to keep under.
	MemoryLimit int64
	// Events returns how many events the store holds.
	Events func(ctx context.Context) (int, error)
	// Check is how often the event count is read; default 10s.
	Check  time.Duration
	Logger *slog.Logger

	mu      sync.Mutex
	status  ScheduleStatus
	trigger chan string
}

// ScheduleStatus is what /admin/stats shows of the schedule.
type ScheduleStatus struct {
	Every       string `json:"every,omitempty"`
	AfterEvents int    `json:"after_events,omitempty"`
	Running     bool   `json:"running"`
	// Next is when the next rebuild by time is due; EventsSince counts
	// the events since the last rebuild started.
	Next        *time.Time     `json:"next,omitempty"`
	EventsSince int            `json:"events_since"`
	Runs        []ScheduledRun `json:"runs"` // the latest first
}

// ScheduledRun is one rebuild the schedule ran.
type ScheduledRun struct {
	Trigger  string    `json:"trigger"` // "time" or "events"
	Started  time.Time `json:"started"`
	Took     float64   `json:"took_s"`
	OK       bool      `json:"ok"`
	ExitCode int       `json:"exit_code"`
	PeakRSS  int64     `json:"peak_rss_bytes,omitempty"`
	// Validation and Served are the rebuild's own lines about the model's
	// validation figures and the configuration it serves; Snapshot the
	// one it wrote. Error is its last line of error output, when it failed
	// (a model below the gate publishes nothing).
	Validation string `json:"validation,omitempty"`
	Served     string `json:"served,omitempty"`
	Snapshot   string `json:"snapshot,omitempty"`
	Error      string `json:"error,omitempty"`
}

// keepRuns bounds the runs a status remembers.
const keepRuns = 20

// Status returns the schedule's state.
func (s *Schedule) Status() ScheduleStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Runs = append([]ScheduledRun{}, s.status.Runs...)
	if st.Next != nil {
		t := *st.Next
		st.Next = &t
	}
	return st
}

// Run runs the schedule until ctx is done; a rebuild running then is
// interrupted and waited for.
func (s *Schedule) Run(ctx context.Context) error {
	if len(s.Command) == 0 || (s.Every <= 0 && s.AfterEvents <= 0) {
		return fmt.Errorf("rebuild schedule: needs a command and a period or an event count")
	}
	if s.Check <= 0 {
		s.Check = 10 * time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.mu.Lock()
	if s.Every > 0 {
		s.status.Every = s.Every.String()
	}
	s.status.AfterEvents = s.AfterEvents
	s.status.Runs = []ScheduledRun{}
	s.mu.Unlock()

	mark, err := s.events(ctx)
	if err != nil {
		s.Logger.Warn("rebuild schedule: counting the events", "err", err)
	}
	last := time.Now()
	tick := time.NewTicker(s.Check)
	defer tick.Stop()
	for {
		var next <-chan time.Time
		if s.Every > 0 {
			due := last.Add(s.Every)
			s.mu.Lock()
			s.status.Next = &due
			s.mu.Unlock()
			next = time.After(time.Until(due))
		}
		trigger := ""
		select {
		case <-ctx.Done():
			return nil
		case <-next:
			trigger = "time"
		case <-tick.C:
			n, err := s.events(ctx)
			if err != nil {
				s.Logger.Warn("rebuild schedule: counting the events", "err", err)
				continue
			}
			s.mu.Lock()
			s.status.EventsSince = n - mark
			s.mu.Unlock()
			if s.AfterEvents <= 0 || n-mark < s.AfterEvents {
				continue
			}
			trigger = "events"
		}
		if n, err := s.events(ctx); err == nil {
			mark = n
		}
		s.mu.Lock()
		s.status.EventsSince = 0
		s.mu.Unlock()
		s.run(ctx, trigger)
		last = time.Now()
	}
}

func (s *Schedule) events(ctx context.Context) (int, error) {
	if s.Events == nil {
		return 0, nil
	}
	return s.Events(ctx)
}

// run runs one rebuild in a child process and records it.
func (s *Schedule) run(ctx context.Context, trigger string) {
	s.mu.Lock()
	s.status.Running = true
	s.mu.Unlock()
	r := ScheduledRun{Trigger: trigger, Started: time.Now().UTC()}
	s.Logger.Info("scheduled rebuild starting", "trigger", trigger)

	cmd := exec.CommandContext(ctx, s.Command[0], s.Command[1:]...)
	// Stopping the server interrupts the rebuild, which removes its
	// half-written snapshot; it is killed if it does not end soon.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Env = os.Environ()
	if s.MemoryLimit > 0 {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+strconv.FormatInt(s.MemoryLimit, 10))
	}
	var stdout bytes.Buffer
	stderr := &tailWriter{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	r.Took = time.Since(r.Started).Seconds()
	r.ExitCode = cmd.ProcessState.ExitCode()
	if rss, ok := procstat.ChildPeakRSS(cmd.ProcessState); ok {
		r.PeakRSS = rss
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "validation "):
			r.Validation = line
		case strings.HasPrefix(line, "served: "):
			r.Served = strings.TrimPrefix(line, "served: ")
		case strings.HasPrefix(line, "snapshot "):
			r.Snapshot, _, _ = strings.Cut(strings.TrimPrefix(line, "snapshot "), ":")
		}
	}
	r.OK = err == nil
	if err != nil {
		r.Error = stderr.lastLine()
		if r.Error == "" {
			r.Error = err.Error()
		}
		s.Logger.Error("scheduled rebuild failed", "trigger", trigger, "err", r.Error)
	} else {
		s.Logger.Info("scheduled rebuild done", "trigger", trigger, "snapshot", r.Snapshot, "took_s", r.Took)
	}
	s.mu.Lock()
	s.status.Running = false
	s.status.Runs = append([]ScheduledRun{r}, s.status.Runs...)
	if len(s.status.Runs) > keepRuns {
		s.status.Runs = s.status.Runs[:keepRuns]
	}
	s.mu.Unlock()
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - w.max; over > 0 {
		w.buf = w.buf[over:]
	}
	return len(p), nil
}

// lastLine is the last non-empty line written, progress bars' carriage
// returns aside.
func (w *tailWriter) lastLine() string {
	lines := strings.FieldsFunc(string(w.buf), func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}
