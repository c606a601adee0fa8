package text_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

func TestHighlighter_Fragments(t *testing.T) {
	tx := expandIndex(t)
	long := strings.Repeat("filler words here ", 20) + "a telescope for the galaxies " + strings.Repeat("more words after ", 20)
	tests := []struct {
		name string
		q    text.Query
		it   content.Item
		want map[string]string
	}{
		{"title and description", text.Query{Text: "galaxy"}, content.Item{Title: "Galaxy Atlas", Description: "Maps of distant galaxies."},
			map[string]string{"title": "<mark>Galaxy</mark> Atlas", "description": "Maps of distant <mark>galaxies</mark>."}},
		{"escaped around the marks", text.Query{Text: "rock"}, content.Item{Title: `Rock & <Roll> "live"`},
			map[string]string{"title": "<mark>Rock</mark> &amp; &lt;Roll&gt; &#34;live&#34;"}},
		{"a corrected word", text.Query{Text: "galaxxy", Typos: text.DefaultTypos}, content.Item{Title: "Galaxy Atlas"},
			map[string]string{"title": "<mark>Galaxy</mark> Atlas"}},
		{"a completed word", text.Query{Text: "teles", Prefix: true}, content.Item{Title: "Backyard Telescopes", Description: "Lenses and mirrors."},
			map[string]string{"title": "Backyard <mark>Telescopes</mark>"}},
		{"a typo not tolerated marks nothing", text.Query{Text: "galaxxy"}, content.Item{Title: "Galaxy Atlas"}, nil},
		{"stop words are not marked", text.Query{Text: "the galaxy"}, content.Item{Title: "The Galaxy"},
			map[string]string{"title": "The <mark>Galaxy</mark>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tx.Highlighter(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			got := h.Fragments(&tt.it)
			if len(got) != len(tt.want) {
				t.Fatalf("%q", got)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}

	// A long description: a snippet around the first match, cut at spaces.
	h, err := tx.Highlighter(context.Background(), text.Query{Text: "telescope galaxy"})
	if err != nil {
		t.Fatal(err)
	}
	d := h.Fragments(&content.Item{Description: long})["description"]
	plain := strings.NewReplacer("<mark>", "", "</mark>", "").Replace(d)
	if !strings.HasPrefix(d, "…") || !strings.HasSuffix(d, "…") || utf8.RuneCountInString(plain) > text.SnippetRunes+2 ||
		!strings.Contains(d, "a <mark>telescope</mark> for the <mark>galaxies</mark>") || strings.Contains(plain, "… ") || strings.Contains(plain, " …") {
		t.Fatalf("snippet %q", d)
	}
	if !strings.Contains(long, strings.Trim(plain, "…")) {
		t.Fatalf("snippet %q is not a piece of the description", d)
	}
	if _, err := tx.Highlighter(context.Background(), text.Query{Text: "x", Typos: text.Typos{One: 99}}); err == nil {
		t.Fatal("bad typos accepted")
	}
}
