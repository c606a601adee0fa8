package content

import (
	"context"
	"errors"

	"github.com/duetrec/duet/internal/parallel"
)

// Feed is the change feed as a follower reads it: every item write takes
// the next number of one global sequence, and a follower built at a
// sequence number catches up by applying the items changed after it, in
// their current state. Store implements it.
type Feed interface {
	Stats(ctx context.Context) (Stats, error)
	ChangesSince(ctx context.Context, seq uint64, limit int) ([]Change, error)
	Item(ctx context.Context, id string) (Item, error)
}

// Follower is what follows the feed: the live indexes.
type Follower interface {
	ItemPut(ctx context.Context, item Item) error
	ItemDeleted(ctx context.Context, id string) error
}

// Apply brings one item of f to its current state in the feed: put, or
// deleted when the feed no longer holds it.
func Apply(ctx context.Context, feed Feed, f Follower, id string) error {
	it, err := feed.Item(ctx, id)
	switch {
	case err == nil:
		return f.ItemPut(ctx, it)
	case errors.Is(err, ErrNotFound):
		return f.ItemDeleted(ctx, id)
	}
	return err
}

// ReplayOptions tunes Replay. The zero value applies eight items at once
// and reports nothing.
type ReplayOptions struct {
	// Workers is how many items are applied at once; default 8. Applies
	// of different items run together, so that an index that groups
	// writes (the text index) gets them as one batch.
	Workers int
	// Done, when set, is told after each page of changes the sequence
	// number up to which they are applied.
	Done func(seq uint64)
}

// replayPage is how many changes Replay reads at a time.
const replayPage = 1000

// Replay applies the items the feed changed after sequence number from, up
// to the sequence number the feed has when Replay starts: writes that come
// later are applied by whoever makes them, and a replay that chased them
// could run for as long as they keep coming. Each item changed is applied
// once, by apply (typically Apply, under whatever lock the caller needs),
// which reads its current state. It returns how many items it applied, and
// the first error of apply or the feed.
func Replay(ctx context.Context, feed Feed, from uint64, apply func(ctx context.Context, id string) error, opts ReplayOptions) (int, error) {
	st, err := feed.Stats(ctx)
	if err != nil {
		return 0, err
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = 8
	}
	applied := map[string]bool{}
	for from < st.Seq {
		changes, err := feed.ChangesSince(ctx, from, replayPage)
		if err != nil {
			return len(applied), err
		}
		if len(changes) == 0 {
			break
		}
		// An item changed many times is applied once, in its latest state.
		ids := make([]string, 0, len(changes))
		for _, ch := range changes {
			if !applied[ch.ItemID] {
				applied[ch.ItemID] = true
				ids = append(ids, ch.ItemID)
			}
		}
		if err := parallel.For(ctx, len(ids), workers, func(_, i int) error { return apply(ctx, ids[i]) }); err != nil {
			return len(applied), err
		}
		from = changes[len(changes)-1].Seq
		if opts.Done != nil {
			opts.Done(from)
		}
	}
	return len(applied), nil
}
