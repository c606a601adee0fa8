package parallel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duetrec/duet/internal/parallel"
)

func TestFor(t *testing.T) {
	tests := []struct {
		name       string
		n, workers int
		chunk      int
	}{
		{"nothing", 0, 4, 1},
		{"one worker", 100, 1, 1},
		{"more workers than work", 3, 16, 1},
		{"default workers", 1000, 0, 1},
		{"chunks", 1001, 3, 64},
		{"chunk larger than n", 10, 2, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counts := make([]atomic.Int32, tc.n)
			maxW := parallel.Workers(tc.workers, (tc.n+tc.chunk-1)/max(tc.chunk, 1))
			var badW atomic.Bool
			err := parallel.Range(context.Background(), tc.n, tc.workers, tc.chunk, func(w, lo, hi int) error {
				if w < 0 || w >= maxW || hi-lo > tc.chunk || lo >= hi {
					badW.Store(true)
				}
				for i := lo; i < hi; i++ {
					counts[i].Add(1)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if badW.Load() {
				t.Fatal("a worker number or chunk was out of range")
			}
			for i := range counts {
				if c := counts[i].Load(); c != 1 {
					t.Fatalf("iteration %d ran %d times", i, c)
				}
			}
		})
	}
}

func TestFor_FirstError(t *testing.T) {
	boom := errors.New("boom")
	var ran atomic.Int32
	err := parallel.For(context.Background(), 10000, 4, func(_, i int) error {
		ran.Add(1)
		if i == 10 {
			return boom
		}
		// Iterations that take a while, so that the count below does
		// not hang on how soon the failing worker is scheduled again
		// (a busy machine let the others run hundreds of instant ones).
		time.Sleep(time.Millisecond)
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	// Iterations already handed out finish; no new ones start: the loop
	// stops far short of its 10,000.
	if n := ran.Load(); n > 1000 {
		t.Fatalf("%d iterations ran after the error", n)
	}
}

func TestFor_Cancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	err := parallel.For(ctx, 1_000_000, 2, func(_, i int) error {
		if ran.Add(1) == 50 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n := ran.Load(); n > 1000 {
		t.Fatalf("%d iterations ran after the cancel", n)
	}
	// A context done before the loop runs nothing.
	ran.Store(0)
	if err := parallel.For(ctx, 10, 2, func(_, _ int) error { ran.Add(1); return nil }); !errors.Is(err, context.Canceled) || ran.Load() != 0 {
		t.Fatalf("done context: err %v, %d iterations ran", err, ran.Load())
	}
}

func TestWorkers(t *testing.T) {
	for _, tc := range []struct{ workers, n, want int }{
		{4, 2, 2}, {4, 0, 1}, {1, 100, 1}, {3, 100, 3},
	} {
		if got := parallel.Workers(tc.workers, tc.n); got != tc.want {
			t.Errorf("Workers(%d, %d) = %d, want %d", tc.workers, tc.n, got, tc.want)
		}
	}
}
