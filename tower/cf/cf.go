// Package cf computes item-to-item collaborative neighbour lists from
// interactions: for every item, the items that go with it, each with a
// weight, so that a user's score for an item is the sum of the weights
// from the items in their history. Two models make them:
//
//   - EASE (Steck, 2019), the closed-form linear item-item model: exact
//     and strong, but its fit inverts a dense items×items (or users×users)
//     matrix, so it suits catalogues of up to a few tens of thousands of
//     items;
//   - co-occurrence cosine (ItemKNN): co-occurrences / (√(users of i ·
//     users of j) + shrink), sparse, for catalogues of any size.
//
// The lists keep each item's best N neighbours (Lists); the evaluation's
// EASE baseline keeps the whole dense matrix (EASEWeights) or, with fewer
// users than items, its factor (LowRankEASE), which Fit also keeps for
// serving exact scores when the users are few enough (Fitted.Exact).
package cf

import (
	"context"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"

	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/topk"
	"github.com/duetrec/duet/internal/vec"
)

// Lists are neighbour lists in compressed rows: item i's neighbours are
// Items[Offsets[i]:Offsets[i+1]], best first, with their Weights.
type Lists struct {
	Offsets []int64 // len n+1
	Items   []int32
	Weights []float32
}

// Len is the number of items.
func (l *Lists) Len() int { return max(len(l.Offsets)-1, 0) }

// Row returns item i's neighbours and their weights.
func (l *Lists) Row(i int) ([]int32, []float32) {
	lo, hi := l.Offsets[i], l.Offsets[i+1]
	return l.Items[lo:hi], l.Weights[lo:hi]
}

// Score adds, for every history item, its weight to each of its
// neighbours into scores (of length Len).
func (l *Lists) Score(history []int32, scores []float32) {
	for _, h := range history {
		if h < 0 || int(h) >= l.Len() {
			continue
		}
		items, ws := l.Row(int(h))
		for k, j := range items {
			scores[j] += ws[k]
		}
	}
}

// Bytes is the memory the lists take.
func (l *Lists) Bytes() int64 {
	return int64(8*len(l.Offsets) + 4*len(l.Items) + 4*len(l.Weights))
}

// build assembles Lists from per-item rows.
func build(items [][]int32, weights [][]float32) *Lists {
	l := &Lists{Offsets: make([]int64, len(items)+1)}
	for i, row := range items {
		l.Offsets[i+1] = l.Offsets[i] + int64(len(row))
	}
	l.Items = make([]int32, 0, l.Offsets[len(items)])
	l.Weights = make([]float32, 0, l.Offsets[len(items)])
	for i := range items {
		l.Items = append(l.Items, items[i]...)
		l.Weights = append(l.Weights, weights[i]...)
	}
	return l
}

// best returns the k highest-weighted of the candidates (ties to the
// lower item), best first, using h as scratch; k ≤ 0 keeps all, sorted.
func best(h *topk.KeyHeap[float32, int32], items []int32, ws []float32, k int) ([]int32, []float32) {
	if k <= 0 || k > len(items) {
		k = len(items)
	}
	h.Reset(k)
	for p, it := range items {
		h.Push(topk.Keyed[float32, int32]{Score: ws[p], Key: it})
	}
	kept := h.Sorted()
	nb := make([]int32, len(kept))
	sm := make([]float32, len(kept))
	for i, s := range kept {
		nb[i], sm[i] = s.Key, s.Score
	}
	return nb, sm
}

// Cooccurrence returns, for each of n items, its top neighbours by cosine
// similarity over the binary user×item matrix of train (train[u] is user
// u's distinct items): co-occurrences / (√(users of i · users of j) +
// shrink). top ≤ 0 keeps every item with a co-occurrence. Items are
// shared among cores.
func Cooccurrence(ctx context.Context, n int, train [][]int32, shrink float64, top int) (*Lists, error) {
	if shrink < 0 {
		return nil, fmt.Errorf("cooccurrence: shrink %v is negative", shrink)
	}
	users, err := itemUsers(n, train)
	if err != nil {
		return nil, fmt.Errorf("cooccurrence: %w", err)
	}
	nbr := make([][]int32, n)
	sim := make([][]float32, n)
	workers := parallel.Workers(0, n)
	scr := make([]coScratch, workers)
	err = parallel.For(ctx, n, workers, func(w, i int) error {
		sc := &scr[w]
		touched, co := sc.gather(n, i, users, train)
		var nb []int32
		var sm []float32
		ni := float64(len(users[i]))
		for _, j := range touched {
			if int(j) != i {
				s := float64(co[j]) / (math.Sqrt(ni*float64(len(users[j]))) + shrink)
				nb = append(nb, j)
				sm = append(sm, float32(s))
			}
		}
		sc.clear()
		if top > 0 && len(nb) > top {
			nb, sm = best(&sc.heap, nb, sm, top)
		}
		nbr[i], sim[i] = nb, sm
		return nil
	})
	if err != nil {
		return nil, err
	}
	return build(nbr, sim), nil
}

// Sequence returns, for each of n items, the items that followed it in
// the histories of train (train[u] is user u's distinct items, oldest
// first): an item k places after another adds 1/k to the pair, for k up to
// window, and each item keeps its top heaviest followers. The lists are
// directed, unlike EASE's and co-occurrence's: what users go on to, not
// what goes with. On MovieLens's leave-last-out split they alone score
// 1.5–1.8 times EASE's NDCG@10 at the next item (docs/EVALUATION.md).
func Sequence(ctx context.Context, n int, train [][]int32, window, top int) (*Lists, error) {
	if window < 1 {
		return nil, fmt.Errorf("sequence: window %d is not positive", window)
	}
	l, err := windowed(ctx, n, train, window, top, false)
	if err != nil {
		return nil, fmt.Errorf("sequence: %w", err)
	}
	return l, nil
}

// Nearby returns, for each of n items, the items met within window places
// of it, before or after, in the histories of train (train[u] is user u's
// distinct items, oldest first), by cosine: the pairs met that close /
// √(users of i · users of j); each item keeps its top best. Co-occurrence
// over whole histories counts a pair met years apart as one met in the
// same evening; on MovieLens the pairs met close together are the better
// evidence of what goes with what: summed over a whole history these
// lists find a random fifth of held-out items better than co-occurrence
// over whole histories (NDCG@10 0.34 against 0.27, within five places),
// and beside EASE they add 2.5–3.6% to it (docs/EVALUATION.md).
func Nearby(ctx context.Context, n int, train [][]int32, window, top int) (*Lists, error) {
	if window < 1 {
		return nil, fmt.Errorf("nearby: window %d is not positive", window)
	}
	l, err := windowed(ctx, n, train, window, top, true)
	if err != nil {
		return nil, fmt.Errorf("nearby: %w", err)
	}
	return l, nil
}

// windowed makes Sequence's lists (what followed each item, an item k
// places after it adding 1/k) or, nearby, Nearby's (what was met within
// window places either side, each pair counting 1, over the square root
// of both items' users).
func windowed(ctx context.Context, n int, train [][]int32, window, top int, nearby bool) (*Lists, error) {
	type at struct{ user, pos int32 }
	occ := make([][]at, n) // where each item occurs
	for u, h := range train {
		for t, it := range h {
			if it < 0 || int(it) >= n {
				return nil, fmt.Errorf("user %d: item %d out of range [0, %d)", u, it, n)
			}
			occ[it] = append(occ[it], at{int32(u), int32(t)})
		}
	}
	nbr := make([][]int32, n)
	ws := make([][]float32, n)
	workers := parallel.Workers(0, n)
	scr := make([]coScratch, workers)
	err := parallel.For(ctx, n, workers, func(w, i int) error {
		sc := &scr[w]
		if sc.co == nil {
			sc.co = make([]float32, n)
		}
		touched := sc.touched[:0]
		add := func(j int32, v float32) {
			if sc.co[j] == 0 {
				touched = append(touched, j)
			}
			sc.co[j] += v
		}
		for _, o := range occ[i] {
			h, t := train[o.user], int(o.pos)
			for k := 1; k <= window; k++ {
				if t+k < len(h) {
					if nearby {
						add(h[t+k], 1)
					} else {
						add(h[t+k], 1/float32(k))
					}
				}
				if nearby && t-k >= 0 {
					add(h[t-k], 1)
				}
			}
		}
		sc.touched = touched
		var nb []int32
		var wt []float32
		for _, j := range touched {
			if int(j) == i {
				continue
			}
			v := sc.co[j]
			if nearby {
				v /= float32(math.Sqrt(float64(len(occ[i])) * float64(len(occ[j]))))
			}
			nb = append(nb, j)
			wt = append(wt, v)
		}
		sc.clear()
		nbr[i], ws[i] = best(&sc.heap, nb, wt, top)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return build(nbr, ws), nil
}

// itemUsers returns the users of each of n items, checking train's items
// against n.
func itemUsers(n int, train [][]int32) ([][]int32, error) {
	users := make([][]int32, n)
	for u, h := range train {
		for _, it := range h {
			if it < 0 || int(it) >= n {
				return nil, fmt.Errorf("user %d: item %d out of range [0, %d)", u, it, n)
			}
			users[it] = append(users[it], int32(u))
		}
	}
	return users, nil
}

// coScratch is a worker's scratch for finding the items that share a user
// with an item.
type coScratch struct {
	co      []float32 // co-occurrences with the item, by item
	touched []int32   // the items with a nonzero co
	heap    topk.KeyHeap[float32, int32]
}

// gather returns the items sharing a user with item i (i among them) and
// the co-occurrence counts, by item; clear must be called before the next
// gather.
func (sc *coScratch) gather(n, i int, users, train [][]int32) ([]int32, []float32) {
	if sc.co == nil {
		sc.co = make([]float32, n)
	}
	touched := sc.touched[:0]
	for _, u := range users[i] {
		for _, j := range train[u] {
			if sc.co[j] == 0 {
				touched = append(touched, j)
			}
			sc.co[j]++
		}
	}
	sc.touched = touched
	return touched, sc.co
}

// clear zeroes the counts of the last gather.
func (sc *coScratch) clear() {
	for _, j := range sc.touched {
		sc.co[j] = 0
	}
}

// EASE returns, for each of n items, its top neighbours by EASE weight
// (see EASEWeights): the top entries of row i of B largest in magnitude,
// best first by magnitude. Negative weights are kept: they push items down
// as they do in the dense model, and dropping them cost 2–3% of NDCG@10
// on MovieLens.
//
// With fewer users than items B is never formed (see LowRankEASE): row
// i's weights are computed for the items that share a user with i alone.
// The others' weights are second-order — λP's off-diagonal is the
// co-occurrence count less what flows through other users' items — and
// skipping them turns the items² × users of forming B into co-occurring
// pairs × users (on a 17,600-item catalogue with 1,900 users, minutes
// and gigabytes into seconds and the factor's 134 MB).
func EASE(ctx context.Context, n int, train [][]int32, lambda float64, top int) (*Lists, error) {
	l, _, err := easeFit(ctx, n, train, lambda, top)
	return l, err
}

// easeFit is EASE, also returning the factor when it took the dual form.
func easeFit(ctx context.Context, n int, train [][]int32, lambda float64, top int) (*Lists, *LowRankEASE, error) {
	low, ok, err := EASELowRank(ctx, n, train, lambda)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		l, err := low.lists(ctx, train, top)
		return l, low, err
	}
	b, err := EASEWeights(ctx, n, train, lambda)
	if err != nil {
		return nil, nil, err
	}
	nbr := make([][]int32, n)
	ws := make([][]float32, n)
	workers := parallel.Workers(0, n)
	heaps := make([]topk.KeyHeap[float32, int32], workers)
	all := make([]int32, n)
	for j := range all {
		all[j] = int32(j)
	}
	absRows := make([][]float32, workers)
	err = parallel.For(ctx, n, workers, func(w, i int) error {
		if absRows[w] == nil {
			absRows[w] = make([]float32, n)
		}
		nbr[i], ws[i] = strongest(&heaps[w], all, b[i*n:(i+1)*n], absRows[w], top)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return build(nbr, ws), nil, nil
}

// strongest returns the top of the candidates by the magnitude of their
// weight in row (indexed by item), their weights, zeros dropped; abs is
// scratch as long as the candidates.
func strongest(h *topk.KeyHeap[float32, int32], cands []int32, row, abs []float32, top int) ([]int32, []float32) {
	abs = abs[:len(cands)]
	for k, j := range cands {
		abs[k] = float32(math.Abs(float64(row[j])))
	}
	nb, _ := best(h, cands, abs, top)
	for len(nb) > 0 && row[nb[len(nb)-1]] == 0 {
		nb = nb[:len(nb)-1]
	}
	wt := make([]float32, len(nb))
	for k, j := range nb {
		wt[k] = row[j]
	}
	return nb, wt
}

// lists returns EASE's lists from the factor, each item's weights computed
// for the items sharing a user with it (see EASE).
func (m *LowRankEASE) lists(ctx context.Context, train [][]int32, top int) (*Lists, error) {
	n := m.N
	users, err := itemUsers(n, train)
	if err != nil {
		return nil, fmt.Errorf("ease: %w", err)
	}
	nbr := make([][]int32, n)
	ws := make([][]float32, n)
	workers := parallel.Workers(0, n)
	type scratch struct {
		co       coScratch
		cands    []int32
		row, abs []float32
	}
	scr := make([]scratch, workers)
	err = parallel.For(ctx, n, workers, func(w, i int) error {
		sc := &scr[w]
		if sc.row == nil {
			sc.row, sc.abs = make([]float32, n), make([]float32, n)
		}
		touched, _ := sc.co.gather(n, i, users, train)
		yi := m.YT[i*m.K : (i+1)*m.K]
		cands := sc.cands[:0]
		for _, j := range touched {
			if int(j) != i {
				sc.row[j] = vec.Dot(yi, m.YT[int(j)*m.K:(int(j)+1)*m.K]) / m.D[j]
				cands = append(cands, j)
			}
		}
		sc.co.clear()
		sc.cands = cands
		nbr[i], ws[i] = strongest(&sc.co.heap, cands, sc.row, sc.abs, top)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return build(nbr, ws), nil
}

// EASEWeights solves EASE for the binary user×item matrix X of train:
// B = I − P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹, so B has a zero
// diagonal; a user's scores are the sum of the rows of B of their items.
// It returns B, n×n row-major. With fewer users than items it takes the
// dual form (Woodbury): λP = I − Xᵀ(XXᵀ + λI)⁻¹X, a users×users system
// instead of an items×items one, which is exact and turns MovieLens-small
// (610 users, 9742 items) from minutes into seconds; B's formula is
// unchanged by the factor λ. Otherwise it inverts XᵀX + λI by Cholesky
// factorisation, which the λ on the diagonal always permits. ctx is
// checked between the stages, not inside a factorisation.
func EASEWeights(ctx context.Context, n int, train [][]int32, lambda float64) ([]float32, error) {
	if !(lambda > 0) {
		return nil, fmt.Errorf("ease: lambda %v is not positive", lambda)
	}
	if n == 0 {
		return nil, nil
	}
	users, err := easeUsers(n, train)
	if err != nil {
		return nil, err
	}
	var p *mat.SymDense
	if users < n {
		p, err = easeDual(ctx, n, users, train, lambda)
	} else {
		p, err = easeInverse(ctx, n, train, lambda)
	}
	if err != nil {
		return nil, err
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
	return b, ctx.Err()
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

// easeUsers checks train's items against the catalogue size n and counts
// the users with training items (the rows of X).
func easeUsers(n int, train [][]int32) (int, error) {
	users := 0
	for u, h := range train {
		for _, it := range h {
			if it < 0 || int(it) >= n {
				return 0, fmt.Errorf("ease: user %d: item %d out of range [0, %d)", u, it, n)
			}
		}
		if len(h) > 0 {
			users++
		}
	}
	return users, nil
}

// easeDual returns λP = I − Xᵀ(XXᵀ + λI)⁻¹X over the users with training
// items. With XXᵀ + λI = UᵀU and Y = U⁻ᵀX, Xᵀ(XXᵀ + λI)⁻¹X = YᵀY.
func easeDual(ctx context.Context, n, users int, train [][]int32, lambda float64) (*mat.SymDense, error) {
	yt, _, err := easeFactor(ctx, n, users, train, lambda)
	if err != nil {
		return nil, err
	}
	p := mat.NewSymDense(n, nil)
	p.SymOuterK(1, yt)
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

// LowRankEASE is EASE's B in the dual form, never formed: with λP =
// I − YᵀY (see EASEWeights), a history's summed rows of B are, for an item
// j, (z·Yⱼ − [j in the history]·‖Yⱼ‖²)/Dⱼ, where Yⱼ is column j of Y, z
// the sum of the history items' columns and Dⱼ = 1 − ‖Yⱼ‖².
//
// Scores does not read Y: with Y = U⁻ᵀX, z·Yⱼ = xⱼ·U⁻¹U⁻ᵀa, where a = Xh
// counts, per user, the history items they share, and xⱼ is item j's
// users. Two triangular products (users²) and one pass over X's entries
// cost a fraction of Yᵀz's users × items, which is what makes EASE usable
// beyond ten thousand items with few users, and exact scores cheap enough
// to serve with a few thousand.
type LowRankEASE struct {
	N, K int
	// YT is Yᵀ, N×K row-major, a row per item, for the lists; nil in a
	// factor made by NewLowRankEASE, which scores without it.
	YT []float32
	D  []float32 // N: the diagonal of λP
	// UInv is U⁻¹'s upper triangle packed by rows: row r holds columns r
	// to K−1 and starts at r·K − r(r−1)/2.
	UInv []float32
	// Users are, per item, its users (the rows of X), ascending.
	Users [][]int32
}

// NewLowRankEASE makes a factor from its parts (the fields of
// LowRankEASE, without YT), checking their shapes and values; the slices
// are kept, not copied.
func NewLowRankEASE(n, k int, d, uinv []float32, users [][]int32) (*LowRankEASE, error) {
	if n < 0 || k < 1 || len(d) != n || len(users) != n || len(uinv) != k*(k+1)/2 {
		return nil, fmt.Errorf("ease factor: %d items, %d users, %d diagonal entries, %d user lists, %d triangle entries", n, k, len(d), len(users), len(uinv))
	}
	for j, v := range d {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("ease factor: item %d: diagonal %v is not positive and finite", j, v)
		}
	}
	for p, v := range uinv {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("ease factor: triangle entry %d is %v", p, v)
		}
	}
	for j, us := range users {
		for p, u := range us {
			if u < 0 || int(u) >= k || p > 0 && u <= us[p-1] {
				return nil, fmt.Errorf("ease factor: item %d: users not ascending in [0, %d)", j, k)
			}
		}
	}
	return &LowRankEASE{N: n, K: k, D: d, UInv: uinv, Users: users}, nil
}

// EASELowRank solves EASE in the dual form (see EASEWeights) and returns
// its factor; ok is false when there are not fewer users than items, where
// the dual form saves nothing.
func EASELowRank(ctx context.Context, n int, train [][]int32, lambda float64) (m *LowRankEASE, ok bool, err error) {
	if !(lambda > 0) {
		return nil, false, fmt.Errorf("ease: lambda %v is not positive", lambda)
	}
	users, err := easeUsers(n, train)
	if err != nil {
		return nil, false, err
	}
	if users == 0 || users >= n {
		return nil, false, nil
	}
	yt, f, err := easeFactor(ctx, n, users, train, lambda)
	if err != nil {
		return nil, false, err
	}
	m = &LowRankEASE{N: n, K: users, YT: make([]float32, n*users), D: make([]float32, n), Users: f.byItem}
	m.UInv = make([]float32, 0, users*(users+1)/2)
	for r := range users {
		row := f.uinv.Data[r*f.uinv.Stride : r*f.uinv.Stride+users]
		for _, v := range row[r:] {
			m.UInv = append(m.UInv, float32(v))
		}
	}
	for j := range n {
		row := yt.RawRowView(j)
		out := m.YT[j*users : (j+1)*users]
		var sq float64
		for a, v := range row {
			out[a] = float32(v)
			sq += v * v
		}
		m.D[j] = float32(1 - sq)
	}
	return m, true, ctx.Err()
}

// row returns row r of U⁻¹ from its diagonal on.
func (m *LowRankEASE) row(r int) []float32 {
	at := r*m.K - r*(r-1)/2
	return m.UInv[at : at+m.K-r]
}

// Scores adds to scores (length N) the summed rows of B of the history
// items, which must be distinct.
func (m *LowRankEASE) Scores(history []int32, scores []float32) {
	m.ScoresWeighted(history, nil, scores)
}

// ScoresWeighted adds to scores (length N) the rows of B of the history
// items, history[i]'s scaled by weights[i] (all 1 when weights is nil),
// as a history's lists would sum them; items out of range add nothing.
func (m *LowRankEASE) ScoresWeighted(history []int32, weights []float32, scores []float32) {
	k := m.K
	weight := func(i int) float32 {
		if weights == nil {
			return 1
		}
		return weights[i]
	}
	a := make([]float32, k)
	for i, h := range history {
		if h < 0 || int(h) >= m.N {
			continue
		}
		w := weight(i)
		for _, u := range m.Users[h] {
			a[u] += w
		}
	}
	// z = U⁻ᵀa: row u of U⁻¹ scaled by a_u, from column u on.
	z := make([]float32, k)
	for u, au := range a {
		if au != 0 {
			vec.Axpy(au, m.row(u), z[u:])
		}
	}
	// w = U⁻¹z: row u of U⁻¹ against z, from column u on.
	for u := range k {
		a[u] = vec.Dot(m.row(u), z[u:])
	}
	for j, us := range m.Users {
		var s float32
		for _, u := range us {
			s += a[u]
		}
		scores[j] += s / m.D[j]
	}
	// ‖Yⱼ‖² = 1 − Dⱼ: B's diagonal is zero.
	for i, h := range history {
		if h >= 0 && int(h) < m.N {
			scores[h] -= weight(i) * (1 - m.D[h]) / m.D[h]
		}
	}
}

// Bytes is the memory the factor's scoring parts take (YT aside).
func (m *LowRankEASE) Bytes() int64 {
	b := int64(4*len(m.D) + 4*len(m.UInv) + 24*len(m.Users))
	for _, us := range m.Users {
		b += int64(4 * len(us))
	}
	return b
}

// easeFactor returns Yᵀ, n×users, for Y = U⁻ᵀX where XXᵀ + λI = UᵀU over
// the users with training items. X is sparse, so neither product is
// formed densely: (XXᵀ)ᵤᵥ counts the items u and v share, and column i of
// Y sums the rows of U⁻¹ of the users who have item i (U⁻¹ is upper
// triangular: row u starts at column u).
func easeFactor(ctx context.Context, n, users int, train [][]int32, lambda float64) (*mat.Dense, *easeParts, error) {
	byItem := make([][]int32, n) // the users (rows of X) of each item
	r := int32(0)
	for _, h := range train {
		if len(h) == 0 {
			continue
		}
		for _, it := range h {
			if l := byItem[it]; len(l) == 0 || l[len(l)-1] != r { // X is binary
				byItem[it] = append(l, r)
			}
		}
		r++
	}
	k := mat.NewSymDense(users, nil)
	raw := k.RawSymmetric()
	for _, us := range byItem {
		for a, u := range us {
			row := raw.Data[int(u)*raw.Stride:]
			for _, v := range us[a:] {
				row[v]++
			}
		}
	}
	for i := range users {
		raw.Data[i*raw.Stride+i] += lambda
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var c mat.Cholesky
	if !c.Factorize(k) {
		return nil, nil, errors.New("ease: user Gram matrix is not positive definite")
	}
	var u, uinv mat.TriDense
	c.UTo(&u)
	if err := uinv.InverseTri(&u); err != nil {
		return nil, nil, fmt.Errorf("ease: invert: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	inv := uinv.RawTriangular()
	yt := mat.NewDense(n, users, nil)
	for i, us := range byItem {
		out := yt.RawRowView(i)
		for _, r := range us {
			row := inv.Data[int(r)*inv.Stride : int(r)*inv.Stride+users]
			for a := int(r); a < users; a++ {
				out[a] += row[a]
			}
		}
	}
	return yt, &easeParts{byItem: byItem, uinv: inv}, ctx.Err()
}

// easeParts are what easeFactor computes on the way to Yᵀ.
type easeParts struct {
	byItem [][]int32         // per item: its users, the rows of X
	uinv   blas64.Triangular // U⁻¹
}

// Methods of Config.
const (
	MethodEASE         = "ease"
	MethodCooccurrence = "cooccurrence"
)

// DefaultMaxEASEItems is the catalogue size above which Fit's default is
// co-occurrence: EASE's solve is dense in items (or users), O(n²) memory
// and O(n³) time (20000 items: 3.2 GB matrices and tens of minutes).
const DefaultMaxEASEItems = 20000

// Config says how Fit makes the lists. Zero fields take the defaults in
// their comments.
type Config struct {
	// Method is MethodEASE or MethodCooccurrence; default EASE up to
	// MaxEASEItems items, co-occurrence beyond.
	Method       string
	MaxEASEItems int     // default DefaultMaxEASEItems
	Lambda       float64 // EASE's regularisation; default 250
	Shrink       float64 // co-occurrence's shrinkage; default 0
	// Top is how many neighbours each item keeps; default 1000 for EASE,
	// whose lists lose little by it, and 100 for co-occurrence, whose
	// catalogues are large.
	Top int
	// Window is how many places after an item the sequence lists look
	// (FitSequence); default 3, the best of 1, 3 and 5 on MovieLens.
	Window int
	// NearbyWindow is how many places either side of an item the nearby
	// lists look (FitNearby); default 3 (2 and 5 score alike on
	// MovieLens, 10 and 20 worse).
	NearbyWindow int
	// MaxExactUsers is the most users for which Fit keeps EASE's exact
	// factor (Fitted.Exact); default DefaultMaxExactUsers, negative never.
	MaxExactUsers int
}

// DefaultMaxExactUsers bounds the users of an exact EASE factor: scoring
// a history costs users² multiply-adds (2,000 users of 20,000 items:
// about 0.6 ms, docs/BENCHMARKS.md) and the factor holds users²/2 floats
// (8 MB at the bound), beside one entry per interaction.
const DefaultMaxExactUsers = 2048

// FitSequence makes the sequence lists of n items (see Sequence) from the
// training histories, oldest first, with the configured window, each item
// keeping its 100 heaviest followers.
func FitSequence(ctx context.Context, n int, train [][]int32, cfg Config) (*Lists, error) {
	if cfg.Window == 0 {
		cfg.Window = 3
	}
	return Sequence(ctx, n, train, cfg.Window, 100)
}

// FitNearby makes the nearby lists of n items (see Nearby) from the
// training histories, oldest first, with the configured window, each
// item keeping its 200 best: 50 cost MovieLens 2% of the fused lists'
// NDCG@10, 200 nothing against keeping all.
func FitNearby(ctx context.Context, n int, train [][]int32, cfg Config) (*Lists, error) {
	if cfg.NearbyWindow == 0 {
		cfg.NearbyWindow = 3
	}
	return Nearby(ctx, n, train, cfg.NearbyWindow, 200)
}

// Fitted is what Fit makes.
type Fitted struct {
	Lists  *Lists
	Method string // MethodEASE or MethodCooccurrence
	// Exact, when not nil, scores a history against every item exactly:
	// EASE's factor, kept when its method is EASE, the catalogue has fewer
	// users than items, and at most Config.MaxExactUsers of them. Lists
	// keep each item's strongest weights among the items that share a
	// user with it; summed over a long history the weights they drop
	// matter (docs/EVALUATION.md).
	Exact *LowRankEASE
}

// Fit makes the neighbour lists of n items from the training histories
// (train[u] is user u's distinct items), by the configured method, and
// EASE's exact factor when it is small enough to serve.
func Fit(ctx context.Context, n int, train [][]int32, cfg Config) (*Fitted, error) {
	if cfg.MaxEASEItems == 0 {
		cfg.MaxEASEItems = DefaultMaxEASEItems
	}
	if cfg.MaxExactUsers == 0 {
		cfg.MaxExactUsers = DefaultMaxExactUsers
	}
	if cfg.Lambda == 0 {
		cfg.Lambda = 250
	}
	f := &Fitted{Method: cfg.Method}
	if f.Method == "" {
		f.Method = MethodEASE
		if n > cfg.MaxEASEItems {
			f.Method = MethodCooccurrence
		}
	}
	if cfg.Top == 0 {
		cfg.Top = 100
		if f.Method == MethodEASE {
			cfg.Top = 1000
		}
	}
	var err error
	switch f.Method {
	case MethodEASE:
		f.Lists, f.Exact, err = easeFit(ctx, n, train, cfg.Lambda, cfg.Top)
		if f.Exact != nil {
			f.Exact.YT = nil // the lists are made
			if f.Exact.K > cfg.MaxExactUsers {
				f.Exact = nil
			}
		}
	case MethodCooccurrence:
		f.Lists, err = Cooccurrence(ctx, n, train, cfg.Shrink, cfg.Top)
	default:
		return nil, fmt.Errorf("cf: unknown method %q (want ease or cooccurrence)", f.Method)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}
