package content_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

func TestSynonyms_Validate(t *testing.T) {
	many := make([]string, content.MaxSynonymTerms+1)
	for i := range many {
		many[i] = fmt.Sprint("w", i)
	}
	for _, tc := range []struct {
		name  string
		set   content.Synonyms
		field string // "" for valid
	}{
		{"equivalents", content.Synonyms{ID: "a", Terms: []string{"tv", "television"}}, ""},
		{"one-way", content.Synonyms{ID: "a", Root: "laptop", Terms: []string{"notebook"}}, ""},
		{"no id", content.Synonyms{Terms: []string{"tv", "television"}}, "id"},
		{"one equivalent", content.Synonyms{ID: "a", Terms: []string{"tv"}}, "terms"},
		{"one-way to nothing", content.Synonyms{ID: "a", Root: "x"}, "terms"},
		{"blank term", content.Synonyms{ID: "a", Terms: []string{"tv", " "}}, "terms[1]"},
		{"blank root", content.Synonyms{ID: "a", Root: "  ", Terms: []string{"tv"}}, "root"},
		{"long term", content.Synonyms{ID: "a", Terms: []string{"tv", strings.Repeat("x", content.MaxSynonymBytes+1)}}, "terms[1]"},
		{"control character", content.Synonyms{ID: "a", Terms: []string{"tv", "a\x00b"}}, "terms[1]"},
		{"too many", content.Synonyms{ID: "a", Terms: many}, "terms"},
		{"too many with the root", content.Synonyms{ID: "a", Root: "r", Terms: many[:content.MaxSynonymTerms]}, "terms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.set.Validate()
			var ve *content.ValidationError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field):
				t.Fatalf("got %v, want an error on %s", err, tc.field)
			}
		})
	}
}

func TestNormalizeStopWords(t *testing.T) {
	got, err := content.NormalizeStopWords([]string{" Movie", "film", "movie", "FILM"})
	if err != nil || !reflect.DeepEqual(got, []string{"film", "movie"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range [][]string{{""}, {"two words"}, {strings.Repeat("x", content.MaxStopWordLen+1)}, {"a\tb"}} {
		if _, err := content.NormalizeStopWords(bad); !errors.Is(err, content.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	many := make([]string, content.MaxStopWords+1)
	for i := range many {
		many[i] = fmt.Sprint("w", i)
	}
	if _, err := content.NormalizeStopWords(many); !errors.Is(err, content.ErrInvalid) {
		t.Errorf("%d words: %v", len(many), err)
	}
}

func TestStore_Vocabulary(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	v, err := s.Vocabulary(ctx)
	if err != nil || len(v.Synonyms) != 0 || len(v.StopWords) != 0 || v.Seq != 0 {
		t.Fatalf("a new store's vocabulary: %+v, %v", v, err)
	}
	tv := content.Synonyms{ID: "tv", Terms: []string{"tv", "television"}}
	seq, err := s.PutSynonyms(ctx, tv, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A write against a vocabulary that has moved on is refused.
	if _, err := s.PutSynonyms(ctx, content.Synonyms{ID: "x", Terms: []string{"a", "b"}}, 0); !errors.Is(err, content.ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
	// Invalid sets change nothing.
	if _, err := s.PutSynonyms(ctx, content.Synonyms{ID: "x", Terms: []string{"a"}}, seq); !errors.Is(err, content.ErrInvalid) {
		t.Fatalf("invalid set: %v", err)
	}
	lap := content.Synonyms{ID: "laptop", Root: "laptop", Terms: []string{"notebook"}}
	seq2, err := s.PutSynonyms(ctx, lap, seq)
	if err != nil || seq2 <= seq {
		t.Fatalf("seq %d after %d: %v", seq2, seq, err)
	}
	words, seq3, err := s.PutStopWords(ctx, []string{"The", "movie"})
	if err != nil || seq3 <= seq2 || !reflect.DeepEqual(words, []string{"movie", "the"}) {
		t.Fatalf("stop words %q at %d: %v", words, seq3, err)
	}
	if _, _, err := s.PutStopWords(ctx, []string{"two words"}); !errors.Is(err, content.ErrInvalid) {
		t.Fatalf("a bad stop word: %v", err)
	}
	// Events and items share the sequence.
	if st, _ := s.Stats(ctx); st.Seq != seq3 {
		t.Fatalf("store at %d, vocabulary at %d", st.Seq, seq3)
	}
	// Durable across a reopen.
	s.Close()
	s = openStore(t, dir)
	v, err = s.Vocabulary(ctx)
	want := content.Vocabulary{Synonyms: []content.Synonyms{lap, tv}, StopWords: []string{"movie", "the"}, Seq: seq3}
	if err != nil || !reflect.DeepEqual(v, want) {
		t.Fatalf("after reopen: %+v, %v; want %+v", v, err, want)
	}
	if _, err := s.DeleteSynonyms(ctx, "nope"); !errors.Is(err, content.ErrNotFound) {
		t.Fatalf("delete a missing set: %v", err)
	}
	seq4, err := s.DeleteSynonyms(ctx, "tv")
	if err != nil || seq4 <= seq3 {
		t.Fatal(err)
	}
	if v, _ := s.Vocabulary(ctx); len(v.Synonyms) != 1 || v.Synonyms[0].ID != "laptop" || v.Seq != seq4 {
		t.Fatalf("after delete: %+v", v)
	}
}

func TestStore_SynonymSetsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes MaxSynonymSets sets")
	}
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	v := content.Vocabulary{}
	for i := range content.MaxSynonymSets {
		v.Synonyms = append(v.Synonyms, content.Synonyms{ID: fmt.Sprint(i), Terms: []string{fmt.Sprint("a", i), fmt.Sprint("b", i)}})
	}
	if err := content.RestoreVocabulary(ctx, s, v); err != nil {
		t.Fatal(err)
	}
	have, _ := s.Vocabulary(ctx)
	_, err := s.PutSynonyms(ctx, content.Synonyms{ID: "one more", Terms: []string{"x", "y"}}, have.Seq)
	if !errors.Is(err, content.ErrInvalid) {
		t.Fatalf("set %d: %v", content.MaxSynonymSets+1, err)
	}
	// Replacing a set is no new set.
	if _, err := s.PutSynonyms(ctx, content.Synonyms{ID: "7", Terms: []string{"x", "y"}}, have.Seq); err != nil {
		t.Fatal(err)
	}
}
