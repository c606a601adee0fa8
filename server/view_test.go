package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

// The API's item view writes exactly what content.Item writes itself.
func TestItemView_SameJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 30, 1, 123456789, time.UTC)
	items := []content.Item{
		{ID: "bare"},
		{ID: "full", Title: "A <b>title</b> & more", Description: "Line one\nline \"two\"", Tags: []string{"x", "y"}, Categories: []string{"c"},
			Attributes: map[string]content.Value{
				"year": content.Number(1999), "price": content.Number(0.1), "tiny": content.Number(1e-7), "huge": content.Number(1e21),
				"neg": content.Number(-3.5), "lang": content.String("en"), "empty": content.String(""), "é": content.String("ü\u2028"),
			},
			CreatedAt: at, UpdatedAt: at.Add(time.Hour).In(time.FixedZone("x", 3600))},
	}
	for _, it := range items {
		want, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(newItemView(&it))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("item %s:\n got %s\nwant %s", it.ID, got, want)
		}
	}
}
