package search

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Scored is one candidate of one list: an item and its score there.
type Scored struct {
	ID    string
	Score float64
}

// fused is a candidate after fusion, with where it came from.
type fused struct {
	id          string
	score       float64
	vector      float64 // raw score in the vector list
	vectorRank  int     // 1-based; 0 when absent
	keyword     float64
	keywordRank int
}

// fuse merges the vector list and the keyword list, each sorted best first,
// by the given method. The result is sorted by fused score, ties broken by
// the better rank in either list, then by id, so it is deterministic.
func fuse(vec, kw []Scored, f Fusion, alpha, rrfK float64) []fused {
	// Candidates are values in one slice, found by id through a map to
	// their index: one allocation for all of them rather than one each.
	out := make([]fused, 0, len(vec)+len(kw))
	at := make(map[string]int, len(vec)+len(kw))
	get := func(id string) *fused {
		i, ok := at[id]
		if !ok {
			i = len(out)
			at[id] = i
			out = append(out, fused{id: id})
		}
		return &out[i]
	}
	for i, s := range vec {
		c := get(s.ID)
		if c.vectorRank == 0 {
			c.vector, c.vectorRank = s.Score, i+1
		}
	}
	for i, s := range kw {
		c := get(s.ID)
		if c.keywordRank == 0 {
			c.keyword, c.keywordRank = s.Score, i+1
		}
	}
	switch f {
	case FusionRRF:
		// Reciprocal rank fusion with 1-based ranks, as Elasticsearch and
		// Bleve define it: 1/(k + rank) summed over the lists.
		for i := range out {
			c := &out[i]
			if c.vectorRank > 0 {
				c.score += 1 / (rrfK + float64(c.vectorRank))
			}
			if c.keywordRank > 0 {
				c.score += 1 / (rrfK + float64(c.keywordRank))
			}
		}
	case FusionRelative:
		vn, kn := minMax(vec), minMax(kw)
		for i := range out {
			c := &out[i]
			if c.vectorRank > 0 {
				c.score += alpha * vn(c.vector)
			}
			if c.keywordRank > 0 {
				c.score += (1 - alpha) * kn(c.keyword)
			}
		}
	case FusionWeighted:
		for i := range out {
			c := &out[i]
			if c.vectorRank > 0 {
				c.score += alpha * c.vector
			}
			if c.keywordRank > 0 {
				c.score += (1 - alpha) * c.keyword
			}
		}
	}
	// Ids are unique, so the order is total and need not be stable.
	slices.SortFunc(out, func(a, b fused) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		if ra, rb := bestRank(&a), bestRank(&b); ra != rb {
			return cmp.Compare(ra, rb)
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

func bestRank(c *fused) int {
	r := math.MaxInt
	if c.vectorRank > 0 {
		r = c.vectorRank
	}
	if c.keywordRank > 0 && c.keywordRank < r {
		r = c.keywordRank
	}
	return r
}

// minMax returns the min-max normalisation of a list's scores. A list whose
// scores are all equal maps them to 1: each of its items is as good as the
// list's best, and gets the list's full weight.
func minMax(list []Scored) func(float64) float64 {
	if len(list) == 0 {
		return func(float64) float64 { return 0 }
	}
	lo, hi := list[0].Score, list[0].Score
	for _, s := range list[1:] {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	if hi == lo {
		return func(float64) float64 { return 1 }
	}
	return func(x float64) float64 { return (x - lo) / (hi - lo) }
}
