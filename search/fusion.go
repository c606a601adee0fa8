package search

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"sync"
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
//
// With sim set, every keyword candidate the vector list lacks is scored by
// sim (its own vector against the request's) and joins the vector list in
// its place by that score, after the items already there that score the
// same, as if the vector search had found it; a candidate sim cannot
// score stays out of it. kwWeight scales the keyword list's part of a
// fused score: 1 in full.
func fuse(vec, kw []Scored, sim func(id string) (float64, bool), f Fusion, alpha, rrfK, kwWeight float64) []fused {
	// Candidates are values in one slice, found by id through a map to
	// their index: one allocation for all of them rather than one each,
	// and both recycled.
	out := fusedSlice(len(vec) + len(kw))
	at := fuseMaps.Get().(map[string]int)
	defer func() {
		clear(at)
		fuseMaps.Put(at)
	}()
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
	nVec := len(out)
	for i, s := range kw {
		c := get(s.ID)
		if c.keywordRank == 0 {
			c.keyword, c.keywordRank = s.Score, i+1
		}
	}
	vn := minMax(vec)
	if sim != nil {
		if n := rescore(out, nVec, sim); n > 0 {
			vn = normaliser(out[:nVec+n])
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
				c.score += kwWeight / (rrfK + float64(c.keywordRank))
			}
		}
	case FusionRelative:
		kn := minMax(kw)
		for i := range out {
			c := &out[i]
			if c.vectorRank > 0 {
				c.score += alpha * vn(c.vector)
			}
			if c.keywordRank > 0 {
				c.score += kwWeight * (1 - alpha) * kn(c.keyword)
			}
		}
	case FusionWeighted:
		for i := range out {
			c := &out[i]
			if c.vectorRank > 0 {
				c.score += alpha * c.vector
			}
			if c.keywordRank > 0 {
				c.score += kwWeight * (1 - alpha) * c.keyword
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

// A hybrid request fills fusion's slice and map with up to two windows of
// candidates; allocated anew, they were a third of the memory a request
// allocated, and collecting it a cost of its own.
var (
	fuseMaps   = sync.Pool{New: func() any { return map[string]int{} }}
	fuseSlices sync.Pool // of *[]fused, empty
)

// fusedSlice returns an empty slice with room for n candidates.
func fusedSlice(n int) []fused {
	if p, ok := fuseSlices.Get().(*[]fused); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]fused, 0, n)
}

// recycle hands back a slice fuse returned, once nothing reads it.
func recycle(c []fused) {
	clear(c[:cap(c)]) // drop the ids for the collector
	c = c[:0]
	fuseSlices.Put(&c)
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

// rescore gives the keyword candidates out[nVec:], which the vector list
// out[:nVec] lacks, their scores from sim, and ranks the list anew with
// them as a stable sort of it would with them appended. It moves the ones
// sim scored to out[nVec:nVec+n] and returns n.
func rescore(out []fused, nVec int, sim func(id string) (float64, bool)) int {
	n := nVec
	for i := nVec; i < len(out); i++ {
		if s, ok := sim(out[i].id); ok {
			out[i].vector = s
			out[n], out[i] = out[i], out[n]
			n++
		}
	}
	added := out[nVec:n]
	if len(added) == 0 {
		return 0
	}
	// Stably, by score: their keyword ranks keep the keyword list's order,
	// which the moves above kept, and a plain sort on both keys is several
	// times cheaper than a stable one moving these structs about.
	slices.SortFunc(added, func(a, b fused) int {
		if c := cmp.Compare(b.vector, a.vector); c != 0 {
			return c
		}
		return cmp.Compare(a.keywordRank, b.keywordRank)
	})
	// Merge the two runs by rank, the list's own items first on a tie.
	i, j := 0, 0
	for rank := 1; i < nVec || j < len(added); rank++ {
		if j == len(added) || i < nVec && out[i].vector >= added[j].vector {
			out[i].vectorRank = rank
			i++
		} else {
			added[j].vectorRank = rank
			j++
		}
	}
	return len(added)
}

// minMax returns the min-max normalisation of a list's scores. A list whose
// scores are all equal maps them to 1: each of its items is as good as the
// list's best, and gets the list's full weight.
func minMax(list []Scored) func(float64) float64 {
	return minMaxOf(list, func(s Scored) float64 { return s.Score })
}

// normaliser is minMax over the vector scores of cands.
func normaliser(cands []fused) func(float64) float64 {
	return minMaxOf(cands, func(c fused) float64 { return c.vector })
}

func minMaxOf[T any](items []T, score func(T) float64) func(float64) float64 {
	if len(items) == 0 {
		return func(float64) float64 { return 0 }
	}
	lo, hi := score(items[0]), score(items[0])
	for _, it := range items[1:] {
		lo, hi = min(lo, score(it)), max(hi, score(it))
	}
	if hi == lo {
		return func(float64) float64 { return 1 }
	}
	return func(x float64) float64 { return (x - lo) / (hi - lo) }
}
