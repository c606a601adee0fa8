package tower_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

func TestDataset_TimeOrderAndUnknownItems(t *testing.T) {
	d := tower.NewDataset([]content.Item{{ID: "a"}, {ID: "b"}, {ID: "c"}})
	t0 := time.Unix(1000, 0)
	for _, ev := range []content.Event{
		{UserID: "u", ItemID: "b", Time: t0.Add(2 * time.Second), Value: 1},
		{UserID: "u", ItemID: "a", Time: t0, Value: 2},
		{UserID: "v", ItemID: "c", Value: 1},
		{UserID: "u", ItemID: "c", Time: t0.Add(time.Second), Value: 3},
	} {
		if !d.AddEvent(ev) {
			t.Fatalf("event %+v refused", ev)
		}
	}
	if d.AddEvent(content.Event{UserID: "u", ItemID: "zz"}) {
		t.Fatal("event for an unknown item accepted")
	}
	u, _ := d.UserIndex("u")
	h := d.History[u]
	if len(h) != 3 || h[0].Item != 0 || h[1].Item != 2 || h[2].Item != 1 || h[0].Value != 2 {
		t.Fatalf("history %+v", h)
	}
	if len(d.Users) != 2 || d.Interactions() != 4 {
		t.Fatalf("users %v, interactions %d", d.Users, d.Interactions())
	}
	if pop := d.Popularity(d.History); len(pop) != 3 || pop["a"] != 1 || pop["c"] != 2 {
		t.Fatalf("popularity %v", pop)
	}
	if pop := d.Popularity(d.History[u : u+1]); len(pop) != 3 || pop["c"] != 1 {
		t.Fatalf("popularity of u's history %v", pop)
	}
}

func TestLoadAndReadDatasetAgree(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 100, Users: 30, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	items, events := filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile)
	fromFiles, err := tower.ReadDataset(ctx, items, events)
	if err != nil {
		t.Fatal(err)
	}
	s, err := content.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := content.ImportGeneric(ctx, s, items, events, content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	fromStore, err := tower.LoadDataset(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromStore.Items) != 100 || fromStore.Interactions() != fromFiles.Interactions() || len(fromStore.Users) != len(fromFiles.Users) {
		t.Fatalf("store: %d items %d interactions %d users; files: %d interactions %d users",
			len(fromStore.Items), fromStore.Interactions(), len(fromStore.Users), fromFiles.Interactions(), len(fromFiles.Users))
	}
	for u, id := range fromFiles.Users {
		su, ok := fromStore.UserIndex(id)
		if !ok || len(fromStore.History[su]) != len(fromFiles.History[u]) {
			t.Fatalf("user %s differs", id)
		}
		for i, x := range fromFiles.History[u] {
			y := fromStore.History[su][i]
			if fromFiles.Items[x.Item].ID != fromStore.Items[y.Item].ID || x.Time != y.Time {
				t.Fatalf("user %s event %d: %+v vs %+v", id, i, x, y)
			}
		}
	}
}
