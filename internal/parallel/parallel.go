// Package parallel runs the iterations of a loop on several goroutines:
// the one bounded parallel loop Duet's training, evaluation, index builds,
// replays and benchmarks share.
package parallel

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers returns how many goroutines For and Range use for n iterations
// when asked for workers: GOMAXPROCS when workers < 1, never more than n,
// and at least 1.
func Workers(workers, n int) int {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	return max(1, min(workers, n))
}

// For calls fn(w, i) for every i in [0, n), on Workers(workers, n)
// goroutines; w, from 0 to that count less one, names the goroutine, so
// that fn can keep scratch space per goroutine. Iterations are handed out
// in order, one at a time.
//
// It returns the first error fn returns, or ctx's error once ctx is done;
// after either no new iteration starts, and For returns when the ones
// running have finished. With one worker, fn runs on the calling
// goroutine.
func For(ctx context.Context, n, workers int, fn func(w, i int) error) error {
	return Range(ctx, n, workers, 1, func(w, lo, hi int) error {
		for i := lo; i < hi; i++ {
			if err := fn(w, i); err != nil {
				return err
			}
		}
		return nil
	})
}

// Range is For with the iterations handed out chunk at a time: fn(w, lo,
// hi) runs iterations lo to hi-1. Chunks cut the cost of handing out
// iterations that take less than a microsecond, and give a progress
// report a natural step. A chunk < 1 is taken as 1.
func Range(ctx context.Context, n, workers, chunk int, fn func(w, lo, hi int) error) error {
	if n <= 0 {
		return ctx.Err()
	}
	chunk = max(chunk, 1)
	chunks := (n + chunk - 1) / chunk
	workers = Workers(workers, chunks)
	var (
		next    atomic.Int64
		stopped atomic.Bool
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err })
		stopped.Store(true)
	}
	run := func(w int) {
		// ctx.Err is an atomic load: cheap enough to ask per chunk.
		for !stopped.Load() && ctx.Err() == nil {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			lo := c * chunk
			if err := fn(w, lo, min(lo+chunk, n)); err != nil {
				fail(err)
				return
			}
		}
	}
	if workers == 1 {
		run(0)
	} else {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { run(w) })
		}
		wg.Wait()
	}
	if first != nil {
		return first
	}
	return ctx.Err()
}
