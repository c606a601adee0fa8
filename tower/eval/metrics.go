package eval

import (
	"context"
	"math"
	"slices"
	"strconv"

	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/topk"
)

// Metric names, the keys of a report's figures before "@K".
const (
	MetricRecall   = "recall"
	MetricNDCG     = "ndcg"
	MetricHR       = "hr"
	MetricMRR      = "mrr"
	MetricCoverage = "coverage"
)

// perUser are the metrics averaged over users, in the order they are
// stored per user and K.
var perUser = [...]string{MetricRecall, MetricNDCG, MetricHR, MetricMRR}

// Key returns the report key of a metric at k, such as "ndcg@10".
func Key(metric string, k int) string { return metric + "@" + strconv.Itoa(k) }

// ranking is one evaluation pass: which users, what they have seen, what
// they should find, and what may be ranked.
type ranking struct {
	users   []int32   // users to evaluate, in order
	history [][]int32 // by user: model input, excluded from the ranking
	target  [][]int32 // by user: relevant items, increasing
	allowed []int32   // items that may be ranked; nil means all
	items   int
	ks      []int // increasing
	workers int
}

// result holds a pass's means and coverage by key, the user count, and
// the NDCG at the first cut-off by history length (BucketEdges).
type result struct {
	metrics map[string]float64
	users   int
	buckets []Bucket
}

// BucketEdges are the lower ends of the history-length buckets a report
// breaks NDCG down by: light users and heavy ones can fare differently
// from the mean.
var BucketEdges = []int{0, 10, 30, 100, 300}

// Bucket is the NDCG of the users whose history length is in [Min, Max)
// (Max 0: no upper end).
type Bucket struct {
	Min   int     `json:"min"`
	Max   int     `json:"max,omitempty"`
	Users int     `json:"users"`
	NDCG  float64 `json:"ndcg"`
}

// bucketOf returns the index of the bucket of a history of length n.
func bucketOf(n int) int {
	b, _ := slices.BinarySearch(BucketEdges, n+1)
	return b - 1
}

// rank evaluates rec over the pass. Each user's figures land in their own
// slot and are summed in user order afterwards, so the result is the same
// for any number of workers.
func (p *ranking) rank(ctx context.Context, rec Recommender) (result, error) {
	nk := len(p.ks)
	maxK := p.ks[nk-1]
	n := len(p.users)
	vals := make([]float64, n*nk*len(perUser))
	tops := make([][]int32, n)
	var disallowed []bool
	if p.allowed != nil {
		disallowed = make([]bool, p.items)
		for i := range disallowed {
			disallowed[i] = true
		}
		for _, it := range p.allowed {
			disallowed[it] = false
		}
	}
	workers := parallel.Workers(p.workers, n)
	scratch := make([]ranker, workers)
	err := parallel.For(ctx, n, workers, func(w, i int) error {
		r := &scratch[w]
		if r.scores == nil {
			r.scores = make([]float32, p.items)
		}
		scores := r.scores
		u := p.users[i]
		clear(scores)
		rec.Score(u, p.history[u], scores)
		for _, it := range p.history[u] {
			scores[it] = float32(math.Inf(-1))
		}
		if disallowed != nil {
			for it, d := range disallowed {
				if d {
					scores[it] = float32(math.Inf(-1))
				}
			}
		}
		list := r.top(u, maxK)
		tops[i] = list
		userMetrics(list, p.target[u], p.ks, vals[i*nk*len(perUser):(i+1)*nk*len(perUser)])
		return nil
	})
	if err != nil {
		return result{}, err
	}
	res := result{metrics: make(map[string]float64, nk*(len(perUser)+1)), users: n}
	sums := make([]float64, nk*len(perUser))
	for i := range n {
		for j := range sums {
			sums[j] += vals[i*len(sums)+j]
		}
	}
	res.buckets = make([]Bucket, len(BucketEdges))
	for b, lo := range BucketEdges {
		res.buckets[b].Min = lo
		if b+1 < len(BucketEdges) {
			res.buckets[b].Max = BucketEdges[b+1]
		}
	}
	ndcgAt := slices.Index(perUser[:], MetricNDCG) // of the first cut-off
	for i, u := range p.users {
		b := &res.buckets[bucketOf(len(p.history[u]))]
		b.Users++
		b.NDCG += vals[i*len(sums)+ndcgAt]
	}
	for b := range res.buckets {
		if res.buckets[b].Users > 0 {
			res.buckets[b].NDCG /= float64(res.buckets[b].Users)
		}
	}
	rankable := p.items
	if p.allowed != nil {
		rankable = len(p.allowed)
	}
	for ki, k := range p.ks {
		for mi, m := range perUser {
			v := 0.0
			if n > 0 {
				v = sums[ki*len(perUser)+mi] / float64(n)
			}
			res.metrics[Key(m, k)] = v
		}
		res.metrics[Key(MetricCoverage, k)] = coverage(tops, k, p.items, rankable)
	}
	return res, nil
}

// userMetrics writes recall, NDCG, HR and MRR at each k of ks for one
// ranked list into out, len(perUser) values per k.
func userMetrics(list, target []int32, ks []int, out []float64) {
	if len(target) == 0 {
		return
	}
	for ki, k := range ks {
		var hits int
		var dcg, rr float64
		for r, it := range list[:min(k, len(list))] {
			if _, ok := slices.BinarySearch(target, it); ok {
				hits++
				dcg += 1 / math.Log2(float64(r)+2)
				if rr == 0 {
					rr = 1 / float64(r+1)
				}
			}
		}
		var idcg float64
		for r := range min(len(target), k) {
			idcg += 1 / math.Log2(float64(r)+2)
		}
		o := out[ki*len(perUser):]
		o[0] = float64(hits) / float64(len(target))
		o[1] = dcg / idcg
		if hits > 0 {
			o[2] = 1
		}
		o[3] = rr
	}
}

// coverage returns the share of the rankable items that appear in at least
// one top-k list.
func coverage(tops [][]int32, k, items, rankable int) float64 {
	if rankable == 0 {
		return 0
	}
	seen := make([]bool, items)
	distinct := 0
	for _, list := range tops {
		for _, it := range list[:min(k, len(list))] {
			if !seen[it] {
				seen[it] = true
				distinct++
			}
		}
	}
	return float64(distinct) / float64(rankable)
}

// ranker selects the best items of a score vector. Higher scores come
// first and items scored -Inf or NaN (excluded ones) are never selected.
// Ties are broken by a hash of the user and the item, not by item index:
// catalogue order often follows age or popularity, and a model that
// scores many items alike (pop or ItemKNN on never-seen items) would
// otherwise be credited with it.
type ranker struct {
	scores []float32 // of the user being ranked, by item
	heap   *topk.Of[int32]
	salt   uint64
}

// better reports whether item a ranks above item b.
func (r *ranker) better(a, b int32) bool {
	if r.scores[a] != r.scores[b] {
		return r.scores[a] > r.scores[b]
	}
	ha, hb := mix(r.salt^uint64(a)), mix(r.salt^uint64(b))
	if ha != hb {
		return ha > hb
	}
	return a < b
}

// top returns the best k items of r.scores for user u, best first, in a
// new slice.
func (r *ranker) top(u int32, k int) []int32 {
	if r.heap == nil {
		r.heap = topk.NewOf(k, r.better)
	}
	scores := r.scores
	r.salt = mix(uint64(u) + 0x746965) // "tie"
	h := r.heap
	h.Reset(k)
	for i, s := range scores {
		if s != s || math.IsInf(float64(s), -1) {
			continue
		}
		// Most items score below the worst kept: turn them away before
		// the call.
		if h.Full() && s < scores[h.Worst()] {
			continue
		}
		h.Push(int32(i))
	}
	return h.Sorted()
}
