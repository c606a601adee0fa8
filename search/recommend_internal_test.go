package search

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

func TestLikeText(t *testing.T) {
	old := &content.Item{Title: "Old film", Categories: []string{"drama"}}
	latest := &content.Item{Title: "New film", Categories: []string{"comedy"}, Tags: []string{"funny"}}
	if got := likeText([]*content.Item{old, latest}); got != "New film comedy funny Old film drama" {
		t.Fatalf("got %q", got)
	}
	long := &content.Item{Title: "a" + strings.Repeat("é", text.MaxQueryBytes)}
	if got := likeText([]*content.Item{old, latest, long}); got != "a"+strings.Repeat("é", text.MaxQueryBytes/2-1) || !utf8.ValidString(got) {
		t.Fatalf("a title past the limit: got %d bytes", len(got))
	}
	words := &content.Item{Title: "x", Tags: strings.Fields(strings.Repeat("word ", 400))}
	if got := likeText([]*content.Item{words}); len(got) > text.MaxQueryBytes || !strings.HasPrefix(got, "x word") {
		t.Fatalf("%d bytes: %.20q", len(got), got)
	}
}
