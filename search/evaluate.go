package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/parallel"
)

// EvalCase is one personalised search: a user with a history asks a short
// query, and Target is the item they went on to choose.
type EvalCase struct {
	UserID string
	Query  string
	Target string
}

// EvalMode is one way of answering the cases.
type EvalMode struct {
	Name    string
	Request Request // Query and UserID are filled per case
	// UseQuery and UseUser say which of the case's query and user the mode
	// sees.
	UseQuery, UseUser bool
}

// EvalModes are the modes the personalised-search benchmark compares.
func EvalModes() []EvalMode {
	a := 0.5
	return []EvalMode{
		{Name: "keyword", Request: Request{Mode: ModeKeyword}, UseQuery: true},
		{Name: "vector-query", Request: Request{Mode: ModeVector}, UseQuery: true},
		{Name: "vector-user", Request: Request{Mode: ModeVector}, UseUser: true},
		{Name: "vector-blend", Request: Request{Mode: ModeVector}, UseQuery: true, UseUser: true},
		{Name: "hybrid-rrf", Request: Request{Mode: ModeHybrid, Fusion: FusionRRF}, UseQuery: true, UseUser: true},
		{Name: "hybrid-relative", Request: Request{Mode: ModeHybrid, Fusion: FusionRelative, Alpha: &a}, UseQuery: true, UseUser: true},
		{Name: "hybrid-weighted", Request: Request{Mode: ModeHybrid, Fusion: FusionWeighted, Alpha: &a}, UseQuery: true, UseUser: true},
	}
}

// EvalResult is a mode's quality over the cases.
type EvalResult struct {
	Name   string  `json:"name"`
	MRR    float64 `json:"mrr@10"`
	Recall float64 `json:"recall@10"`
	Cases  int     `json:"cases"`
}

// Evaluate answers every case in every mode with K = 10, the user's seen
// items excluded, and reports MRR@10 and Recall@10 (a hit is the target
// within the first 10). Cases run in parallel; results do not depend on
// the order.
func Evaluate(ctx context.Context, e *Engine, cases []EvalCase, modes []EvalMode) ([]EvalResult, error) {
	const k = 10
	out := make([]EvalResult, 0, len(modes))
	for _, m := range modes {
		rr := make([]float64, len(cases))
		hit := make([]float64, len(cases))
		err := parallel.For(ctx, len(cases), 0, func(_, i int) error {
			c := cases[i]
			req := m.Request
			req.K, req.ExcludeSeen = k, true
			if m.UseQuery {
				req.Query = c.Query
			}
			if m.UseUser {
				req.UserID = c.UserID
			}
			res, err := e.Search(ctx, req)
			if err != nil {
				return fmt.Errorf("mode %s, case %d: %w", m.Name, i, err)
			}
			for r, h := range res.Hits {
				if h.ID == c.Target {
					rr[i], hit[i] = 1/float64(r+1), 1
					break
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		res := EvalResult{Name: m.Name, Cases: len(cases)}
		for i := range cases {
			res.MRR += rr[i]
			res.Recall += hit[i]
		}
		if len(cases) > 0 {
			res.MRR /= float64(len(cases))
			res.Recall /= float64(len(cases))
		}
		out = append(out, res)
	}
	return out, nil
}

// QueryFor makes the query a user looking for it might type: one or two
// words drawn from the item's categories and tags, never from its title, so
// that the query describes the kind of item rather than naming it. It
// returns "" when the item has neither.
func QueryFor(it *content.Item, rng *rand.Rand) string {
	seen := map[string]bool{}
	var words []string
	for _, label := range append(append([]string{}, it.Categories...), it.Tags...) {
		for _, w := range strings.Fields(strings.ToLower(label)) {
			w = strings.Trim(w, ".,;:!?()\"'")
			if len(w) < 2 || seen[w] || queryStopWords[w] {
				continue
			}
			seen[w] = true
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return ""
	}
	sort.Strings(words) // the draw must not depend on label order
	n := 1 + rng.IntN(2)
	rng.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
	return strings.Join(words[:min(n, len(words))], " ")
}

// TypoQuery puts one typo (a letter dropped, doubled or replaced) in a
// random word of q of DefaultTypos.One or more letters, the shortest the
// default rule forgives a typo in; ok is false when q has no such word,
// and then a random word takes it: a typo no rule forgives.
func TypoQuery(q string, rng *rand.Rand) (_ string, ok bool) {
	words := strings.Fields(q)
	if len(words) == 0 {
		return q, false
	}
	var long []int
	for i, w := range words {
		if utf8.RuneCountInString(w) >= DefaultTypos.One {
			long = append(long, i)
		}
	}
	i := rng.IntN(len(words))
	if ok = len(long) > 0; ok {
		i = long[rng.IntN(len(long))]
	}
	w := []rune(words[i])
	k := rng.IntN(len(w))
	switch rng.IntN(3) {
	case 0:
		if len(w) > 1 {
			w = append(w[:k:k], w[k+1:]...)
			break
		}
		fallthrough
	case 1:
		w = append(w[:k+1:k+1], w[k:]...)
	default:
		c := w[k]
		for c == w[k] {
			c = rune('a' + rng.IntN(26))
		}
		w[k] = c
	}
	words[i] = string(w)
	return strings.Join(words, " "), ok
}

// PrefixQuery cuts q's last word as it looks while it is typed: to from
// least letters to one short of the whole, uniformly; ok is false when
// the word is too short to cut so, and q is kept.
func PrefixQuery(q string, rng *rand.Rand, least int) (_ string, ok bool) {
	words := strings.Fields(q)
	if len(words) == 0 {
		return q, false
	}
	last := []rune(words[len(words)-1])
	if len(last) <= least {
		return q, false
	}
	words[len(words)-1] = string(last[:least+rng.IntN(len(last)-least)])
	return strings.Join(words, " "), true
}

var queryStopWords = map[string]bool{
	"a": true, "an": true, "and": true, "the": true, "of": true, "in": true, "on": true, "to": true,
	"for": true, "with": true, "is": true, "it": true, "by": true, "at": true, "or": true, "no": true,
}

// StaticHistory serves fixed histories, such as the training part of an
// evaluation split.
type StaticHistory map[string][]content.Event

// UserEvents returns the last n events of a user.
func (h StaticHistory) UserEvents(_ context.Context, userID string, n int) ([]content.Event, error) {
	evs := h[userID]
	if n > 0 && len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	return evs, nil
}
