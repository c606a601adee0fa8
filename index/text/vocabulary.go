package text

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"

	"github.com/duetrec/duet/content"
)

// MaxPhraseWords bounds the words of one synonym, as the index reads them
// (stop words dropped): a query is matched against every phrase at every
// word, so long phrases cost every query.
const MaxPhraseWords = 5

// maxSynonymTerms bounds the terms synonyms add to one query: each is one
// more posting list to merge.
const maxSynonymTerms = 32

// Vocabulary is the editors' vocabulary (content.Vocabulary) as queries
// read it: each synonym analysed like the index, so that "Sci-Fi" in a
// query meets "sci-fi" in a set, and stop words lowercased. It is
// immutable and safe for concurrent use; a nil Vocabulary has nothing in it.
type Vocabulary struct {
	stop   map[string]bool
	starts map[string][]*phrase // by first term, longest first
	seq    uint64
	sets   int
}

// phrase is a synonym as the index reads it, and what it expands to.
type phrase struct {
	terms []string
	text  string // as an editor wrote it first
	to    []synonymEdge
}

type synonymEdge struct {
	to  *phrase
	set string
}

func (p *phrase) key() string { return strings.Join(p.terms, " ") }

var vocabularyAnalyzer = sync.OnceValues(func() (analysis.Analyzer, error) {
	m, err := textMapping()
	if err != nil {
		return nil, err
	}
	if a := m.AnalyzerNamed(en.AnalyzerName); a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("no %s analyzer", en.AnalyzerName)
})

// NewVocabulary reads v as queries will. It refuses, with an error
// matching ErrInvalidVocabulary that names the set, a vocabulary whose
// synonyms mean nothing or contradict one another: a term of stop words
// alone, or of more than MaxPhraseWords words; a set whose terms all read
// alike ("movie", "movies"); a phrase in two sets of equivalents (which
// would make both one set: merge them); a one-way rule between
// equivalents; and one-way rules that loop ("a" → "b", "b" → "a": make
// them a set of equivalents). Expansion is one step: a query's phrase
// brings in the other terms of its set of equivalents and the terms of
// the one-way rules it is the root of, not what those bring in.
func NewVocabulary(v content.Vocabulary) (*Vocabulary, error) {
	an, err := vocabularyAnalyzer()
	if err != nil {
		return nil, err
	}
	voc := &Vocabulary{stop: make(map[string]bool, len(v.StopWords)), starts: map[string][]*phrase{}, seq: v.Seq, sets: len(v.Synonyms)}
	for _, w := range v.StopWords {
		voc.stop[strings.ToLower(w)] = true
	}
	bad := func(set, format string, args ...any) error {
		return fmt.Errorf("%w: set %q: %s", ErrInvalidVocabulary, set, fmt.Sprintf(format, args...))
	}
	phrases := map[string]*phrase{}
	get := func(set, s string) (*phrase, error) {
		toks := an.Analyze([]byte(s))
		switch {
		case len(toks) == 0:
			return nil, bad(set, "%q holds no word search keeps (stop words only)", s)
		case len(toks) > MaxPhraseWords:
			return nil, bad(set, "%q is %d words, more than %d", s, len(toks), MaxPhraseWords)
		}
		p := &phrase{text: s, terms: make([]string, len(toks))}
		for i, tok := range toks {
			p.terms[i] = string(tok.Term)
		}
		if old := phrases[p.key()]; old != nil {
			return old, nil
		}
		phrases[p.key()] = p
		voc.starts[p.terms[0]] = append(voc.starts[p.terms[0]], p)
		return p, nil
	}
	distinct := func(set string, terms []string, but *phrase) ([]*phrase, error) {
		var out []*phrase
		for _, s := range terms {
			p, err := get(set, s)
			if err != nil {
				return nil, err
			}
			if p != but && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		return out, nil
	}
	// Sets of equivalents first: each phrase in one at most, which makes
	// them the groups the one-way rules run between.
	group := map[*phrase]string{}
	for _, s := range v.Synonyms {
		if s.Root != "" {
			continue
		}
		members, err := distinct(s.ID, s.Terms, nil)
		if err != nil {
			return nil, err
		}
		if len(members) < 2 {
			return nil, bad(s.ID, "its terms all read as %q to search: the set would do nothing", members[0].key())
		}
		for _, p := range members {
			if other, ok := group[p]; ok {
				return nil, bad(s.ID, "%q is in set %q already: make them one set", p.text, other)
			}
			group[p] = s.ID
		}
		for _, p := range members {
			for _, q := range members {
				if q != p {
					p.to = append(p.to, synonymEdge{q, s.ID})
				}
			}
		}
	}
	node := func(p *phrase) string {
		if g, ok := group[p]; ok {
			return "set\x00" + g
		}
		return "phrase\x00" + p.key()
	}
	type arc struct {
		to       string
		set      string
		from, at *phrase
	}
	arcs := map[string][]arc{}
	for _, s := range v.Synonyms {
		if s.Root == "" {
			continue
		}
		root, err := get(s.ID, s.Root)
		if err != nil {
			return nil, err
		}
		targets, err := distinct(s.ID, s.Terms, root)
		if err != nil {
			return nil, err
		}
		if len(targets) == 0 {
			return nil, bad(s.ID, "its terms all read as its root %q: the rule would do nothing", root.key())
		}
		for _, p := range targets {
			if node(p) == node(root) {
				return nil, bad(s.ID, "%q and %q are equivalents in set %q already", root.text, p.text, group[root])
			}
			root.to = append(root.to, synonymEdge{p, s.ID})
			arcs[node(root)] = append(arcs[node(root)], arc{node(p), s.ID, root, p})
		}
	}
	// A loop among the one-way rules: depth-first, in a stable order.
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var path []arc
	var visit func(n string) error
	visit = func(n string) error {
		state[n] = open
		for _, a := range arcs[n] {
			path = append(path, a)
			switch state[a.to] {
			case open:
				i := len(path) - 1
				for i > 0 && path[i].from != nil && node(path[i].from) != a.to {
					i--
				}
				var b strings.Builder
				var sets []string
				for _, p := range path[i:] {
					fmt.Fprintf(&b, "%q → ", p.from.text)
					sets = append(sets, p.set)
				}
				fmt.Fprintf(&b, "%q", a.at.text)
				return bad(a.set, "the one-way rules loop: %s (sets %s); make those terms one set of equivalents", b.String(), strings.Join(sets, ", "))
			case unseen:
				if err := visit(a.to); err != nil {
					return err
				}
			}
			path = path[:len(path)-1]
		}
		state[n] = done
		return nil
	}
	roots := make([]string, 0, len(arcs))
	for n := range arcs {
		roots = append(roots, n)
	}
	slices.Sort(roots)
	for _, n := range roots {
		if state[n] == unseen {
			if err := visit(n); err != nil {
				return nil, err
			}
		}
	}
	for _, ps := range voc.starts {
		slices.SortStableFunc(ps, func(a, b *phrase) int { return len(b.terms) - len(a.terms) })
	}
	return voc, nil
}

// Seq is the sequence number of the vocabulary read (content.Vocabulary.Seq).
func (v *Vocabulary) Seq() uint64 {
	if v == nil {
		return 0
	}
	return v.seq
}

// Sizes returns how many synonym sets and stop words v holds.
func (v *Vocabulary) Sizes() (sets, stopWords int) {
	if v == nil {
		return 0, 0
	}
	return v.sets, len(v.stop)
}

// active reports whether v changes how any query reads.
func (v *Vocabulary) active() bool {
	return v != nil && (len(v.stop) > 0 || len(v.starts) > 0)
}

// isStop reports whether a word as typed is one of the stop words.
func (v *Vocabulary) isStop(word string) bool {
	return v != nil && len(v.stop) > 0 && v.stop[strings.ToLower(word)]
}

// synonyms returns the terms that the synonyms of the phrases in a query's
// terms add, skipping the terms have holds (and adding those it returns),
// and marks in covered the terms a phrase matched. A synonym's terms weigh
// together what the words it stands for weigh, each at most a word's
// weight. words gives the text typed for terms i to j (exclusive);
// ignored tells the terms whose words are stop words, and a phrase of
// those alone expands to nothing.
func (v *Vocabulary) synonyms(terms []string, words func(i, j int) string, ignored []bool, have map[string]bool, covered []bool) []queryTerm {
	if v == nil || len(v.starts) == 0 {
		return nil
	}
	var out []queryTerm
	for i := range terms {
		for _, p := range v.starts[terms[i]] {
			n := len(p.terms)
			if i+n > len(terms) || !slices.Equal(terms[i:i+n], p.terms) || !slices.Contains(ignored[i:i+n], false) {
				continue
			}
			for j := i; j < i+n; j++ {
				covered[j] = true
			}
			for _, e := range p.to {
				w := min(1, float64(n)/float64(len(e.to.terms)))
				for _, term := range e.to.terms {
					if have[term] || len(out) == maxSynonymTerms {
						continue
					}
					have[term] = true
					out = append(out, queryTerm{term: term, weight: w, from: words(i, i+n), why: WhySynonym, set: e.set})
				}
			}
		}
	}
	return out
}

// Analyze returns the terms the index makes of text in titles,
// descriptions and labels, in order: Bleve's English analyzer's
// (lowercased, stop words dropped, Porter-stemmed). An index without that
// analyser, such as a remote one, is given these terms to match.
func Analyze(s string) ([]string, error) {
	a, err := vocabularyAnalyzer()
	if err != nil {
		return nil, err
	}
	toks := a.Analyze([]byte(s))
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = string(t.Term)
	}
	return out, nil
}
