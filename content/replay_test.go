package content_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/duetrec/duet/content"
)

// follower records what a replay applies: the state it leaves, and how
// often each item was applied.
type follower struct {
	mu      sync.Mutex
	items   map[string]content.Item
	applies map[string]int
	fail    string // an item whose put fails
}

func newFollower() *follower {
	return &follower{items: map[string]content.Item{}, applies: map[string]int{}}
}

func (f *follower) ItemPut(_ context.Context, it content.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if it.ID == f.fail {
		return errors.New("index full")
	}
	f.items[it.ID] = it
	f.applies[it.ID]++
	return nil
}

func (f *follower) ItemDeleted(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.items, id)
	f.applies[id]++
	return nil
}

func TestReplay(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	put := func(id, title string) uint64 {
		t.Helper()
		seq, err := st.PutItem(ctx, content.Item{ID: id, Title: title})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	put("a", "first")
	mark := put("b", "first")
	put("a", "second")
	put("c", "first")
	if _, err := st.DeleteItem(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// Enough changes for several pages.
	for i := range 2500 {
		put(fmt.Sprintf("bulk-%04d", i%1200), fmt.Sprint(i))
	}
	stats, _ := st.Stats(ctx)

	tests := []struct {
		name      string
		from      uint64
		wantItems int // in the follower after the replay
		wantDone  uint64
	}{
		{"from the start", 0, 2 + 1200, stats.Seq},
		{"from a mark", mark, 2 + 1200, stats.Seq},
		{"nothing new", stats.Seq, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFollower()
			var dones []uint64
			n, err := content.Replay(ctx, st, tc.from, func(ctx context.Context, id string) error {
				return content.Apply(ctx, st, f, id)
			}, content.ReplayOptions{Workers: 4, Done: func(seq uint64) { dones = append(dones, seq) }})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.items) != tc.wantItems {
				t.Fatalf("%d items, want %d", len(f.items), tc.wantItems)
			}
			for id, c := range f.applies {
				if c != 1 {
					t.Fatalf("%s applied %d times", id, c)
				}
			}
			if n != len(f.applies) {
				t.Fatalf("Replay reports %d applied, the follower saw %d", n, len(f.applies))
			}
			if tc.wantItems > 0 {
				if f.items["a"].Title != "second" {
					t.Fatalf("a is %+v, want its latest state", f.items["a"])
				}
				if _, ok := f.items["b"]; ok || f.applies["b"] != 1 {
					t.Fatal("the deleted item was not applied as a delete")
				}
			}
			var last uint64
			for _, d := range dones {
				if d <= last {
					t.Fatalf("Done went back: %v", dones)
				}
				last = d
			}
			if last != tc.wantDone {
				t.Fatalf("last Done %d, want %d", last, tc.wantDone)
			}
		})
	}
}

func TestReplay_Error(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	for _, id := range []string{"a", "b", "c"} {
		if _, err := st.PutItem(ctx, content.Item{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	f := newFollower()
	f.fail = "b"
	_, err := content.Replay(ctx, st, 0, func(ctx context.Context, id string) error {
		return content.Apply(ctx, st, f, id)
	}, content.ReplayOptions{Workers: 1})
	if err == nil || err.Error() != "index full" {
		t.Fatalf("err %v, want the follower's", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := content.Replay(cancelled, st, 0, func(context.Context, string) error { return nil }, content.ReplayOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
