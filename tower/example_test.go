package tower_test

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

func Example() {
	ctx := context.Background()
	ds := tower.NewDataset([]content.Item{
		{ID: "m1", Title: "Space Odyssey", Categories: []string{"sci-fi"}},
		{ID: "m2", Title: "Star Voyage", Categories: []string{"sci-fi"}},
		{ID: "m3", Title: "Love in Paris", Categories: []string{"romance"}},
		{ID: "m4", Title: "Paris Nights", Categories: []string{"romance"}},
	})
	for _, ev := range []content.Event{
		{UserID: "ann", ItemID: "m1"}, {UserID: "ann", ItemID: "m2"}, {UserID: "ann", ItemID: "m1"},
		{UserID: "bob", ItemID: "m3"}, {UserID: "bob", ItemID: "m4"}, {UserID: "bob", ItemID: "m3"},
	} {
		ds.AddEvent(ev)
	}

	// Train on every interaction; an evaluation would pass its own
	// training histories and validation pairs instead of nil.
	m, err := tower.Train(ctx, ds, nil, nil, tower.Config{Dim: 8, Buckets: 1 << 10, Epochs: 5, Workers: 1})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A live server builds the user vector from the history in the store,
	// which may hold items the model has never seen.
	u := m.UserVectorItems([]content.Item{
		{ID: "m1", Title: "Space Odyssey", Categories: []string{"sci-fi"}},
		{ID: "m9", Title: "Galaxy Star Odyssey", Categories: []string{"sci-fi"}}, // new
	}, nil)
	fmt.Println("user vector:", len(u), "floats")

	// Items and free-text queries live in the same space; scores are cosines.
	item := m.ItemVectorByIndex(1, nil)
	q, ok := m.QueryVector("star voyage", nil)
	var s1, s2 float64
	for i := range u {
		s1 += float64(u[i] * item[i])
		s2 += float64(q[i] * item[i])
	}
	fmt.Println("scores are cosines:", math.Abs(s1) <= 1.0001 && math.Abs(s2) <= 1.0001, ok)

	// The model file round-trips.
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		fmt.Println(err)
		return
	}
	m2, err := tower.Load(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("loaded:", m2.NumItems(), "items")
	// Output:
	// user vector: 8 floats
	// scores are cosines: true true
	// loaded: 4 items
}
