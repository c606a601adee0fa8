package content

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Limits on the editors' vocabulary. They bound what every query pays to
// read its words with it.
const (
	MaxSynonymSets  = 10_000
	MaxSynonymTerms = 32 // in one set, its root included
	MaxSynonymBytes = MaxLabelBytes
	MaxStopWords    = 1_000
	MaxStopWordLen  = 64 // bytes
)

// Synonyms is one set of words or phrases that search reads alike. With
// Root empty every term stands for every other ("sci-fi", "science
// fiction"); with Root set the rule is one-way: a query holding Root also
// searches for Terms, and not the other way round ("laptop" → "notebook").
type Synonyms struct {
	ID    string   `json:"id"`
	Root  string   `json:"root,omitempty"`
	Terms []string `json:"terms"`
}

// Validate reports the first thing wrong with the set's shape, as a
// *ValidationError. Whether its terms mean anything to search (loops,
// terms search reads alike) is for the text index to say.
func (s *Synonyms) Validate() error {
	if err := checkText("id", s.ID, MaxLabelBytes, false); err != nil {
		return err
	}
	if s.ID == "" {
		return invalid("id", "is empty")
	}
	n := len(s.Terms)
	if s.Root != "" {
		n++
		if err := checkTerm("root", s.Root); err != nil {
			return err
		}
	}
	switch {
	case s.Root == "" && len(s.Terms) < 2:
		return invalid("terms", "has %d entries; a set of equivalents needs 2 or more", len(s.Terms))
	case len(s.Terms) < 1:
		return invalid("terms", "is empty; a one-way rule needs 1 or more")
	case n > MaxSynonymTerms:
		return invalid("terms", "has %d entries with the root, more than %d", n, MaxSynonymTerms)
	}
	for i, t := range s.Terms {
		if err := checkTerm(fmt.Sprintf("terms[%d]", i), t); err != nil {
			return err
		}
	}
	return nil
}

func checkTerm(field, t string) error {
	if strings.TrimSpace(t) == "" {
		return invalid(field, "is blank")
	}
	return checkText(field, t, MaxSynonymBytes, false)
}

// Vocabulary is what editors tell search about words: sets of synonyms,
// and stop words that queries ignore.
type Vocabulary struct {
	Synonyms  []Synonyms `json:"synonyms"`   // by id
	StopWords []string   `json:"stop_words"` // lowercased, sorted
	// Seq is the sequence number of the vocabulary's last change, 0 for
	// never: a reader that has it need not read again until it moves.
	Seq uint64 `json:"seq"`
}

// NormalizeStopWords returns words lowercased, trimmed, sorted and without
// repeats, or a *ValidationError: a stop word is one word (no spaces) of
// at most MaxStopWordLen bytes, and there are at most MaxStopWords.
func NormalizeStopWords(words []string) ([]string, error) {
	out := make([]string, 0, len(words))
	for i, w := range words {
		f := fmt.Sprintf("stop_words[%d]", i)
		w = strings.ToLower(strings.TrimSpace(w))
		if w == "" {
			return nil, invalid(f, "is blank")
		}
		if err := checkText(f, w, MaxStopWordLen, false); err != nil {
			return nil, err
		}
		if strings.IndexFunc(w, unicode.IsSpace) >= 0 {
			return nil, invalid(f, "%q is more than one word", w)
		}
		out = append(out, w)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxStopWords {
		return nil, invalid("stop_words", "has %d words, more than %d", len(out), MaxStopWords)
	}
	return out, nil
}

// Vocabulary returns the editors' vocabulary as it is now.
func (s *Store) Vocabulary(ctx context.Context) (Vocabulary, error) {
	if err := ctx.Err(); err != nil {
		return Vocabulary{}, err
	}
	v, err := s.e.vocabulary(ctx)
	if err != nil {
		return Vocabulary{}, fmt.Errorf("vocabulary: %w", unavailable(err))
	}
	return v, nil
}

// PutSynonyms stores a synonym set, creating or replacing the one with its
// id, provided the vocabulary is still at sequence number base (ErrConflict
// otherwise: read it again, check again). A caller checks the vocabulary
// the set makes before the write, and base makes sure that is the
// vocabulary written. It returns the write's sequence number; its other
// errors are PutItem's, and ErrInvalid beyond MaxSynonymSets sets.
func (s *Store) PutSynonyms(ctx context.Context, set Synonyms, base uint64) (uint64, error) {
	if err := set.Validate(); err != nil {
		return 0, fmt.Errorf("synonyms %q: %w", clip(set.ID), err)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := s.e.putSynonyms(ctx, set, base)
	if err != nil {
		return 0, fmt.Errorf("put synonyms %q: %w", clip(set.ID), err)
	}
	return seq, nil
}

func tooManySets() error {
	return invalid("synonyms", "the vocabulary holds %d sets already, the most it takes", MaxSynonymSets)
}

// DeleteSynonyms removes a synonym set and returns the write's sequence
// number, or ErrNotFound. Removing a set leaves every rule valid, so it
// needs no base.
func (s *Store) DeleteSynonyms(ctx context.Context, id string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := s.e.deleteSynonyms(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("delete synonyms %q: %w", clip(id), err)
	}
	return seq, nil
}

// PutStopWords replaces the stop words with words (NormalizeStopWords
// says what it accepts) and returns them as stored with the write's
// sequence number. Its errors are PutItem's.
func (s *Store) PutStopWords(ctx context.Context, words []string) ([]string, uint64, error) {
	words, err := NormalizeStopWords(words)
	if err != nil {
		return nil, 0, fmt.Errorf("put stop words: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	seq, err := s.e.putStopWords(ctx, words)
	if err != nil {
		return nil, 0, fmt.Errorf("put stop words: %w", err)
	}
	return words, seq, nil
}

// checkVocabulary checks a dump's vocabulary: each set's shape, ids
// once, and the stop words, which it normalises in place.
func checkVocabulary(v *Vocabulary) error {
	if len(v.Synonyms) > MaxSynonymSets {
		return invalid("synonyms", "has %d sets, more than %d", len(v.Synonyms), MaxSynonymSets)
	}
	ids := make(map[string]bool, len(v.Synonyms))
	for i := range v.Synonyms {
		set := &v.Synonyms[i]
		if err := set.Validate(); err != nil {
			return fmt.Errorf("synonyms %q: %w", clip(set.ID), err)
		}
		if ids[set.ID] {
			return invalid("synonyms", "set %q is there twice", clip(set.ID))
		}
		ids[set.ID] = true
	}
	stop, err := NormalizeStopWords(v.StopWords)
	v.StopWords = stop
	return err
}

// restoreVocabulary writes a checked vocabulary (checkVocabulary) into a
// store whose vocabulary is empty.
func (s *Store) restoreVocabulary(ctx context.Context, v Vocabulary) error {
	if len(v.Synonyms) == 0 && len(v.StopWords) == 0 {
		return nil
	}
	return s.e.restoreVocabulary(ctx, v)
}
