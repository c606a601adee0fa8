package tower

import (
	"fmt"
	"sync"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/registry"

	"github.com/duetrec/duet/content"
)

// maxItemTokens bounds the token bag of one item, so that one long
// description cannot dominate the cost of a batch; the title and tags come
// first, so they are always in.
const maxItemTokens = 256

// analyzer returns Bleve's English analyzer: the same one the text index
// uses, so that the model and the index agree on what a word is. Bleve's
// analyzers hold no per-call state and are safe for concurrent use.
var analyzer = sync.OnceValues(func() (analysis.Analyzer, error) {
	a, err := registry.NewCache().AnalyzerNamed(en.AnalyzerName)
	if err != nil {
		return nil, fmt.Errorf("tower: english analyzer: %w", err)
	}
	return a, nil
})

// features is what the item tower reads of one item: hashed token buckets
// (unigrams and bigrams) and category ids.
type features struct {
	toks []int32
	cats []int32
}

const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

func fnvAdd(h uint32, b []byte) uint32 {
	for _, c := range b {
		h ^= uint32(c)
		h *= fnvPrime
	}
	return h
}

// appendTokens analyses text and appends the hashed bucket of every unigram
// and of every bigram of consecutive terms. Bigrams do not cross calls, so
// they never join the end of a title to the start of a description.
func appendTokens(a analysis.Analyzer, dst []int32, text string, buckets int) []int32 {
	if text == "" || len(dst) >= maxItemTokens {
		return dst
	}
	var prev []byte
	for _, tok := range a.Analyze([]byte(text)) {
		if len(dst) >= maxItemTokens {
			break
		}
		h := fnvAdd(fnvOffset, tok.Term)
		dst = append(dst, int32(h%uint32(buckets)))
		if prev != nil && len(dst) < maxItemTokens {
			// The separator keeps ("ab","c") and ("a","bc") apart.
			b := fnvAdd(fnvAdd(fnvAdd(fnvOffset, prev), []byte{0}), tok.Term)
			dst = append(dst, int32(b%uint32(buckets)))
		}
		prev = tok.Term
	}
	return dst
}

// textTokens returns the token buckets of free text.
func textTokens(text string, buckets int) ([]int32, error) {
	a, err := analyzer()
	if err != nil {
		return nil, err
	}
	return appendTokens(a, nil, text, buckets), nil
}

// itemFeatures extracts the features of an item. Categories missing from
// cats are ignored: the model has no embedding for them.
func itemFeatures(a analysis.Analyzer, it *content.Item, buckets int, cats map[string]int32) features {
	var f features
	f.toks = appendTokens(a, f.toks, it.Title, buckets)
	for _, tag := range it.Tags {
		f.toks = appendTokens(a, f.toks, tag, buckets)
	}
	f.toks = appendTokens(a, f.toks, it.Description, buckets)
	for _, c := range it.Categories {
		if id, ok := cats[c]; ok {
			f.cats = append(f.cats, id)
		}
	}
	return f
}
