package text

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/index/scorch"
	bsearcher "github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// Typos says which query words may match terms a few edits away when the
// word itself is in none of the matched fields: words of One or more
// letters one edit (an insertion, deletion or substitution), of Two or
// more two. A zero field allows none of its kind.
type Typos struct {
	One, Two int
}

// Validate reports what is wrong with the thresholds, as an error
// matching ErrInvalidQuery.
func (t Typos) Validate() error {
	switch {
	case t.One < 0 || t.One > MaxTypoWordLen || t.Two < 0 || t.Two > MaxTypoWordLen:
		return fmt.Errorf("%w: typo word lengths are %d and %d, want 0 (none) to %d", ErrInvalidQuery, t.One, t.Two, MaxTypoWordLen)
	case t.One > 0 && t.Two > 0 && t.Two < t.One:
		return fmt.Errorf("%w: two typos from %d letters, fewer than one typo's %d", ErrInvalidQuery, t.Two, t.One)
	}
	return nil
}

// DefaultTypos is Meilisearch's rule: one typo from five letters, two from
// nine.
var DefaultTypos = Typos{One: 5, Two: 9}

// MaxTypoWordLen bounds Typos' thresholds: longer words are rare enough
// that a threshold beyond it means "never".
const MaxTypoWordLen = 64

// Weights of the terms a word expands to, against 1 for the word's own
// term: an item holding the words typed ranks above one holding what they
// were corrected or completed to, at equal BM25.
const (
	correctedWeight = 0.5 // per edit: 0.5 for one, 0.25 for two
	completedWeight = 0.5
	completionSkew  = 2.0
	// minCompletionWeight drops the completions far rarer than the
	// commonest (under a third as common): a one-letter prefix begins
	// thousands of words, and merging ten long posting lists for terms
	// that barely move the ranking is most of such a request's time.
	minCompletionWeight = completedWeight / 10
)

// Bounds on a word's expansions, the commonest kept: each is one more
// posting list to merge.
const (
	maxCorrections = 3
	maxCompletions = 10
)

// Why a query searched for a term (Term.Why).
const (
	WhyTyped     = "typed"   // a word as typed
	WhyCorrected = "typo"    // a word a few edits from one typed
	WhyCompleted = "prefix"  // a word the last one typed begins
	WhySynonym   = "synonym" // a synonym of words typed
)

// queryTerm is one term a query matches, with the weight its postings
// score at, and where it came from.
type queryTerm struct {
	term   string
	weight float64
	from   string // the words typed it stands for
	why    string
	set    string // the synonym set, for WhySynonym
}

// expandable reports whether q asks for expansions at all.
func (q *Query) expandable() bool {
	return q.Prefix || q.Typos.One > 0 || q.Typos.Two > 0 || q.Vocabulary.active()
}

// expansion is what a query's text matches: its terms, for each word the
// one term that best stands for it, and the words dropped as stop words.
type expansion struct {
	terms   []queryTerm
	best    []string
	ignored []string
}

// queryTerms returns the terms free text matches: each analysed word's own
// term at weight 1; for a word that is in none of the matched fields and
// long enough for q.Typos, the commonest terms at the fewest edits from it
// instead; with q.Prefix, for the last word typed (text not ending in a
// space or punctuation), the commonest terms it begins; and with
// q.Vocabulary, without the words that are its stop words (unless they are
// all the text has), and with the terms of the synonyms of its phrases. A
// word is best stood for by its own term when an item holds it (or it is
// a synonym), else by its commonest correction or completion. Blank text
// has no terms, and terms are not expanded unless q asks for it.
func (t *Index) queryTerms(ctx context.Context, d dictionary, q *Query) (expansion, error) {
	tokens := t.en.Analyze([]byte(q.Text))
	x := expansion{terms: make([]queryTerm, 0, len(tokens)), best: make([]string, 0, len(tokens))}
	words := func(i, j int) string { return q.Text[tokens[i].Start:tokens[j-1].End] }
	if !q.expandable() {
		for i, tok := range tokens {
			x.terms = append(x.terms, queryTerm{term: string(tok.Term), weight: 1, from: words(i, i+1), why: WhyTyped})
			x.best = append(x.best, string(tok.Term))
		}
		return x, nil
	}
	terms := make([]string, len(tokens))
	ignored := make([]bool, len(tokens))
	kept := 0
	for i, tok := range tokens {
		terms[i] = string(tok.Term)
		if ignored[i] = q.Vocabulary.isStop(words(i, i+1)); !ignored[i] {
			kept++
		}
	}
	if kept == 0 {
		clear(ignored) // stop words alone are the query
		kept = len(tokens)
	}
	have := make(map[string]bool, len(tokens))
	for _, term := range terms {
		have[term] = true
	}
	covered := make([]bool, len(tokens))
	synonyms := q.Vocabulary.synonyms(terms, words, ignored, have, covered)
	// Expansions stay within the terms Bleve sums in order (see matchIn),
	// so that a typed query's scores stay Bleve's to the bit and a few
	// words do not become dozens of guesses: room is how many more than
	// the words' own there may be. Synonyms are not counted: an editor's
	// word is not dropped for a guess's.
	room := bsearcher.DisjunctionHeapTakeover - kept
	lastStart, lastEnd := -1, len(q.Text) // the last word's bytes; -1: finished
	if head, word := LastWord(q.Text); word != "" {
		lastStart = len(head)
	}
	for i, tok := range tokens {
		word := words(i, i+1)
		if ignored[i] {
			x.ignored = append(x.ignored, word)
			continue
		}
		term := terms[i]
		found := true // without a dictionary, every word is taken as found
		if d != nil {
			var err error
			if found, err = d.holds(ctx, term); err != nil {
				return expansion{}, err
			}
		}
		found = found || covered[i]
		var comps []queryTerm
		if d != nil && q.Prefix && i == len(tokens)-1 && tok.End == lastEnd {
			var err error
			var isWord bool
			comps, isWord, err = t.completions(d, strings.ToLower(word), min(maxCompletions, room+1))
			if err != nil {
				return expansion{}, err
			}
			// Part of a word: its stem is no word of its own ("comed"
			// stems to "come").
			found = found && isWord
			lastStart = -1
		}
		best := ""
		if found {
			best = term
		}
		edits := 0
		if n := utf8.RuneCountInString(word); !found && len(comps) == 0 {
			switch {
			case q.Typos.Two > 0 && n >= q.Typos.Two:
				edits = 2
			case q.Typos.One > 0 && n >= q.Typos.One:
				edits = 1
			}
		}
		if d != nil && edits > 0 {
			for dist := 1; dist <= edits && best == ""; dist++ {
				near, _, err := dictTerms(func(field string) (bindex.FieldDict, error) {
					return d.near(field, term, dist)
				}, term, min(maxCorrections, room+1))
				if err != nil {
					return expansion{}, err
				}
				w := correctedWeight
				if dist == 2 {
					w *= correctedWeight
				}
				for _, c := range near {
					if !have[c] {
						have[c] = true
						x.terms = append(x.terms, queryTerm{term: c, weight: w, from: word, why: WhyCorrected})
						if best != "" {
							room--
						} else {
							best = c
						}
					}
				}
			}
		}
		if found || best == "" && len(comps) == 0 {
			x.terms = append(x.terms, queryTerm{term: term, weight: 1, from: word, why: WhyTyped})
		} else if len(comps) > 0 {
			room++ // the word's own term makes way
		}
		x.terms, room, _ = addCompletions(x.terms, comps, have, room)
		if best == "" && len(comps) > 0 {
			best = comps[0].term
		}
		if best == "" {
			best = term // nothing better: the word as typed
		}
		x.best = append(x.best, best)
	}
	// A last word the analyzer dropped (a stop word, "the" on the way to
	// "theory"), or that is one of the vocabulary's, is still a beginning.
	if d != nil && q.Prefix && lastStart >= 0 {
		comps, _, err := t.completions(d, strings.ToLower(q.Text[lastStart:lastEnd]), min(maxCompletions, room))
		if err != nil {
			return expansion{}, err
		}
		var first string
		x.terms, _, first = addCompletions(x.terms, comps, have, room)
		if first != "" {
			x.best = append(x.best, first)
		}
	}
	x.terms = append(x.terms, synonyms...)
	return x, nil
}

// addCompletions appends the completions terms lacks, as room allows, and
// returns the room left and the first it appended.
func addCompletions(terms, comps []queryTerm, have map[string]bool, room int) ([]queryTerm, int, string) {
	first := ""
	for _, c := range comps {
		if room < 1 {
			break
		}
		if !have[c.term] {
			have[c.term] = true
			terms = append(terms, c)
			room--
			if first == "" {
				first = c.term
			}
		}
	}
	return terms, room, first
}

// completions returns the terms of the top commonest words beginning with
// prefix, weighted by how common each is beside the commonest
// (completedWeight at the top, less below), and whether prefix is itself a
// word of the catalogue. The words field gives whole words, whose stems are
// the terms; an index written before it gives the stems beginning with
// prefix, and prefix counts as a word.
func (t *Index) completions(d dictionary, prefix string, top int) ([]queryTerm, bool, error) {
	if prefix == "" || top < 1 {
		return nil, false, nil
	}
	words, counts, err := dictTerms(func(string) (bindex.FieldDict, error) {
		return d.prefixed(fieldWords, prefix)
	}, "", 3*top, fieldWords)
	if err != nil {
		return nil, false, err
	}
	isWord := counts[prefix] > 0
	stems := map[string]uint64{}
	var order []string
	if len(counts) == 0 {
		// No words field, or no word begins so: the stems that do.
		isWord = true
		order, stems, err = dictTerms(func(field string) (bindex.FieldDict, error) {
			return d.prefixed(field, prefix)
		}, "", top)
		if err != nil {
			return nil, false, err
		}
	} else {
		for _, w := range words {
			toks := t.en.Analyze([]byte(w))
			if len(toks) != 1 { // a stop word, or a word the analyzer splits
				continue
			}
			stem := string(toks[0].Term)
			if stems[stem] == 0 {
				order = append(order, stem)
			}
			stems[stem] += counts[w]
		}
		slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(stems[b], stems[a]) })
		order = order[:min(top, len(order))]
	}
	out := make([]queryTerm, 0, len(order))
	for _, stem := range order {
		w := completedWeight * math.Pow(float64(stems[stem])/float64(stems[order[0]]), completionSkew)
		if w < minCompletionWeight {
			break // its postings would cost more than its weight moves
		}
		out = append(out, queryTerm{term: stem, weight: w, from: prefix, why: WhyCompleted})
	}
	return out, isWord, nil
}

// Interpret returns q's text as the index reads it, one term per word:
// the word's own term when an item holds it, else (with q.Typos and
// q.Prefix) the commonest term it was corrected or completed to; words
// are analysed (lowercased, stemmed, stop words dropped). It is what the
// keyword side found in the words, for a side that can take one reading
// only, such as an embedding of the query.
func (t *Index) Interpret(ctx context.Context, q Query) (string, error) {
	x, err := t.expand(ctx, q)
	if err != nil {
		return "", fmt.Errorf("text interpret: %w", err)
	}
	return strings.Join(x.best, " "), nil
}

// expand is queryTerms on the index as it is now, for q's text alone (K
// and paging aside). Its errors are Search's.
func (t *Index) expand(ctx context.Context, q Query) (expansion, error) {
	if q.K == 0 {
		q.K = 1
	}
	if err := q.Validate(); err != nil {
		return expansion{}, err
	}
	var x expansion
	err := t.read(func(r bindex.IndexReader) (err error) {
		x, err = t.queryTerms(ctx, readerDict{r}, &q)
		return err
	})
	return x, err
}

// read calls fn with a reader of the index as it is now, ErrClosed after
// Close.
func (t *Index) read(fn func(r bindex.IndexReader) error) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return ErrClosed
	}
	r, err := t.reader()
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}

// LastWord splits s before its last word: head and word, word empty when
// s ends in a space or punctuation (a finished word).
func LastWord(s string) (head, word string) {
	start := len(s)
	for start > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:start])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		start -= size
	}
	return s[:start], s[start:]
}

// dictionary is what queryTerms reads of the terms items hold: an index
// reader's (readerDict), or Stats'.
type dictionary interface {
	// holds reports whether an item holds term in a matched field.
	holds(ctx context.Context, term string) (bool, error)
	// prefixed lists field's terms beginning with prefix, and near those
	// within edits of term (none where fuzzy matching is not available),
	// each with the number of items holding it.
	prefixed(field, prefix string) (bindex.FieldDict, error)
	near(field, term string, edits int) (bindex.FieldDict, error)
}

// readerDict is the dictionary of an index as a reader sees it.
type readerDict struct{ r bindex.IndexReader }

func (d readerDict) holds(ctx context.Context, term string) (bool, error) {
	for _, f := range matchFields {
		tfr, err := d.r.TermFieldReader(ctx, []byte(term), f.name, false, false, false)
		if err != nil {
			return false, err
		}
		n := tfr.Count()
		tfr.Close()
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

func (d readerDict) prefixed(field, prefix string) (bindex.FieldDict, error) {
	return d.r.FieldDictPrefix(field, []byte(prefix))
}

// near lists the terms with the items holding each: Bleve's fuzzy
// dictionaries leave the counts out (0), which would rank corrections
// alphabetically rather than commonest first.
func (d readerDict) near(field, term string, edits int) (bindex.FieldDict, error) {
	fuzzy, ok := d.r.(bindex.IndexReaderFuzzy)
	if !ok {
		return &entries{}, nil
	}
	fd, err := fuzzy.FieldDictFuzzy(field, term, edits, "")
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	var out entries
	for {
		e, err := fd.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return &out, nil
		}
		tfr, err := d.r.TermFieldReader(context.Background(), []byte(e.Term), field, false, false, false)
		if err != nil {
			return nil, err
		}
		out = append(out, bindex.DictEntry{Term: e.Term, Count: tfr.Count()})
		tfr.Close()
	}
}

// entries is a dictionary's listing held in memory.
type entries []bindex.DictEntry

func (e *entries) Next() (*bindex.DictEntry, error) {
	if len(*e) == 0 {
		return nil, nil
	}
	d := &(*e)[0]
	*e = (*e)[1:]
	return d, nil
}

func (e *entries) Close() error      { return nil }
func (e *entries) Cardinality() int  { return len(*e) }
func (e *entries) BytesRead() uint64 { return 0 }

// dictTerms returns the top terms, by their count summed over the fields
// (default the matched ones), of the dictionaries open gives for each
// field, skip aside, and every term's count.
func dictTerms(open func(field string) (bindex.FieldDict, error), skip string, top int, fields ...string) ([]string, map[string]uint64, error) {
	if top < 1 {
		return nil, nil, nil
	}
	if fields == nil {
		for _, f := range matchFields {
			fields = append(fields, f.name)
		}
	}
	counts := map[string]uint64{}
	for _, f := range fields {
		d, err := open(f)
		if err != nil {
			return nil, nil, err
		}
		for {
			e, err := d.Next()
			if err != nil {
				d.Close()
				return nil, nil, err
			}
			if e == nil {
				break
			}
			if e.Term != skip {
				counts[e.Term] += e.Count
			}
		}
		if err := d.Close(); err != nil {
			return nil, nil, err
		}
	}
	out := make([]string, 0, len(counts))
	for term := range counts {
		out = append(out, term)
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := cmp.Compare(counts[b], counts[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out[:min(top, len(out))], counts, nil
}

// Complete returns up to k of the catalogue's words that begin with
// prefix (lowercased), the commonest first (by the items holding them),
// the prefix itself among them when it is a word. An index written
// before the words field completes nothing.
func (t *Index) Complete(ctx context.Context, prefix string, k int) ([]string, error) {
	prefix, ok, err := completable(prefix, k)
	if !ok || err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var words []string
	err = t.read(func(r bindex.IndexReader) (err error) {
		words, _, err = dictTerms(func(string) (bindex.FieldDict, error) {
			return r.FieldDictPrefix(fieldWords, []byte(prefix))
		}, "", k, fieldWords)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("text complete: %w", err)
	}
	return words, nil
}

// completable returns prefix as Complete looks words up by it, lowercased
// and trimmed, and whether there is anything to look up.
func completable(prefix string, k int) (string, bool, error) {
	if len(prefix) > MaxQueryBytes || !utf8.ValidString(prefix) {
		return "", false, fmt.Errorf("%w: a prefix of %d bytes or not UTF-8", ErrInvalidQuery, len(prefix))
	}
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	return prefix, prefix != "" && k >= 1, nil
}

// Unfinished returns the items holding a word that the last word of q's
// text begins while that word is still being typed: with q.Prefix, text
// ending in the word (no space or punctuation after it), and a last word
// that is no word of the index's dictionary itself ("comed", not "come").
// ok is false otherwise; when no item holds a word it begins; when the
// words it begins are counted in more than limit items (their dictionary
// counts summed, deleted items included: a bound on the items; so many
// would hardly narrow anything, and listing them costs); and for an index
// written before the words field. The ids come in the index's document
// order.
//
// A list that cannot read part of a word (an embedding's: "ei" is no
// word) is narrowed to these items: every completion is in them, where
// the keyword side searches the commonest few.
func (t *Index) Unfinished(ctx context.Context, q Query, limit int) (ids []string, ok bool, err error) {
	word, typing, err := typedWord(t.words, &q, limit)
	if !typing || err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	err = t.read(func(r bindex.IndexReader) error {
		snap, isScorch := r.(*scorch.IndexSnapshot)
		if !isScorch {
			return nil
		}
		terms, err := beginning(r, word, limit)
		if err != nil || len(terms) == 0 {
			return err
		}
		segs := snap.Segments()
		var docs []matchHit
		var held roaring.Bitmap
		for si, ss := range segs {
			held.Clear()
			for _, term := range terms {
				l, err := t.segPostings(ctx, ss, fieldWords, []byte(term))
				if err != nil {
					return notScorch(err)
				}
				held.AddMany(l.docs)
			}
			if del := ss.Deleted(); del != nil {
				held.AndNot(del)
			}
			for it := held.Iterator(); it.HasNext(); {
				docs = append(docs, matchHit{Key: uint64(si)<<32 | uint64(it.Next())})
			}
		}
		if len(docs) == 0 {
			return nil // the words' items are deleted: nothing to draw from
		}
		ids = make([]string, len(docs))
		if err := t.cache.externalIDs(segs, docs, ids); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("text unfinished: %w", err)
	}
	return ids, ok, nil
}

// beginning returns the words of the words field that word begins, or
// none when word is one of them or when more than limit items may hold
// them.
func beginning(r bindex.IndexReader, word string, limit int) ([]string, error) {
	d, err := r.FieldDictPrefix(fieldWords, []byte(word))
	if err != nil {
		return nil, err
	}
	return beginningIn(d, word, limit)
}

// typedWord returns the last word of q's text as the words field cuts and
// lowercases it ("l'amo", not "amo"; a final sigma as the index holds
// it), when the text ends in it and q asks for prefixes within a limit
// of at least 1. Text too long or not UTF-8 is an error.
func typedWord(words analysis.Analyzer, q *Query, limit int) (string, bool, error) {
	if len(q.Text) > MaxQueryBytes || !utf8.ValidString(q.Text) {
		return "", false, fmt.Errorf("%w: text of %d bytes or not UTF-8", ErrInvalidQuery, len(q.Text))
	}
	if !q.Prefix || limit < 1 {
		return "", false, nil
	}
	toks := words.Analyze([]byte(q.Text))
	if len(toks) == 0 || toks[len(toks)-1].End != len(q.Text) {
		return "", false, nil
	}
	return string(toks[len(toks)-1].Term), true, nil
}

// beginningIn is beginning over d, the words field's entries beginning
// with word, which it closes.
func beginningIn(d bindex.FieldDict, word string, limit int) ([]string, error) {
	defer d.Close()
	var terms []string
	var held uint64
	for {
		e, err := d.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return terms, nil
		}
		if held += e.Count; e.Term == word || held > uint64(limit) {
			return nil, nil
		}
		terms = append(terms, e.Term)
	}
}
