package text

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	bindex "github.com/blevesearch/bleve_index_api"

	"github.com/duetrec/duet/content"
)

// An index that cannot score free text as this one does — a remote one,
// whose BM25 is the textbook formula — finds candidates its own way and
// has them scored with Stats. Bleve's BM25 is not the textbook's: it
// weighs a term by its idf twice (once in the query's weight, with a query
// norm), takes the square root of a term's frequency, takes a field's
// "average length" to be the number of distinct terms in the field over
// the number of documents (rounded up: 1 in any catalogue whose
// vocabulary is smaller than it, so that every word of a long field costs
// its weight), and multiplies a field's sum by the share of the query's
// terms it matched and the whole by the share of fields that matched.
// Together these rank an item holding a rare word of the query far above
// items holding only its common ones.

// Fields are an item's text as the index analyses it: the terms of its
// title, description and labels (tags, then categories), in order, and
// its words (lowercased, not stemmed: what completions begin), which a
// remote index need not hold.
type Fields struct {
	Title, Description, Labels []string
	Words                      []string
}

// byField returns f's terms in the order of matchFields.
func (f *Fields) byField() [len(matchFields)][]string {
	return [...][]string{f.Title, f.Description, f.Labels}
}

// AnalyzeItem returns the terms the index makes of an item's text.
func AnalyzeItem(it *content.Item) (Fields, error) {
	var f Fields
	var err error
	if f.Title, err = Analyze(it.Title); err != nil {
		return Fields{}, err
	}
	if f.Description, err = Analyze(it.Description); err != nil {
		return Fields{}, err
	}
	for _, l := range [][]string{it.Tags, it.Categories} {
		for _, s := range l {
			terms, err := Analyze(s)
			if err != nil {
				return Fields{}, err
			}
			f.Labels = append(f.Labels, terms...)
		}
	}
	words := wordsAnalyzer()
	for _, s := range slices.Concat([]string{it.Title, it.Description}, it.Tags, it.Categories) {
		for _, tok := range words.Analyze([]byte(s)) {
			f.Words = append(f.Words, string(tok.Term))
		}
	}
	return f, nil
}

// Stats are the statistics Search scores free text with, kept over a set
// of items apart from any index: how many items there are, and how many
// hold each term in each field matched, and each word. Scores computed
// from them are those an index of the same items in one segment gives,
// and they are the dictionary that corrects typos and completes words as
// the index's does. Stats are safe for concurrent use.
type Stats struct {
	mu    sync.RWMutex
	items int64
	terms [len(matchFields)]map[string]uint32 // items holding the term
	words map[string]uint32                   // items holding the word
	// sorted holds the words in order, for the prefix lookups every
	// search while a word is typed makes, and added those added since,
	// until they are many enough to sort again; a word whose count fell
	// to 0 stays in either until then (its count says it is gone).
	sorted, added []string
}

// NewStats returns the statistics of no items.
func NewStats() *Stats {
	s := &Stats{words: map[string]uint32{}}
	for i := range s.terms {
		s.terms[i] = map[string]uint32{}
	}
	return s
}

// Items returns how many items the statistics count.
func (s *Stats) Items() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int(s.items)
}

// Add counts an item with fields f.
func (s *Stats) Add(f *Fields) { s.count(f, 1) }

// Remove uncounts an item with fields f, which Add counted.
func (s *Stats) Remove(f *Fields) { s.count(f, -1) }

func (s *Stats) count(f *Fields, d int) {
	fields := f.byField()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items += int64(d)
	for i, terms := range fields {
		countIn(s.terms[i], terms, d)
	}
	if s.added = append(s.added, countIn(s.words, f.Words, d)...); len(s.added) > max(1024, len(s.sorted)/8) {
		s.sortWords()
	}
}

// sortWords sorts the words afresh.
func (s *Stats) sortWords() {
	s.sorted, s.added = slices.Sorted(maps.Keys(s.words)), nil
}

// countIn adds d to the count of each distinct term of terms in m,
// dropping those that reach 0, and returns the terms m did not hold.
func countIn(m map[string]uint32, terms []string, d int) (added []string) {
	seen := make(map[string]bool, len(terms))
	for _, t := range terms {
		if seen[t] {
			continue // an item counts once per term
		}
		seen[t] = true
		n, had := m[t]
		switch next := int64(n) + int64(d); {
		case next <= 0:
			delete(m, t)
		default:
			m[t] = uint32(next)
			if !had {
				added = append(added, t)
			}
		}
	}
	return added
}

// Replace counts item it in place of old: either may be nil (an item
// added, or deleted).
func (s *Stats) Replace(old, it *content.Item) error {
	var of, nf Fields
	var err error
	if old != nil {
		if of, err = AnalyzeItem(old); err != nil {
			return err
		}
	}
	if it != nil {
		if nf, err = AnalyzeItem(it); err != nil {
			return err
		}
	}
	if old != nil {
		s.Remove(&of)
	}
	if it != nil {
		s.Add(&nf)
	}
	return nil
}

// statsMagic begins the encoding of Stats.
const statsMagic = "DUETTS2\n"

// sections returns the maps WriteTo writes, in order, with their names.
func (s *Stats) sections() ([]map[string]uint32, []string) {
	maps := make([]map[string]uint32, 0, len(s.terms)+1)
	names := make([]string, 0, len(s.terms)+1)
	for i, m := range s.terms {
		maps, names = append(maps, m), append(names, matchFields[i].name)
	}
	return append(maps, s.words), append(names, fieldWords)
}

// WriteTo writes the statistics in the form ReadStats reads: the item
// count, then each matched field's terms and then the words, each list
// sorted, with their counts.
func (s *Stats) WriteTo(w io.Writer) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	bw := bufio.NewWriter(w)
	n, _ := bw.WriteString(statsMagic)
	var buf [binary.MaxVarintLen64]byte
	uv := func(x uint64) {
		k, _ := bw.Write(buf[:binary.PutUvarint(buf[:], x)])
		n += k
	}
	uv(uint64(s.items))
	lists, _ := s.sections()
	for _, m := range lists {
		terms := slices.Sorted(maps.Keys(m))
		uv(uint64(len(terms)))
		for _, t := range terms {
			uv(uint64(len(t)))
			k, _ := bw.WriteString(t)
			n += k
			uv(uint64(m[t]))
		}
	}
	return int64(n), bw.Flush()
}

// maxTermBytes bounds a term ReadStats accepts; Bleve's analyser keeps
// none longer.
const maxTermBytes = 1 << 16

// ReadStats reads statistics WriteTo wrote. Damaged input is an error
// matching ErrBadStats.
func ReadStats(r io.Reader) (*Stats, error) {
	br := bufio.NewReader(r)
	bad := func(format string, args ...any) (*Stats, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadStats, fmt.Sprintf(format, args...))
	}
	head := make([]byte, len(statsMagic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != statsMagic {
		return bad("not text statistics")
	}
	s := NewStats()
	items, err := binary.ReadUvarint(br)
	if err != nil || items > math.MaxInt32 {
		return bad("item count")
	}
	s.items = int64(items)
	lists, names := s.sections()
	for i, m := range lists {
		n, err := binary.ReadUvarint(br)
		if err != nil || n > items*maxTermBytes {
			return bad("%s: term count", names[i])
		}
		prev := ""
		for range n {
			l, err := binary.ReadUvarint(br)
			if err != nil || l == 0 || l > maxTermBytes {
				return bad("%s: term length", names[i])
			}
			b := make([]byte, l)
			if _, err := io.ReadFull(br, b); err != nil {
				return bad("%s: term", names[i])
			}
			c, err := binary.ReadUvarint(br)
			t := string(b)
			if err != nil || c == 0 || c > items || t <= prev {
				return bad("%s: term %q", names[i], textClip(t))
			}
			m[t] = uint32(c)
			prev = t
		}
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return bad("trailing bytes")
	}
	s.sortWords()
	return s, nil
}

// A Scorer scores items for one query's free text as Search would over
// the items its Stats count. It is safe for concurrent use.
type Scorer struct {
	terms  []string // as Search matches them, repeats kept
	weight [len(matchFields)][]float64
	idf    [len(matchFields)][]float64
	avgLen [len(matchFields)]float64
}

// Scorer reads q's text as ReadQuery does (no corrections or completions)
// and returns its scorer. Its errors are Search's.
func (s *Stats) Scorer(q Query) (*Scorer, error) {
	_, x, err := s.read(q)
	if err != nil {
		return nil, err
	}
	sc := &Scorer{terms: make([]string, len(x.terms))}
	for i, qt := range x.terms {
		sc.terms[i] = qt.term
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.items == 0 {
		return sc, nil
	}
	// As matchIn: the query norm is over every term searcher's
	// boost·idf.
	var sumSq float64
	for f, mf := range matchFields {
		sc.avgLen[f] = math.Ceil(float64(len(s.terms[f])) / float64(s.items))
		sc.idf[f] = make([]float64, len(x.terms))
		sc.weight[f] = make([]float64, len(x.terms))
		for i, qt := range x.terms {
			idf := termIDF(sc.avgLen[f], uint64(s.items), uint64(s.terms[f][qt.term]))
			sc.idf[f][i] = idf
			sc.weight[f][i] = mf.boost * qt.weight * idf
			sumSq += sc.weight[f][i] * sc.weight[f][i]
		}
	}
	norm := 1 / math.Sqrt(sumSq)
	for f := range sc.weight {
		for i := range sc.weight[f] {
			sc.weight[f][i] *= norm
		}
	}
	return sc, nil
}

// Terms returns the distinct terms the query matches, in its order: what
// a remote index is asked for.
func (sc *Scorer) Terms() []string {
	var out []string
	for _, t := range sc.terms {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Score returns the score of an item with fields f; 0 when it holds none
// of the query's terms.
func (sc *Scorer) Score(f *Fields) float64 {
	nt := len(sc.terms)
	if nt == 0 || sc.weight[0] == nil {
		return 0
	}
	var sum float64
	matched := 0
	for fi, terms := range f.byField() {
		if len(terms) == 0 {
			continue
		}
		norm := float64(float32(1 / math.Sqrt(float64(len(terms))))) // as the index encodes it
		var fieldSum float64
		hit := 0
		for i, t := range sc.terms {
			freq := 0
			for _, u := range terms {
				if u == t {
					freq++
				}
			}
			if freq == 0 {
				continue
			}
			fieldSum += postingScore(uint64(freq), norm, sc.idf[fi][i], sc.avgLen[fi]) * sc.weight[fi][i]
			hit++
		}
		if hit > 0 {
			sum += fieldSum * (float64(hit) / float64(nt))
			matched++
		}
	}
	return sum * (float64(matched) / float64(len(matchFields)))
}

// read reads q's terms as Search does, Stats as the dictionary that
// corrects and completes words.
func (s *Stats) read(q Query) (analysis.Analyzer, expansion, error) {
	return readQuery(q, statsDict{s})
}

// Highlighter returns the highlighter of q's words as Scorer reads them,
// corrections and completions included. Its errors are Search's.
func (s *Stats) Highlighter(q Query) (*Highlighter, error) {
	en, x, err := s.read(q)
	if err != nil {
		return nil, err
	}
	return newHighlighter(en, x), nil
}

// Interpret returns q's text read one term per word, as Index.Interpret
// reads it over the same items.
func (s *Stats) Interpret(q Query) (string, error) {
	_, x, err := s.read(q)
	if err != nil {
		return "", err
	}
	return strings.Join(x.best, " "), nil
}

// Complete returns up to k of the items' words beginning with prefix, as
// Index.Complete does over the same items.
func (s *Stats) Complete(prefix string, k int) ([]string, error) {
	prefix, ok, err := completable(prefix, k)
	if !ok || err != nil {
		return nil, err
	}
	words, _, err := dictTerms(func(string) (bindex.FieldDict, error) {
		return statsDict{s}.prefixed(fieldWords, prefix)
	}, "", k, fieldWords)
	return words, err
}

// Beginning returns the items' words that the last word of q's text
// begins while it is being typed, as Index.Unfinished reads them: none
// when q does not ask for prefixes, when the text does not end in a word,
// when that word is itself one of the items' words, or when the words are
// held by more than limit items (their counts summed). An index that can
// list the items holding given words narrows by them as Unfinished does.
func (s *Stats) Beginning(q Query, limit int) ([]string, error) {
	word, typing, err := typedWord(wordsAnalyzer(), &q, limit)
	if !typing || err != nil {
		return nil, err
	}
	d, _ := statsDict{s}.prefixed(fieldWords, word)
	e := d.(*entries)
	slices.SortFunc(*e, func(a, b bindex.DictEntry) int { return strings.Compare(a.Term, b.Term) })
	return beginningIn(e, word, limit)
}

// statsDict is Stats seen as the dictionary of an index of their items.
type statsDict struct{ s *Stats }

func (d statsDict) holds(_ context.Context, term string) (bool, error) {
	d.s.mu.RLock()
	defer d.s.mu.RUnlock()
	for _, m := range d.s.terms {
		if m[term] > 0 {
			return true, nil
		}
	}
	return false, nil
}

// field returns the counts of field's terms.
func (d statsDict) field(name string) map[string]uint32 {
	if name == fieldWords {
		return d.s.words
	}
	for i, f := range matchFields {
		if f.name == name {
			return d.s.terms[i]
		}
	}
	return nil
}

func (d statsDict) prefixed(field, prefix string) (bindex.FieldDict, error) {
	if field != fieldWords {
		return d.list(field, func(t string) bool { return strings.HasPrefix(t, prefix) }), nil
	}
	s := d.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out entries
	seen := map[string]bool{}
	take := func(w string) {
		if n := s.words[w]; n > 0 && !seen[w] {
			seen[w] = true
			out = append(out, bindex.DictEntry{Term: w, Count: uint64(n)})
		}
	}
	for i := sort.SearchStrings(s.sorted, prefix); i < len(s.sorted) && strings.HasPrefix(s.sorted[i], prefix); i++ {
		take(s.sorted[i])
	}
	for _, w := range s.added {
		if strings.HasPrefix(w, prefix) {
			take(w)
		}
	}
	return &out, nil
}

func (d statsDict) near(field, term string, edits int) (bindex.FieldDict, error) {
	e := newEditBound([]rune(term), edits)
	return d.list(field, e.within), nil
}

// list returns field's terms that keep passes, with their counts. It
// reads every term of the field: a few milliseconds for a vocabulary of
// a hundred thousand.
func (d statsDict) list(field string, keep func(string) bool) *entries {
	d.s.mu.RLock()
	defer d.s.mu.RUnlock()
	var out entries
	for t, n := range d.field(field) {
		if keep(t) {
			out = append(out, bindex.DictEntry{Term: t, Count: uint64(n)})
		}
	}
	return &out
}

// editBound tells whether a term is within a number of edits of a word:
// insertions, deletions or substitutions of runes (Levenshtein's
// distance, as Bleve's fuzzy dictionaries count it: no transpositions).
// It fills only the band of the table within that many cells of the
// diagonal, in two rows it keeps, and turns a term away on its length
// before decoding it: a field's every term is asked.
type editBound struct {
	word      []rune
	edits     int
	b         []rune
	prev, cur []int
}

func newEditBound(word []rune, edits int) *editBound {
	return &editBound{word: word, edits: edits, prev: make([]int, len(word)+edits+2), cur: make([]int, len(word)+edits+2)}
}

func (e *editBound) within(t string) bool {
	n := utf8.RuneCountInString(t)
	if d := len(e.word) - n; d > e.edits || -d > e.edits {
		return false
	}
	e.b = e.b[:0]
	for _, r := range t {
		e.b = append(e.b, r)
	}
	a, b, k := e.word, e.b, e.edits
	const far = 1 << 30
	prev, cur := e.prev[:len(b)+1], e.cur[:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := max(1, i-k), min(len(b), i+k)
		cur[0] = i
		if lo > 1 {
			cur[lo-1] = far
		}
		low := far
		if lo == 1 {
			low = i
		}
		for j := lo; j <= hi; j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			c := min(sub, cur[j-1]+1)
			if j <= i-1+k { // prev[j] lies in the previous row's band
				c = min(c, prev[j]+1)
			}
			cur[j] = c
			low = min(low, c)
		}
		if hi < len(b) {
			cur[hi+1] = far
		}
		if low > k {
			return false
		}
		prev, cur = cur, prev
	}
	return prev[len(b)] <= k
}
