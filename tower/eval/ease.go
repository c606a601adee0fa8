package eval

import (
	"context"
	"fmt"

	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
)

// DefaultEASEMaxItems is the catalogue size above which EASE declines: its
// fit inverts a dense item×item matrix, O(items³) time and O(items²)
// memory (20000 items: three 3.2 GB matrices and tens of minutes).
const DefaultEASEMaxItems = 20000

// EASE is the closed-form linear item-item model of Steck (2019):
// B = I − P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹ over the binary
// user×item training matrix X, so B has a zero diagonal. A user's scores
// are the sum of the rows of B of the history items.
type EASE struct {
	// Lambda is the L2 regularisation.
	Lambda float64
	// Grid lists the values of Lambda Candidates tries (nil: Lambda,
	// then 50, 100, 250, 500, 1000).
	Grid []float64
	// MaxItems is the largest catalogue Fit accepts (0:
	// DefaultEASEMaxItems); beyond it Fit returns ErrSkip.
	MaxItems int

	n   int
	b   []float32       // n×n, row-major
	low *cf.LowRankEASE // instead of b with fewer users than items
}

// Name returns "ease".
func (m *EASE) Name() string { return "ease" }

// Params returns λ.
func (m *EASE) Params() map[string]any { return map[string]any{"lambda": m.Lambda} }

// Candidates returns one model per λ of the grid.
func (m *EASE) Candidates() []Recommender {
	grid := m.Grid
	if grid == nil {
		grid = uniq(m.Lambda, 50, 100, 250, 500, 1000)
	}
	out := make([]Recommender, len(grid))
	for i, l := range grid {
		out[i] = &EASE{Lambda: l, MaxItems: m.MaxItems}
	}
	return out
}

// Fit solves for B (cf.EASEWeights), or with fewer users than items for
// its low-rank form (cf.EASELowRank), which gives the same scores without
// forming the items×items matrix.
func (m *EASE) Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	n := len(ds.Items)
	limit := m.MaxItems
	if limit == 0 {
		limit = DefaultEASEMaxItems
	}
	if n > limit {
		return fmt.Errorf("ease: %d items, more than the limit of %d: %w", n, limit, ErrSkip)
	}
	m.n, m.b, m.low = 0, nil, nil
	low, ok, err := cf.EASELowRank(ctx, n, train, m.Lambda)
	if err != nil {
		return err
	}
	if ok {
		m.n, m.low = n, low
		return nil
	}
	b, err := cf.EASEWeights(ctx, n, train, m.Lambda)
	if err != nil {
		return err
	}
	m.n, m.b = n, b
	return nil
}

// Score sums the rows of B of the history items.
func (m *EASE) Score(_ int32, history []int32, scores []float32) {
	if len(scores) != m.n {
		return // not fitted, or fitted on another catalogue
	}
	if m.low != nil {
		valid := make([]int32, 0, len(history))
		for _, h := range history {
			if h >= 0 && int(h) < m.n {
				valid = append(valid, h)
			}
		}
		m.low.Scores(valid, scores)
		return
	}
	for _, h := range history {
		if h < 0 || int(h) >= m.n {
			continue
		}
		row := m.b[int(h)*m.n : (int(h)+1)*m.n]
		for j, v := range row {
			scores[j] += v
		}
	}
}
