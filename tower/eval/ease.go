package eval

import (
	"context"
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/duetrec/duet/tower"
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

	n int
	b []float32 // n×n, row-major
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

// Fit solves for B. With fewer users than items it takes the dual form
// (Woodbury): λP = I − Xᵀ(XXᵀ + λI)⁻¹X, a users×users system instead of
// an items×items one, which is exact and turns MovieLens-small (610 users,
// 9742 items) from minutes into seconds; B's formula is unchanged by the
// factor λ. Otherwise it inverts XᵀX + λI by Cholesky factorisation, which
// the λ on the diagonal always permits. ctx is checked between the stages,
// not inside a factorisation: a cancelled fit ends when the current stage
// does.
func (m *EASE) Fit(ctx context.Context, ds *tower.Dataset, train [][]int32) error {
	n := len(ds.Items)
	limit := m.MaxItems
	if limit == 0 {
		limit = DefaultEASEMaxItems
	}
	if n > limit {
		return fmt.Errorf("ease: %d items, more than the limit of %d: %w", n, limit, ErrSkip)
	}
	if !(m.Lambda > 0) {
		return fmt.Errorf("ease: lambda %v is not positive", m.Lambda)
	}
	if n == 0 {
		m.n, m.b = 0, nil
		return nil
	}
	users := 0
	for _, h := range train {
		if len(h) > 0 {
			users++
		}
	}
	var p *mat.SymDense
	var err error
	if users < n {
		p, err = easeDual(ctx, n, users, train, m.Lambda)
	} else {
		p, err = easeInverse(ctx, n, train, m.Lambda)
	}
	if err != nil {
		return err
	}
	raw := p.RawSymmetric()
	at := func(i, j int) float64 { // the upper triangle holds the matrix
		if i > j {
			i, j = j, i
		}
		return raw.Data[i*raw.Stride+j]
	}
	b := make([]float32, n*n)
	for i := range n {
		row := b[i*n : (i+1)*n]
		for j := range n {
			if i != j {
				row[j] = float32(-at(i, j) / at(j, j))
			}
		}
	}
	m.n, m.b = n, b
	return ctx.Err()
}

// easeInverse returns P = (XᵀX + λI)⁻¹.
func easeInverse(ctx context.Context, n int, train [][]int32, lambda float64) (*mat.SymDense, error) {
	g := mat.NewSymDense(n, nil)
	raw := g.RawSymmetric()
	for _, h := range train {
		for _, i := range h {
			for _, j := range h {
				if i <= j {
					raw.Data[int(i)*raw.Stride+int(j)]++
				}
			}
		}
	}
	for i := range n {
		raw.Data[i*raw.Stride+i] += lambda
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var c mat.Cholesky
	if !c.Factorize(g) {
		return nil, errors.New("ease: Gram matrix is not positive definite")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var p mat.SymDense
	if err := c.InverseTo(&p); err != nil {
		return nil, fmt.Errorf("ease: invert: %w", err)
	}
	return &p, nil
}

// easeDual returns λP = I − Xᵀ(XXᵀ + λI)⁻¹X over the users with training
// items. With XXᵀ + λI = UᵀU and Y = U⁻ᵀX, Xᵀ(XXᵀ + λI)⁻¹X = YᵀY.
func easeDual(ctx context.Context, n, users int, train [][]int32, lambda float64) (*mat.SymDense, error) {
	x := mat.NewDense(users, n, nil)
	r := 0
	for _, h := range train {
		if len(h) == 0 {
			continue
		}
		row := x.RawRowView(r)
		for _, it := range h {
			row[it] = 1
		}
		r++
	}
	k := mat.NewSymDense(users, nil)
	k.SymOuterK(1, x)
	for i := range users {
		k.SetSym(i, i, k.At(i, i)+lambda)
	}
	var c mat.Cholesky
	if !c.Factorize(k) {
		return nil, errors.New("ease: user Gram matrix is not positive definite")
	}
	var u, uinv mat.TriDense
	c.UTo(&u)
	if err := uinv.InverseTri(&u); err != nil {
		return nil, fmt.Errorf("ease: invert: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var y mat.Dense
	y.Mul(uinv.T(), x)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := mat.NewSymDense(n, nil)
	p.SymOuterK(1, y.T())
	raw := p.RawSymmetric()
	for i := range n {
		row := raw.Data[i*raw.Stride : i*raw.Stride+n]
		for j := i; j < n; j++ {
			row[j] = -row[j]
		}
		row[i]++
	}
	return p, nil
}

// Score sums the rows of B of the history items.
func (m *EASE) Score(_ int32, history []int32, scores []float32) {
	if len(scores) != m.n {
		return // not fitted, or fitted on another catalogue
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
