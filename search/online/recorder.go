package online

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/gather"
)

// NewImpressionID returns a new impression id: 48 bits of the time in
// milliseconds, then 80 random bits, in base32hex, so that ids sort by time:
// the store appends impressions to the end of its index instead of
// rewriting pages all over it.
func NewImpressionID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	rand.Read(b[6:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// RecorderOptions configure a Recorder. Zero fields take the defaults in
// their comments.
type RecorderOptions struct {
	// Buffer bounds the impressions waiting to be written (default
	// 16384): beyond it, Record drops them (counted) rather than slow
	// answers.
	Buffer int
	// Batch bounds the impressions one transaction writes (default 4096);
	// Interval is the longest an impression waits for its batch to fill
	// (default 500ms).
	Batch    int
	Interval time.Duration
	// Retention is how long the feedback log keeps records (default
	// content.DefaultAttribution); older ones are pruned every
	// PruneEvery (default an hour).
	Retention  time.Duration
	PruneEvery time.Duration
	Logger     *slog.Logger
}

// Recorder writes impressions to the store's feedback log in batches,
// off the answering path.
type Recorder struct {
	store   *content.Store
	opts    RecorderOptions
	ch      chan content.Impression
	flush   chan chan struct{}
	mu      sync.RWMutex // guards closed against sends on ch
	closed  bool
	done    chan struct{}
	logged  atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
}

// NewRecorder starts a recorder writing to store; Close stops it.
func NewRecorder(store *content.Store, opts RecorderOptions) *Recorder {
	if opts.Buffer <= 0 {
		opts.Buffer = 16384
	}
	if opts.Batch <= 0 {
		opts.Batch = 4096
	}
	if opts.Interval <= 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.Retention <= 0 {
		opts.Retention = content.DefaultAttribution
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Recorder{store: store, opts: opts, ch: make(chan content.Impression, opts.Buffer), flush: make(chan chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

// Record queues an impression to be written and reports whether it was
// queued; it never blocks. A full queue (the store slower than answers)
// drops it.
func (r *Recorder) Record(im content.Impression) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	select {
	case r.ch <- im:
		return true
	default:
		r.dropped.Add(1)
		return false
	}
}

// RecorderStats counts a recorder's impressions.
type RecorderStats struct {
	Logged  uint64 `json:"logged"`
	Dropped uint64 `json:"dropped"` // the queue was full
	Failed  uint64 `json:"failed"`  // the store refused or was away
	Queued  int    `json:"queued"`
}

// Stats returns the recorder's counts.
func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{Logged: r.logged.Load(), Dropped: r.dropped.Load(), Failed: r.failed.Load(), Queued: len(r.ch)}
}

// Close writes what is queued and stops the recorder.
func (r *Recorder) Close() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.ch)
	}
	r.mu.Unlock()
	<-r.done
}

// writeTries is how often a batch is tried before its impressions are
// counted as failed: a store away for a moment loses none.
const writeTries = 3

func (r *Recorder) loop() {
	defer close(r.done)
	prune := time.NewTicker(r.opts.PruneEvery)
	defer prune.Stop()
	r.prune()
	batch := make([]content.Impression, 0, r.opts.Batch)
	// A batch is written once it is full or Interval after its first
	// impression: every write is a transaction made durable, whose cost is
	// much the same for one impression as for thousands.
	var due <-chan time.Time
	for {
		select {
		case im, ok := <-r.ch:
			if !ok {
				r.write(batch)
				return
			}
			if len(batch) == 0 {
				due = time.After(r.opts.Interval)
			}
			if batch = append(batch, im); len(batch) >= r.opts.Batch {
				r.write(batch)
				batch, due = batch[:0], nil
			}
		case <-due:
			r.write(batch)
			batch, due = batch[:0], nil
		case done := <-r.flush:
			// Everything queued before the flush asked is on ch now.
			for len(r.ch) > 0 && len(batch) < cap(batch) {
				batch = append(batch, <-r.ch)
			}
			r.write(batch)
			batch, due = batch[:0], nil
			for len(r.ch) > 0 {
				first, ok := <-r.ch
				if !ok {
					break
				}
				batch = gather.Waiting(batch[:0], first, r.ch, r.opts.Batch)
				r.write(batch)
			}
			batch = batch[:0]
			close(done)
		case <-prune.C:
			r.prune()
		}
	}
}

// Flush returns once the impressions queued before it was called are
// written (or failed), or when ctx is done: an event may name an
// impression answered a moment ago.
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.flush <- done:
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Recorder) write(batch []content.Impression) {
	if len(batch) == 0 {
		return
	}
	var err error
	for try := range writeTries {
		if try > 0 {
			time.Sleep(time.Duration(try) * 200 * time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = r.store.LogImpressions(ctx, batch)
		cancel()
		if err == nil {
			r.logged.Add(uint64(len(batch)))
			return
		}
	}
	r.failed.Add(uint64(len(batch)))
	r.opts.Logger.Error("impressions not recorded", "n", len(batch), "err", err)
}

func (r *Recorder) prune() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := r.store.PruneFeedback(ctx, time.Now().Add(-r.opts.Retention))
	if err != nil {
		r.opts.Logger.Error("pruning the feedback log", "err", err)
	} else if n > 0 {
		r.opts.Logger.Info("feedback log pruned", "records", n)
	}
}
