package tower_test

import (
	"math"
	"sync"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/vec"
	"github.com/duetrec/duet/tower"
)

// genDataset generates a synthetic catalog and log and reads it back.
func genDataset(t testing.TB, items, users int, seed uint64) *tower.Dataset {
	t.Helper()
	ds, _ := tower.Generated(t, content.GenOptions{Items: items, Users: users, Seed: seed})
	return ds
}

var (
	smallOnce sync.Once
	smallDS   *tower.Dataset
)

// smallDataset is the 300-item, 400-user generated set several tests share.
func smallDataset(t testing.TB) *tower.Dataset {
	smallOnce.Do(func() { smallDS = genDataset(t, 300, 400, 1) })
	return smallDS
}

// split is a leave-last-out split: the last item of each user (with at
// least three) is the test item, the one before it validation.
type split struct {
	train [][]int32
	val   []tower.ValPair
	test  []tower.ValPair // History: everything before the test item
}

func leaveLastOut(ds *tower.Dataset) split {
	var sp split
	sp.train = make([][]int32, len(ds.History))
	for u, h := range ds.History {
		ids := make([]int32, len(h))
		for k, x := range h {
			ids[k] = x.Item
		}
		if len(ids) < 3 {
			sp.train[u] = ids
			continue
		}
		n := len(ids)
		sp.train[u] = ids[:n-2]
		sp.val = append(sp.val, tower.ValPair{User: int32(u), History: ids[:n-2], Item: ids[n-2]})
		sp.test = append(sp.test, tower.ValPair{User: int32(u), History: ids[:n-1], Item: ids[n-1]})
	}
	return sp
}

// rankOf returns the 0-based rank of pair.Item among all items by score,
// the history excluded.
func rankOf(scores []float32, p tower.ValPair) int {
	seen := make(map[int32]bool, len(p.History))
	for _, h := range p.History {
		seen[h] = true
	}
	st := scores[p.Item]
	r := 0
	for j, s := range scores {
		if s > st && !seen[int32(j)] && int32(j) != p.Item {
			r++
		}
	}
	return r
}

// metrics returns Recall@k and NDCG@k of one held-out item per pair.
func metrics(pairs []tower.ValPair, k int, score func(p tower.ValPair, scores []float32) []float32) (recall, ndcg float64) {
	var scores []float32
	for _, p := range pairs {
		scores = score(p, scores)
		if r := rankOf(scores, p); r < k {
			recall++
			ndcg += 1 / math.Log2(float64(r)+2)
		}
	}
	return recall / float64(len(pairs)), ndcg / float64(len(pairs))
}

func modelScorer(m *tower.Model) func(tower.ValPair, []float32) []float32 {
	n := m.NumItems()
	iv := make([]float32, n*m.Dim())
	for i := range n {
		m.ItemVectorByIndex(int32(i), iv[i*m.Dim():(i+1)*m.Dim()])
	}
	return func(p tower.ValPair, scores []float32) []float32 {
		u := m.UserVector(p.History, nil)
		scores = append(scores[:0], make([]float32, n)...)
		vec.MatVec(scores, iv, u)
		return scores
	}
}

func popularityScorer(ds *tower.Dataset, train [][]int32) func(tower.ValPair, []float32) []float32 {
	pop := make([]float32, len(ds.Items))
	for _, h := range train {
		for _, i := range h {
			pop[i]++
		}
	}
	return func(_ tower.ValPair, scores []float32) []float32 { return append(scores[:0], pop...) }
}

func evalModel(m *tower.Model, pairs []tower.ValPair) (float64, float64) {
	return metrics(pairs, 10, modelScorer(m))
}
