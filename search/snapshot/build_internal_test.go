package snapshot

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// countingProgress records what a build reports.
type countingProgress struct {
	mu             sync.Mutex
	stages         []string
	total, added   int64
	started, ended int
}

func (p *countingProgress) Start(stage string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stages, p.total = append(p.stages, stage), total
	p.started++
}

func (p *countingProgress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.added += n
}

func (p *countingProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended++
}

func TestBuildIndexes(t *testing.T) {
	errBroken := errors.New("broken")
	const items = 10
	// fill reports every item; wait runs until cancelled; fail fails.
	fill := func(ctx context.Context, added func(int)) error {
		for range items {
			added(1)
		}
		return nil
	}
	wait := func(ctx context.Context, added func(int)) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("not cancelled")
		}
	}
	fail := func(ctx context.Context, added func(int)) error {
		time.Sleep(10 * time.Millisecond) // the other is under way
		return errBroken
	}
	background := func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }
	cancelled := func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx, cancel
	}
	// Cancelled, or past its deadline, while both builds are under way.
	stopped := func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		return ctx, cancel
	}
	expired := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 20*time.Millisecond)
	}
	type builds = []func(context.Context, func(int)) error
	tests := []struct {
		name   string
		ctx    func() (context.Context, context.CancelFunc)
		builds builds
		want   error
		added  int64
	}{
		{"both fill", background, builds{fill, fill}, nil, 2 * items},
		{"one fails, the other stops", background, builds{wait, fail}, errBroken, 0},
		{"the other order", background, builds{fail, wait}, errBroken, 0},
		{"cancelled before", cancelled, builds{fill, fill}, context.Canceled, -1},
		{"cancelled while under way", stopped, builds{wait, wait}, context.Canceled, 0},
		{"past the deadline while under way", expired, builds{wait, wait}, context.DeadlineExceeded, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p countingProgress
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			err := buildIndexes(ctx, &p, items, tt.builds...)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) || err != nil && err.Error() != tt.want.Error() {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("took %v: a failure did not stop the other build", took)
			}
			if p.started != 1 || p.ended != 1 || p.total != int64(len(tt.builds)*items) {
				t.Fatalf("progress: %d starts, %d ends, total %d", p.started, p.ended, p.total)
			}
			if tt.added >= 0 && p.added != tt.added {
				t.Fatalf("progress added %d, want %d", p.added, tt.added)
			}
		})
	}
}
