package eval

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/duetrec/duet/tower"
)

// BPR is matrix factorisation trained with the Bayesian personalised
// ranking loss (Rendle et al., 2009): SGD on −ln σ(x̂ui − x̂uj) for a
// training pair (u, i) and an item j drawn uniformly among the items u has
// not used, with L2 regularisation. x̂ui = pu·qi + bi.
//
// Training is single-threaded: with one random stream the model depends on
// nothing but Seed and the data, and a lock-free parallel version would
// have its workers write the same item rows at once. MovieLens-small
// trains in a few seconds anyway.
type BPR struct {
	// Dim is the factor dimension (default 64).
	Dim int
	// LearnRate, Reg and Epochs are the SGD settings (defaults 0.05, 0.01
	// and 30). An epoch is as many steps as there are training pairs.
	LearnRate, Reg float64
	Epochs         int
	Seed           uint64
	// Grid lists the settings Candidates tries; nil means the defaults
	// for Dim and Seed crossed with learning rates 0.05 and 0.1 and
	// regularisation 0.001 and 0.01.
	Grid []BPRParams

	dim  int
	user []float32 // users×dim
	item []float32 // items×dim
	bias []float32
}

// BPRParams is one setting of BPR's SGD.
type BPRParams struct {
	LearnRate, Reg float64
	Epochs         int
}

// Name returns "bpr".
func (m *BPR) Name() string { return "bpr" }

// Params returns the settings.
func (m *BPR) Params() map[string]any {
	d := m.defaults()
	return map[string]any{"dim": d.Dim, "learn_rate": d.LearnRate, "reg": d.Reg, "epochs": d.Epochs, "seed": d.Seed}
}

// Candidates returns one model per setting of the grid.
func (m *BPR) Candidates() []Recommender {
	grid := m.Grid
	if grid == nil {
		d := m.defaults()
		grid = uniq(BPRParams{d.LearnRate, d.Reg, d.Epochs},
			BPRParams{0.05, 0.001, 30}, BPRParams{0.05, 0.01, 30},
			BPRParams{0.1, 0.001, 30}, BPRParams{0.1, 0.01, 30})
	}
	out := make([]Recommender, len(grid))
	for i, p := range grid {
		out[i] = &BPR{Dim: m.Dim, LearnRate: p.LearnRate, Reg: p.Reg, Epochs: p.Epochs, Seed: m.Seed}
	}
	return out
}

func (m *BPR) defaults() BPR {
	d := BPR{Dim: m.Dim, LearnRate: m.LearnRate, Reg: m.Reg, Epochs: m.Epochs, Seed: m.Seed}
	if d.Dim == 0 {
		d.Dim = 64
	}
	if d.LearnRate == 0 {
		d.LearnRate = 0.05
	}
	if d.Reg == 0 {
		d.Reg = 0.01
	}
	if d.Epochs == 0 {
		d.Epochs = 30
	}
	return d
}

// Fit trains the factors from scratch.
func (m *BPR) Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	d := m.defaults()
	if d.Dim < 1 || d.Epochs < 1 || !(d.LearnRate > 0) || d.Reg < 0 {
		return fmt.Errorf("bpr: bad settings: dim %d, epochs %d, learning rate %v, regularisation %v", d.Dim, d.Epochs, d.LearnRate, d.Reg)
	}
	nItems, dim := len(ds.Items), d.Dim
	r := rand.New(rand.NewPCG(d.Seed, 0x627072)) // "bpr"
	m.dim = dim
	m.user = make([]float32, len(train)*dim)
	m.item = make([]float32, nItems*dim)
	m.bias = make([]float32, nItems)
	for i := range m.item {
		m.item[i] = float32(r.NormFloat64() * 0.1)
	}
	type pair struct{ u, i int32 }
	var pairs []pair
	seen := make([][]int32, len(train)) // sorted, for the negative draw
	for u, h := range train {
		if len(h) == 0 {
			continue // no data: the user's vector stays zero and scores are the biases
		}
		for k := range dim {
			m.user[u*dim+k] = float32(r.NormFloat64() * 0.1)
		}
		seen[u] = slices.Sorted(slices.Values(h))
		for _, it := range h {
			pairs = append(pairs, pair{int32(u), it})
		}
	}
	if len(pairs) == 0 || nItems < 2 {
		return nil
	}
	lr, reg := float32(d.LearnRate), float32(d.Reg)
	pu0 := make([]float32, dim)
	for epoch := range d.Epochs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bpr: epoch %d: %w", epoch, err)
		}
		for range len(pairs) {
			p := pairs[r.IntN(len(pairs))]
			if len(seen[p.u]) >= nItems {
				continue
			}
			j := int32(r.IntN(nItems))
			for {
				if _, used := slices.BinarySearch(seen[p.u], j); !used {
					break
				}
				j = int32(r.IntN(nItems))
			}
			pu := m.user[int(p.u)*dim : int(p.u+1)*dim]
			qi := m.item[int(p.i)*dim : int(p.i+1)*dim]
			qj := m.item[int(j)*dim : int(j+1)*dim]
			x := m.bias[p.i] - m.bias[j]
			for k := range dim {
				x += pu[k] * (qi[k] - qj[k])
			}
			g := float32(1 / (1 + math.Exp(float64(x)))) // σ(−x)
			copy(pu0, pu)
			for k := range dim {
				pu[k] += lr * (g*(qi[k]-qj[k]) - reg*pu[k])
				qi[k] += lr * (g*pu0[k] - reg*qi[k])
				qj[k] += lr * (-g*pu0[k] - reg*qj[k])
			}
			m.bias[p.i] += lr * (g - reg*m.bias[p.i])
			m.bias[j] += lr * (-g - reg*m.bias[j])
		}
	}
	return nil
}

// Score is the user's factor times every item's, plus the item's bias. A
// user outside training gets the biases alone.
func (m *BPR) Score(user int32, _ []int32, scores []float32) {
	dim := m.dim
	if len(scores) != len(m.bias) {
		return // not fitted, or fitted on another catalogue
	}
	var pu []float32
	if user >= 0 && int(user) < len(m.user)/max(dim, 1) {
		pu = m.user[int(user)*dim : int(user+1)*dim]
	}
	for i := range scores {
		s := m.bias[i]
		if pu != nil {
			q := m.item[i*dim : (i+1)*dim]
			for k, v := range pu {
				s += v * q[k]
			}
		}
		scores[i] = s
	}
}
