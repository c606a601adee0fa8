package text_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

func syn(id string, terms ...string) content.Synonyms {
	return content.Synonyms{ID: id, Terms: terms}
}

func oneWay(id, root string, terms ...string) content.Synonyms {
	return content.Synonyms{ID: id, Root: root, Terms: terms}
}

func TestNewVocabulary(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []content.Synonyms
		bad  string // a part of the error; "" for valid
	}{
		{"equivalents", []content.Synonyms{syn("sf", "sci-fi", "science fiction")}, ""},
		{"one-way rules in a chain", []content.Synonyms{oneWay("a", "laptop", "notebook"), oneWay("b", "notebook", "computer")}, ""},
		{"one-way into a set", []content.Synonyms{syn("tv", "tv", "television"), oneWay("b", "telly", "tv")}, ""},
		{"two rules from one root", []content.Synonyms{oneWay("a", "car", "auto"), oneWay("b", "car", "vehicle")}, ""},
		{"stop words only", []content.Synonyms{syn("x", "the", "tv")}, `"the" holds no word`},
		{"a long phrase", []content.Synonyms{syn("x", "one two three four five six", "tv")}, "6 words"},
		{"terms read alike", []content.Synonyms{syn("x", "Movie", "movies")}, "all read as"},
		{"a root read as its term", []content.Synonyms{oneWay("x", "movie", "Movies")}, "as its root"},
		{"a phrase in two sets", []content.Synonyms{syn("a", "tv", "television"), syn("b", "telly", "TV")}, `is in set "a" already`},
		{"one-way between equivalents", []content.Synonyms{syn("a", "tv", "television"), oneWay("b", "tv", "television")}, "equivalents in set"},
		{"a two-rule loop", []content.Synonyms{oneWay("a", "laptop", "notebook"), oneWay("b", "notebook", "laptop")}, `"laptop" → "notebook" → "laptop"`},
		{"a three-rule loop", []content.Synonyms{oneWay("a", "x1", "x2"), oneWay("b", "x2", "x3"), oneWay("c", "x3", "x1")}, "(sets a, b, c)"},
		{"a loop through a set", []content.Synonyms{syn("s", "tv", "television"), oneWay("a", "tv", "screen"), oneWay("b", "screen", "television")}, "loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := text.NewVocabulary(content.Vocabulary{Synonyms: tc.sets})
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.bad != "" && (!errors.Is(err, text.ErrInvalidVocabulary) || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("got %v, want an invalid vocabulary saying %q", err, tc.bad)
			}
		})
	}
}

// vocabularyCatalog has the same things said in different words.
var vocabularyCatalog = []textItemSpec{
	{"sf", "Science Fiction Classics", "Rockets and robots."},
	{"scifi", "A Sci-Fi Romp", "Lasers, loud."},
	{"laptop", "Laptop Sleeve", "Padded."},
	{"notebook", "Notebook Stand", "Aluminium."},
	{"matrix", "The Matrix", "A movie about machines."},
	{"movie", "Movie Night", "Popcorn."},
	{"garden", "Garden Tools", "Spades and forks."},
}

func vocabularyIndex(t *testing.T) *text.Index {
	t.Helper()
	var all []content.Item
	for _, s := range vocabularyCatalog {
		all = append(all, textItem(s.id, s.title, s.desc, nil, nil, nil))
	}
	return textNew(t, all)
}

func TestIndex_Vocabulary(t *testing.T) {
	tx := vocabularyIndex(t)
	voc, err := text.NewVocabulary(content.Vocabulary{
		Synonyms:  []content.Synonyms{syn("sf", "sci-fi", "science fiction"), oneWay("lap", "laptop", "notebook")},
		StopWords: []string{"movie"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    text.Query
		want []string // sorted ids
	}{
		{"without the vocabulary", text.Query{Text: "sci-fi"}, []string{"scifi"}},
		{"a phrase brings its equivalent", text.Query{Text: "Sci-Fi", Vocabulary: voc}, []string{"scifi", "sf"}},
		{"and the other way", text.Query{Text: "science fiction", Vocabulary: voc}, []string{"scifi", "sf"}},
		{"a phrase among other words", text.Query{Text: "garden sci fi", Vocabulary: voc}, []string{"garden", "scifi", "sf"}},
		{"half a phrase is no phrase", text.Query{Text: "science", Vocabulary: voc}, []string{"sf"}},
		{"one-way from the root", text.Query{Text: "laptop", Vocabulary: voc}, []string{"laptop", "notebook"}},
		{"not back to the root", text.Query{Text: "notebook", Vocabulary: voc}, []string{"notebook"}},
		{"a stop word is dropped", text.Query{Text: "movie matrix", Vocabulary: voc}, []string{"matrix"}},
		{"unless it is all there is", text.Query{Text: "movie", Vocabulary: voc}, []string{"matrix", "movie"}},
		{"with typos and prefixes too", text.Query{Text: "movie laptp", Vocabulary: voc, Typos: text.DefaultTypos, Prefix: true}, []string{"laptop"}},
		{"a stop word being typed still begins words", text.Query{Text: "sleeve movie", Vocabulary: voc, Prefix: true}, []string{"laptop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := textSortedIDs(textSearch(t, tx, tc.q)); !slices.Equal(got, tc.want) {
				t.Fatalf("%q: %v, want %v", tc.q.Text, got, tc.want)
			}
		})
	}
}

// A synonym weighs what the words it stands for weigh: the equivalents'
// items score alike, and the path that merges postings itself agrees with
// Bleve's.
func TestIndex_VocabularyScores(t *testing.T) {
	tx := vocabularyIndex(t)
	voc, err := text.NewVocabulary(content.Vocabulary{Synonyms: []content.Synonyms{syn("lap", "laptop", "notebook")}})
	if err != nil {
		t.Fatal(err)
	}
	q := text.Query{Text: "laptop", Vocabulary: voc}
	plain := textSearch(t, tx, q)
	q.FacetSize = 1 // Bleve's searchers
	bleve := textSearch(t, tx, q)
	if len(plain.Hits) != 2 || len(bleve.Hits) != 2 {
		t.Fatalf("hits %v and %v", textIDs(plain), textIDs(bleve))
	}
	// The two score alike, so their order is the paths' to choose.
	scores := map[string]float64{}
	for _, h := range bleve.Hits {
		scores[h.ID] = h.Score
	}
	for _, h := range plain.Hits {
		if b, ok := scores[h.ID]; !ok || math.Abs(h.Score-b) > 1e-9 {
			t.Fatalf("%s scored %v, by Bleve %v (found %v)", h.ID, h.Score, b, ok)
		}
	}
	if a, b := plain.Hits[0].Score, plain.Hits[1].Score; math.Abs(a-b) > 1e-9*a {
		t.Fatalf("equivalents scored %v and %v", a, b)
	}
}

func TestHighlighter_Reading(t *testing.T) {
	tx := vocabularyIndex(t)
	voc, err := text.NewVocabulary(content.Vocabulary{
		Synonyms:  []content.Synonyms{syn("sf", "sci-fi", "science fiction")},
		StopWords: []string{"movie"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := tx.Highlighter(context.Background(), text.Query{Text: "sci-fi movie", Vocabulary: voc})
	if err != nil {
		t.Fatal(err)
	}
	r := h.Reading()
	if !slices.Equal(r.StopWords, []string{"movie"}) {
		t.Fatalf("stop words %q", r.StopWords)
	}
	why := map[string]text.Term{}
	for _, term := range r.Terms {
		why[term.Term] = term
	}
	if s := why["scienc"]; s.Why != text.WhySynonym || s.Set != "sf" || s.From != "sci-fi" || s.Weight != 1 {
		t.Fatalf("scienc read as %+v; all: %+v", s, r.Terms)
	}
	if s := why["sci"]; s.Why != text.WhyTyped {
		t.Fatalf("sci read as %+v", s)
	}
	if _, ok := why["movi"]; ok {
		t.Fatalf("a stop word searched: %+v", r.Terms)
	}
	it := &content.Item{ID: "sf", Title: "Science Fiction Classics"}
	var got []string
	for _, m := range h.Matched(it) {
		got = append(got, m.Term+"/"+m.Why)
	}
	if !slices.Equal(got, []string{"scienc/synonym", "fiction/synonym"}) {
		t.Fatalf("matched %v", got)
	}
	if f := h.Fragments(it); f["title"] != "<mark>Science</mark> <mark>Fiction</mark> Classics" {
		t.Fatalf("fragments %q", f)
	}
}

// ReadQuery reads words as the index does, without a dictionary: the
// vocabulary applies; prefixes and typos, which need one, do not.
func TestReadQuery(t *testing.T) {
	voc, err := text.NewVocabulary(content.Vocabulary{
		Synonyms:  []content.Synonyms{syn("sf", "sci-fi", "science fiction")},
		StopWords: []string{"movie"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    text.Query
		want []string
	}{
		{text.Query{Text: "Running Dragons"}, []string{"run", "dragon"}},
		{text.Query{Text: "the of"}, nil},
		{text.Query{Text: "sci-fi movie", Vocabulary: voc}, []string{"sci", "fi", "scienc", "fiction"}},
		{text.Query{Text: "movie", Vocabulary: voc}, []string{"movi"}}, // stop words alone are the query
		{text.Query{Text: "dragns", Typos: text.DefaultTypos, Prefix: true}, []string{"dragn"}},
	} {
		h, err := text.ReadQuery(c.q)
		if err != nil {
			t.Fatalf("%q: %v", c.q.Text, err)
		}
		var got []string
		for _, term := range h.Reading().Terms {
			got = append(got, term.Term)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q read as %q, want %q", c.q.Text, got, c.want)
		}
	}
	if _, err := text.ReadQuery(text.Query{Text: "a\xffb"}); !errors.Is(err, text.ErrInvalidQuery) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if terms, err := text.Analyze("The Running Dragons"); err != nil || !slices.Equal(terms, []string{"run", "dragon"}) {
		t.Fatalf("Analyze: %q, %v", terms, err)
	}
}
