package search

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/duetrec/duet/index/text"
)

// MaxSuggestions bounds SuggestRequest.K.
const MaxSuggestions = 20

// SuggestRequest asks for completions of a query being typed.
type SuggestRequest struct {
	Query  string // what has been typed; its last word, unless finished, is completed
	UserID string // personalises the items suggested; may be empty
	K      int    // suggestions of each kind; default 5, at most MaxSuggestions
}

// Suggestions complete a query being typed.
type Suggestions struct {
	// Queries are the query with its last word completed by the
	// catalogue's commonest words that begin with it; none when the query
	// ends in a space or punctuation.
	Queries []string `json:"queries"`
	// Items are what a search box's search for the query shows first:
	// prefix on, typos tolerated, personalised by the user's history when
	// a user is given, each title with the query's words marked.
	Items []SuggestedItem `json:"items"`
	Took  time.Duration   `json:"-"`
}

// SuggestedItem is an item suggested for a query being typed.
type SuggestedItem struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Highlight is the title as HTML, the query's words in <mark>; empty
	// when the title holds none of them.
	Highlight string `json:"highlight,omitempty"`
}

// textCompleter is a TextIndex that completes words (text.Index does).
type textCompleter interface {
	Complete(ctx context.Context, prefix string, k int) ([]string, error)
}

// Suggest answers a query being typed: completions of its last word and
// the items a search for it would show first. A query of blank text is
// refused.
func (e *Engine) Suggest(ctx context.Context, req SuggestRequest) (*Suggestions, error) {
	start := time.Now()
	if req.K == 0 {
		req.K = 5
	}
	if req.K < 1 || req.K > MaxSuggestions {
		return nil, invalid("k must be from 1 to %d, got %d", MaxSuggestions, req.K)
	}
	if strings.TrimSpace(req.Query) == "" {
		return nil, invalid("the query to complete is empty")
	}
	if err := checkText("query", req.Query, MaxQueryBytes); err != nil {
		return nil, err
	}
	out := &Suggestions{Queries: []string{}, Items: []SuggestedItem{}}
	if tc, ok := e.text.(textCompleter); ok {
		if head, last := text.LastWord(req.Query); last != "" {
			words, err := tc.Complete(ctx, last, req.K+1) // the word itself may be among them
			if err != nil {
				return nil, fmt.Errorf("suggest: %w", err)
			}
			for _, w := range words {
				if s := head + w; !strings.EqualFold(s, req.Query) && len(out.Queries) < req.K {
					out.Queries = append(out.Queries, s)
				}
			}
		}
	}
	res, err := e.Search(ctx, Request{Query: req.Query, UserID: req.UserID, K: req.K, Prefix: true, Typos: DefaultTypos, Highlight: true})
	if err != nil {
		return nil, err
	}
	for _, h := range res.Hits {
		out.Items = append(out.Items, SuggestedItem{ID: h.ID, Title: h.Item.Title, Highlight: h.Highlights["title"]})
	}
	out.Took = time.Since(start)
	return out, nil
}
