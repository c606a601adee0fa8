package content

import (
	"context"
	"sync"

	"github.com/duetrec/duet/internal/gather"
)

// committer runs writes through one goroutine that gathers whatever writes
// are waiting into one transaction of type T (group commit): while one
// commit is made durable the next group forms, so concurrent writers share
// commits without an artificial delay. Both stores use it; each supplies
// how a group runs in a transaction.
type committer[T any] struct {
	reqs   chan *writeReq[T]
	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	done   chan struct{}
	// run runs fns in one transaction and commits it. When fns[i] fails,
	// it rolls the transaction back and returns i and that error; err is
	// a failure of the transaction itself.
	run func(fns []func(T) error) (failed int, ferr, err error)
}

type writeReq[T any] struct {
	fn  func(T) error
	err chan error
}

// maxGroup bounds how many waiting writes one transaction takes.
const maxGroup = 256

func newCommitter[T any](run func(fns []func(T) error) (int, error, error)) *committer[T] {
	c := &committer[T]{reqs: make(chan *writeReq[T], maxGroup), done: make(chan struct{}), run: run}
	go c.loop()
	return c
}

// write runs fn in a transaction shared with other waiting writes and
// returns once that transaction is committed. fn may run more than once
// (see commit), so it sets its results afresh each time.
func (c *committer[T]) write(ctx context.Context, fn func(T) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq[T]{fn: fn, err: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	c.reqs <- req
	c.mu.RUnlock()
	// Once queued the write is not abandoned on cancellation: the caller
	// must learn whether it happened.
	return <-req.err
}

// close waits for the writes queued and stops the loop.
func (c *committer[T]) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.closed = true
	close(c.reqs)
	c.mu.Unlock()
	<-c.done
}

func (c *committer[T]) loop() {
	defer close(c.done)
	group := make([]*writeReq[T], 0, maxGroup)
	for first := range c.reqs {
		group = gather.Waiting(group, first, c.reqs, maxGroup)
		c.commit(group)
	}
}

// commit runs a group of writes in one transaction. A write that fails is
// answered with its error and the transaction is rolled back and run again
// without it, so one bad write never leaves half its changes behind or fails
// the others.
func (c *committer[T]) commit(group []*writeReq[T]) {
	fns := make([]func(T) error, 0, len(group))
	for len(group) > 0 {
		fns = fns[:0]
		for _, r := range group {
			fns = append(fns, r.fn)
		}
		failed, ferr, err := c.run(fns)
		if failed >= 0 {
			group[failed].err <- ferr
			group = append(group[:failed], group[failed+1:]...)
			continue
		}
		for _, r := range group {
			r.err <- err
		}
		return
	}
}
