package tower

import (
	"context"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/vec"
)

// TestRecall_SameAsOneUserAtATime holds recall, which scores blocks of
// users against every item in one product from shared input sums, to the
// recall of one user at a time through the model's public vectors: each
// held-out item's rank among the items outside the user's history.
func TestRecall_SameAsOneUserAtATime(t *testing.T) {
	ctx := context.Background()
	ds, _ := generated(t, content.GenOptions{Items: 300, Users: 90, Seed: 5})
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"recency", Config{Dim: 16, Buckets: 1 << 10, Workers: 2, Epochs: 2, HistoryLen: 10}},
		{"mean whole history", Config{Dim: 16, Buckets: 1 << 10, Workers: 2, Epochs: 2, Encoder: EncoderMean, WholeHistory: true}},
		{"attention with user ids", Config{Dim: 16, Buckets: 1 << 10, Workers: 2, Epochs: 2, Encoder: EncoderAttention, HistoryLen: 10, UserID: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fit, val := HoldOutLast(ds)
			m, err := Train(ctx, ds, fit, nil, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Some cases of an unknown user, and an empty history.
			val = append(val, ValPair{User: -1, History: val[0].History, Item: val[0].Item}, ValPair{User: -1, Item: 3})
			for _, k := range []int{1, 10, 50} {
				got, err := m.recall(ctx, val, k, 2)
				if err != nil {
					t.Fatal(err)
				}
				d, n := m.Dim(), len(ds.Items)
				iv := make([]float32, n*d)
				for i := range n {
					m.ItemVectorByIndex(int32(i), iv[i*d:(i+1)*d])
				}
				hits := 0
				u := make([]float32, d)
				for _, v := range val {
					if v.User >= 0 {
						m.UserVectorID(ds.Users[v.User], v.History, u)
					} else {
						m.UserVector(v.History, u)
					}
					seen := map[int32]bool{}
					for _, h := range v.History {
						seen[h] = true
					}
					st := vec.Dot(iv[int(v.Item)*d:int(v.Item+1)*d], u)
					rank := 0
					for j := range n {
						if s := vec.Dot(iv[j*d:(j+1)*d], u); s > st+1e-5 && !seen[int32(j)] && int32(j) != v.Item {
							rank++
						}
					}
					if rank < k {
						hits++
					}
				}
				want := float64(hits) / float64(len(val))
				// Scores summed in another order may order near-ties
				// otherwise: a case or two of slack.
				if diff := got - want; diff < -2.0/float64(len(val)) || diff > 2.0/float64(len(val)) {
					t.Errorf("k %d: recall %.4f, one user at a time %.4f", k, got, want)
				}
				if got == 0 || got == 1 && k < 50 {
					t.Errorf("k %d: recall %.4f tells nothing", k, got)
				}
			}
		})
	}
}
