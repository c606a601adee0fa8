package text

import (
	"context"
	"fmt"
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"

	"github.com/duetrec/duet/content"
)

// SnippetRunes is the most a description's snippet holds, ellipses aside.
const SnippetRunes = 160

// Term is one term a query searched for, and why: a word as typed, a
// correction or completion of one, or a synonym of words typed.
type Term struct {
	Term   string  `json:"term"`   // as the index holds it: stemmed
	Weight float64 `json:"weight"` // against a typed word's 1
	From   string  `json:"from"`   // the words typed it stands for
	Why    string  `json:"why"`    // WhyTyped, WhyCorrected, WhyCompleted or WhySynonym
	Set    string  `json:"set,omitempty"`
}

// Reading is how the index read a query's text: the terms it searched
// for, and the words it dropped as the vocabulary's stop words.
type Reading struct {
	Terms     []Term   `json:"terms"`
	StopWords []string `json:"stop_words,omitempty"`
}

// Highlighter marks a query's words in items' titles and descriptions,
// and says which of the terms it searched for an item holds. It is made
// for one query and safe for concurrent use.
type Highlighter struct {
	en      analysis.Analyzer
	reading Reading
	terms   map[string]int // index in reading.Terms
}

// Highlighter returns the highlighter of q's words: the terms q matches,
// corrections, completions and synonyms included (see Query.Prefix,
// Query.Typos and Query.Vocabulary), so an item found through "galaxxy"
// has "Galaxy" marked. Its errors are Search's.
func (t *Index) Highlighter(ctx context.Context, q Query) (*Highlighter, error) {
	x, err := t.expand(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("text highlight: %w", err)
	}
	return newHighlighter(t.en, x), nil
}

// ReadQuery returns the highlighter of q's words read as the index reads
// them, but without an index's dictionary: each word's term, the
// vocabulary's stop words dropped and its synonyms added. Prefix and
// Typos, which need the dictionary, are not applied. It is for an index
// that cannot read queries itself, such as a remote one, whose matches are
// then the reading's terms. Its errors are Search's.
func ReadQuery(q Query) (*Highlighter, error) {
	en, x, err := readQuery(q, nil)
	if err != nil {
		return nil, err
	}
	return newHighlighter(en, x), nil
}

// readQuery reads q's terms with dictionary d (none: words are taken as
// typed), for an index that is not at hand, and returns them with the
// analyser that read them. Its errors are Search's.
func readQuery(q Query, d dictionary) (analysis.Analyzer, expansion, error) {
	if q.K == 0 {
		q.K = 1
	}
	if err := q.Validate(); err != nil {
		return nil, expansion{}, err
	}
	en, err := vocabularyAnalyzer()
	if err != nil {
		return nil, expansion{}, err
	}
	x, err := (&Index{en: en}).queryTerms(context.Background(), d, &q)
	return en, x, err
}

func newHighlighter(en analysis.Analyzer, x expansion) *Highlighter {
	h := &Highlighter{en: en, terms: make(map[string]int, len(x.terms))}
	h.reading.StopWords = x.ignored
	h.reading.Terms = make([]Term, 0, len(x.terms))
	for _, qt := range x.terms {
		if _, dup := h.terms[qt.term]; dup {
			continue
		}
		h.terms[qt.term] = len(h.reading.Terms)
		h.reading.Terms = append(h.reading.Terms, Term{Term: qt.term, Weight: qt.weight, From: qt.from, Why: qt.why, Set: qt.set})
	}
	return h
}

// Reading returns how the query was read.
func (h *Highlighter) Reading() Reading { return h.reading }

// Matched returns the terms of the query that the item's title,
// description, tags or categories hold, in the reading's order.
func (h *Highlighter) Matched(it *content.Item) []Term {
	seen := make([]bool, len(h.reading.Terms))
	n := 0
	for _, s := range [][]string{{it.Title, it.Description}, it.Tags, it.Categories} {
		for _, v := range s {
			for _, tok := range h.en.Analyze([]byte(v)) {
				if i, ok := h.terms[string(tok.Term)]; ok && !seen[i] {
					seen[i] = true
					n++
				}
			}
		}
	}
	out := make([]Term, 0, n)
	for i, ok := range seen {
		if ok {
			out = append(out, h.reading.Terms[i])
		}
	}
	return out
}

// Fragments returns, by field ("title", "description"), the item's title
// with every word the query matched in <mark>, and a snippet of its
// description of at most SnippetRunes around the first such word, ellipses
// where it is cut; the text around the marks is escaped for HTML. A field
// with no word matched is absent; nil when neither has one.
func (h *Highlighter) Fragments(it *content.Item) map[string]string {
	var out map[string]string
	set := func(field, s string) {
		if out == nil {
			out = map[string]string{}
		}
		out[field] = s
	}
	if spans := h.spans(it.Title); len(spans) > 0 {
		set(fieldTitle, mark(it.Title, spans, 0, len(it.Title)))
	}
	if spans := h.spans(it.Description); len(spans) > 0 {
		from, to := snippet(it.Description, spans[0])
		set(fieldDescription, ellipsis(from > 0)+mark(it.Description, spans, from, to)+ellipsis(to < len(it.Description)))
	}
	return out
}

// span is a matched word's bytes in a text.
type span struct{ start, end int }

// spans returns where the query's terms are in s, in order.
func (h *Highlighter) spans(s string) []span {
	if s == "" || len(h.terms) == 0 {
		return nil
	}
	var out []span
	for _, tok := range h.en.Analyze([]byte(s)) {
		if _, ok := h.terms[string(tok.Term)]; ok {
			out = append(out, span{tok.Start, tok.End})
		}
	}
	return out
}

// mark returns s[from:to] escaped, the spans inside it in <mark>.
func mark(s string, spans []span, from, to int) string {
	var b strings.Builder
	at := from
	for _, sp := range spans {
		if sp.start < at || sp.end > to {
			continue
		}
		b.WriteString(html.EscapeString(s[at:sp.start]))
		b.WriteString("<mark>")
		b.WriteString(html.EscapeString(s[sp.start:sp.end]))
		b.WriteString("</mark>")
		at = sp.end
	}
	b.WriteString(html.EscapeString(s[at:to]))
	return b.String()
}

// snippet returns the bytes of s to show around a match: at most
// SnippetRunes, the match a third of the way in, cut at spaces when one is
// near.
func snippet(s string, m span) (from, to int) {
	if utf8.RuneCountInString(s) <= SnippetRunes {
		return 0, len(s)
	}
	from = m.start
	for n := 0; n < SnippetRunes/3 && from > 0; n++ {
		_, size := utf8.DecodeLastRuneInString(s[:from])
		from -= size
	}
	to = from
	for n := 0; n < SnippetRunes && to < len(s); n++ {
		_, size := utf8.DecodeRuneInString(s[to:])
		to += size
	}
	if to < m.end { // a word longer than the snippet
		to = m.end
	}
	// Whole words at the edges, unless that would eat the snippet.
	if from > 0 {
		if i := strings.IndexFunc(s[from:m.start], unicode.IsSpace); i >= 0 {
			from += i + 1
		}
	}
	if to < len(s) {
		if i := strings.LastIndexFunc(s[m.end:to], unicode.IsSpace); i >= 0 {
			to = m.end + i
		}
	}
	return from, to
}

func ellipsis(cut bool) string {
	if cut {
		return "…"
	}
	return ""
}
