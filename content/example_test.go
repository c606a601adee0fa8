package content_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/duetrec/duet/content"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "duet-example")
	defer os.RemoveAll(dir)

	s, err := content.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// Each write returns once it is durable, with its sequence number.
	seq, err := s.PutItem(ctx, content.Item{ID: "i1", Title: "Orbit Telescope Guide", Categories: []string{"space"}})
	if err != nil {
		log.Fatal(err)
	}
	_, err = s.AppendEvents(ctx, []content.Event{
		{UserID: "u1", ItemID: "i1", Kind: "view", Value: 1, Time: time.Unix(1700000000, 0)},
		{UserID: "u1", ItemID: "i1", Kind: "purchase", Value: 1, Time: time.Unix(1700000600, 0)},
	})
	if err != nil {
		log.Fatal(err)
	}
	history, _ := s.UserEvents(ctx, "u1", 10)
	for _, ev := range history {
		fmt.Println(ev.Kind, ev.ItemID)
	}
	changes, _ := s.ChangesSince(ctx, seq-1, 0)
	fmt.Println(len(changes), "item change since", seq-1)
	// Output:
	// view i1
	// purchase i1
	// 1 item change since 0
}
