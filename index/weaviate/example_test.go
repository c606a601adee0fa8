package weaviate_test

import (
	"context"
	"fmt"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/index/weaviate"
)

// A collection of items with their vectors, searched by vector and by
// words. (Run against a cluster on loopback; no output is checked.)
func ExampleIndex() {
	ctx := context.Background()
	c, err := weaviate.Open("weaviate://127.0.0.1:8080,127.0.0.1:8081,127.0.0.1:8082")
	if err != nil {
		fmt.Println(err)
		return
	}
	items := []content.Item{{ID: "a", Title: "Space Opera"}, {ID: "b", Title: "Love Story"}}
	col, err := c.Create(ctx, "Duet_example", items, weaviate.Options{Shards: 1, Replicas: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Drop(ctx, col.Name())
	err = col.Put(ctx, []weaviate.Object{
		{Item: &items[0], Vector: []float32{1, 0}},
		{Item: &items[1], Vector: []float32{0, 1}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	x := weaviate.NewIndex(col, 2, 0)
	near, _ := x.Vectors().Search(ctx, []float32{0.9, 0.1}, 1, nil)
	words, _ := x.Text().Search(ctx, text.Query{Text: "operas", K: 1})
	fmt.Println(near[0].ID, words.Hits[0].ID)
}
