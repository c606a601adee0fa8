package text_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

// expandCatalog has words of four, eight and ten letters to misspell, a
// word beginning another, and a word beginning with a stop word.
var expandCatalog = []textItemSpec{
	{"galaxy", "Galaxy Atlas", "Maps of distant galaxies."},
	{"spacecraft", "Spacecraft Manual", "Engines and hulls."},
	{"telescope", "Backyard Telescopes", "Lenses and mirrors."},
	{"rock", "Rock Music", "Guitars, loud."},
	{"rocket", "Rocket Engines", "Thrust and fuel."},
	{"theory", "Theory of Games", "Strategy."},
	{"star", "Star Charts", "Constellations by season."},
	{"animation", "Animation Studio", "Drawn by hand."},
	{"come", "Come Home", "A long way back."},
	{"comedy", "Comedy Night", "Jokes."},
}

type textItemSpec struct{ id, title, desc string }

func expandIndex(t *testing.T) *text.Index {
	t.Helper()
	all := make([]content.Item, 0, len(expandCatalog))
	for _, s := range expandCatalog {
		all = append(all, textItem(s.id, s.title, s.desc, nil, nil, nil))
	}
	return textNew(t, all)
}

func TestIndex_PrefixAndTypos(t *testing.T) {
	tx := expandIndex(t)
	typos := text.DefaultTypos
	tests := []struct {
		name   string
		q      text.Query
		want   []string // the hits' ids, in order; nil: none
		anyOf  bool     // want holds the ids that must lead, in order
		absent []string // ids that must not be among the hits
	}{
		{"exact word", text.Query{Text: "galaxy"}, []string{"galaxy"}, false, nil},
		{"a typo, not tolerated", text.Query{Text: "galaxxy"}, nil, false, nil},
		{"a typo in six letters", text.Query{Text: "galaxxy", Typos: typos}, []string{"galaxy"}, false, nil},
		{"a dropped letter", text.Query{Text: "galxy", Typos: typos}, []string{"galaxy"}, false, nil},
		{"four letters: no typo", text.Query{Text: "rokc", Typos: typos}, nil, false, nil},
		{"two typos in eleven letters, two allowed from twelve", text.Query{Text: "telesscoope", Typos: text.Typos{One: 5, Two: 12}}, nil, false, nil},
		{"two typos from nine letters", text.Query{Text: "spaceecrafft", Typos: typos}, []string{"spacecraft"}, false, nil},
		{"two typos, one allowed", text.Query{Text: "spaceecrafft", Typos: text.Typos{One: 5}}, nil, false, nil},
		{"a prefix, not asked", text.Query{Text: "teles"}, nil, false, nil},
		{"a prefix", text.Query{Text: "teles", Prefix: true}, []string{"telescope"}, false, nil},
		{"a prefix after a finished word", text.Query{Text: "engines rock", Prefix: true}, []string{"rocket", "rock"}, true, nil},
		{"a finished word is no prefix", text.Query{Text: "teles ", Prefix: true}, nil, false, nil},
		{"punctuation finishes a word", text.Query{Text: "teles.", Prefix: true}, nil, false, nil},
		{"the exact word first", text.Query{Text: "rock", Prefix: true}, []string{"rock", "rocket"}, false, nil},
		{"a stop word begins a word", text.Query{Text: "the", Prefix: true}, []string{"theory"}, false, nil},
		{"a stop word alone, no prefix", text.Query{Text: "the"}, nil, false, nil},
		{"a known word is not corrected", text.Query{Text: "star", Typos: typos}, []string{"star"}, false, []string{"galaxy"}},
		{"a beginning longer than the stem", text.Query{Text: "animat", Prefix: true}, []string{"animation"}, false, nil},
		{"a beginning is not the word its stem spells", text.Query{Text: "comed", Prefix: true}, []string{"comedy"}, false, []string{"come"}},
		{"a whole word is its own and a beginning", text.Query{Text: "come", Prefix: true}, []string{"come", "comedy"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := textIDs(textSearch(t, tx, tt.q))
			switch {
			case tt.anyOf:
				if len(got) < len(tt.want) || !slices.Equal(got[:len(tt.want)], tt.want) {
					t.Fatalf("%q: %v, want %v first", tt.q.Text, got, tt.want)
				}
			case !slices.Equal(got, tt.want) && !(len(got) == 0 && tt.want == nil):
				t.Fatalf("%q: %v, want %v", tt.q.Text, got, tt.want)
			}
			for _, id := range tt.absent {
				if slices.Contains(got, id) {
					t.Fatalf("%q: %v holds %s", tt.q.Text, got, id)
				}
			}
		})
	}
}

// The same expansions with facets (Bleve's way) as
// without (the postings' way).
func TestIndex_PrefixAndTyposFiltered(t *testing.T) {
	tx := expandIndex(t)
	for _, q := range []text.Query{
		{Text: "galaxxy", Typos: text.DefaultTypos},
		{Text: "engines rock", Prefix: true},
		{Text: "the", Prefix: true},
	} {
		plain := textSearch(t, tx, q)
		q.FacetSize = 5
		faceted := textSearch(t, tx, q)
		if !slices.Equal(textIDs(plain), textIDs(faceted)) {
			t.Fatalf("%q: %v plain, %v with facets", q.Text, textIDs(plain), textIDs(faceted))
		}
		for i := range plain.Hits {
			if d := plain.Hits[i].Score - faceted.Hits[i].Score; d > 1e-9 || d < -1e-9 {
				t.Fatalf("%q: hit %d scores %v plain, %v with facets", q.Text, i, plain.Hits[i].Score, faceted.Hits[i].Score)
			}
		}
	}
}

func TestQuery_ValidateTypos(t *testing.T) {
	for _, tt := range []struct {
		typos text.Typos
		ok    bool
	}{
		{text.Typos{}, true},
		{text.DefaultTypos, true},
		{text.Typos{One: 4}, true},
		{text.Typos{Two: 8}, true},
		{text.Typos{One: -1}, false},
		{text.Typos{One: text.MaxTypoWordLen + 1}, false},
		{text.Typos{One: 9, Two: 5}, false},
	} {
		q := text.Query{Text: "x", K: 1, Typos: tt.typos}
		if err := q.Validate(); (err == nil) != tt.ok || err != nil && !errors.Is(err, text.ErrInvalidQuery) {
			t.Errorf("%+v: %v", tt.typos, err)
		}
	}
}

func TestIndex_Interpret(t *testing.T) {
	tx := expandIndex(t)
	for _, tt := range []struct {
		q    text.Query
		want string
	}{
		{text.Query{Text: "Galaxy atlas"}, "galaxi atla"},
		{text.Query{Text: "galaxxy atlas"}, "galaxxi atla"},
		{text.Query{Text: "galaxxy atlas", Typos: text.DefaultTypos}, "galaxi atla"},
		{text.Query{Text: "the teles", Prefix: true}, "telescop"},
		{text.Query{Text: "animat", Prefix: true}, "anim"},
		{text.Query{Text: "the", Prefix: true}, "theori"},
		{text.Query{Text: "   "}, ""},
	} {
		got, err := tx.Interpret(context.Background(), tt.q)
		if err != nil || got != tt.want {
			t.Errorf("%+v: %q %v, want %q", tt.q, got, err, tt.want)
		}
	}
	if _, err := tx.Interpret(context.Background(), text.Query{Text: "x", Typos: text.Typos{One: -1}}); !errors.Is(err, text.ErrInvalidQuery) {
		t.Errorf("bad typos: %v", err)
	}
}

// A word one edit from two others is corrected to the commoner first,
// whatever their order.
func TestIndex_CorrectionsCommonestFirst(t *testing.T) {
	items := []content.Item{{ID: "s", Title: "salmon"}}
	for i := range 3 {
		items = append(items, content.Item{ID: fmt.Sprintf("t%d", i), Title: "talmon"})
	}
	tx := textNew(t, items)
	got, err := tx.Interpret(context.Background(), text.Query{Text: "walmon", Typos: text.Typos{One: 5}})
	if err != nil || got != "talmon" {
		t.Fatalf("walmon read as %q, %v; want talmon, the commoner", got, err)
	}
}

func TestIndex_Complete(t *testing.T) {
	tx := expandIndex(t)
	for _, tt := range []struct {
		prefix string
		k      int
		want   []string
	}{
		{"ro", 5, []string{"rock", "rocket"}},
		{"Rock", 5, []string{"rock", "rocket"}},
		{"rock", 1, []string{"rock"}},
		{"tele", 5, []string{"telescopes"}},
		{"the", 5, []string{"theory"}},
		{"zz", 5, nil},
		{"", 5, nil},
	} {
		got, err := tx.Complete(context.Background(), tt.prefix, tt.k)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q, %d: %v %v, want %v", tt.prefix, tt.k, got, err, tt.want)
		}
	}
	if _, err := tx.Complete(context.Background(), "a\xffb", 5); !errors.Is(err, text.ErrInvalidQuery) {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestIndex_Unfinished(t *testing.T) {
	ctx := context.Background()
	tx := expandIndex(t)
	if err := tx.Upsert(ctx, textItem("amour", "L'Amour Fou", "", nil, nil, nil)); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, q text.Query, limit int, want []string) {
		t.Helper()
		got, ok, err := tx.Unfinished(ctx, q, limit)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if ok != (want != nil) || !slices.Equal(got, want) {
			t.Errorf("%q (limit %d): %v %v, want %v", q.Text, limit, got, ok, want)
		}
	}
	for _, tt := range []struct {
		name  string
		q     text.Query
		limit int
		want  []string // nil: ok false
	}{
		{"a beginning", text.Query{Text: "ro", Prefix: true}, 10, []string{"rock", "rocket"}},
		{"in capitals", text.Query{Text: "RO", Prefix: true}, 10, []string{"rock", "rocket"}},
		{"after a finished word", text.Query{Text: "engines ro", Prefix: true}, 10, []string{"rock", "rocket"}},
		{"in a description too", text.Query{Text: "en", Prefix: true}, 10, []string{"rocket", "spacecraft"}},
		{"a beginning no stem spells", text.Query{Text: "comed", Prefix: true}, 10, []string{"comedy"}},
		{"cut as the index cuts words", text.Query{Text: "l'amo", Prefix: true}, 10, []string{"amour"}},
		{"a word of its own is finished", text.Query{Text: "rock", Prefix: true}, 10, nil},
		{"a space finishes it", text.Query{Text: "ro ", Prefix: true}, 10, nil},
		{"punctuation finishes it", text.Query{Text: "ro.", Prefix: true}, 10, nil},
		{"prefixes not asked", text.Query{Text: "ro"}, 10, nil},
		{"no word begins so", text.Query{Text: "zz", Prefix: true}, 10, nil},
		{"held by more than the limit", text.Query{Text: "ro", Prefix: true}, 1, nil},
		{"held by the limit exactly", text.Query{Text: "ro", Prefix: true}, 2, []string{"rock", "rocket"}},
		{"blank", text.Query{Text: "  ", Prefix: true}, 10, nil},
	} {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.q, tt.limit, tt.want) })
	}
	if _, _, err := tx.Unfinished(ctx, text.Query{Text: "a\xffb", Prefix: true}, 10); !errors.Is(err, text.ErrInvalidQuery) {
		t.Errorf("invalid UTF-8: %v", err)
	}

	// Edits show at once: a deleted item is no longer held, a new one is,
	// and an item whose words changed is held by its new words alone.
	ro := text.Query{Text: "ro", Prefix: true}
	if err := tx.Delete(ctx, "rocket"); err != nil {
		t.Fatal(err)
	}
	check(t, ro, 10, []string{"rock"})
	// The dictionary still counts the deleted item's words: no item left.
	check(t, text.Query{Text: "rocke", Prefix: true}, 10, nil)
	if err := tx.Upsert(ctx, textItem("robot", "Robot Kits", "Servos.", nil, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Upsert(ctx, textItem("rock", "Jazz Music", "Horns, soft.", nil, nil, nil)); err != nil {
		t.Fatal(err)
	}
	check(t, ro, 10, []string{"robot"})
	check(t, text.Query{Text: "ja", Prefix: true}, 10, []string{"rock"})
}
