package eval_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// event is one row of a hand-made log.
type event struct {
	user, item string
	t          int64
}

// dataset builds a dataset over items "i0".."i<n-1>" from events.
func dataset(t *testing.T, n int, events []event) *tower.Dataset {
	t.Helper()
	items := make([]content.Item, n)
	for i := range items {
		items[i] = content.Item{ID: fmt.Sprintf("i%d", i), Title: fmt.Sprintf("item %d", i)}
	}
	ds := tower.NewDataset(items)
	for _, e := range events {
		if !ds.AddEvent(content.Event{UserID: e.user, ItemID: e.item, Kind: "view", Value: 1, Time: time.Unix(e.t, 0)}) {
			t.Fatalf("event %v: unknown item", e)
		}
	}
	return ds
}

var (
	genOnce sync.Once
	genDS   *tower.Dataset
	genErr  error
)

// generated returns the synthetic set of 300 items and 400 users, made
// once per test binary.
func generated(t testing.TB) *tower.Dataset {
	t.Helper()
	genOnce.Do(func() {
		dir := t.TempDir()
		var items, events bytes.Buffer
		if _, err := content.Generate(context.Background(), content.GenOptions{Items: 300, Users: 400, Seed: 1}, &items, &events); err != nil {
			genErr = err
			return
		}
		ip, ep := dir+"/items.jsonl", dir+"/events.csv"
		if err := writeFile(ip, items.Bytes()); err != nil {
			genErr = err
			return
		}
		if err := writeFile(ep, events.Bytes()); err != nil {
			genErr = err
			return
		}
		genDS, genErr = tower.ReadDataset(context.Background(), ip, ep)
	})
	if genErr != nil {
		t.Fatal(genErr)
	}
	return genDS
}
