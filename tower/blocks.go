package tower

import (
	"math"

	"github.com/duetrec/duet/internal/vec"
)

// The blocks of the network, each a forward function and a backward
// function that adds its gradients into the buffers it is given. Training
// and inference share the forward functions, so what is trained is what is
// served, with two exceptions that compute the same sums in another order
// for speed: training runs the dense layers on a whole batch as matrix
// products (denseForwardBatch), and builds the items' token bags token by
// token (worker.forwardBackward). blocks_test.go checks every backward
// function, and batch_grad_test.go the training pass as a whole, against
// finite differences.

// normEps keeps the L2 normalisation finite for a zero vector.
const normEps = 1e-12

// normForward sets y = z/‖z‖ and returns ‖z‖ (at least normEps).
func normForward(y, z []float32) float32 {
	n := vec.Norm(z)
	if n < normEps {
		n = normEps
	}
	inv := 1 / n
	for i, v := range z {
		y[i] = v * inv
	}
	return n
}

// normBackward adds to dz the gradient of y = z/‖z‖ given dy: (dy − y(y·dy))/‖z‖.
func normBackward(dz, y []float32, n float32, dy []float32) {
	c := vec.Dot(y, dy)
	inv := 1 / n
	for i := range dz {
		dz[i] += (dy[i] - c*y[i]) * inv
	}
}

// denseForward sets z = Wx + b, W row-major len(z)×len(x).
func denseForward(z, w, b, x []float32) {
	vec.MatVec(z, w, x)
	for i := range z {
		z[i] += b[i]
	}
}

// denseBackward adds dW += dz⊗x, db += dz and, when dx is not nil, dx += Wᵀdz.
func denseBackward(dw, db, dx, w, x, dz []float32) {
	vec.AddOuter(dw, 1, dz, x)
	for i, v := range dz {
		db[i] += v
	}
	if dx != nil {
		vec.MatTVecAdd(dx, w, dz)
	}
}

// bagForward sets s = idRow + mean of the token rows + mean of the category
// rows. idRow may be nil (a new item, or an id dropped in training); tables
// are row-major with len(s) columns.
func bagForward(s, idRow, tok []float32, toks []int32, cat []float32, cats []int32) {
	if idRow != nil {
		copy(s, idRow)
	} else {
		clear(s)
	}
	if len(toks) > 0 {
		vec.AxpyRows(1/float32(len(toks)), tok, toks, s)
	}
	if len(cats) > 0 {
		vec.AxpyRows(1/float32(len(cats)), cat, cats, s)
	}
}

// bagBackward adds the gradients of bagForward given ds: all of ds to the
// id row's gradient (when gid is not nil), ds/n to each of the n token and
// category rows' gradients, which row(i) returns.
func bagBackward(ds, gid []float32, toks []int32, tokRow func(int32) []float32, cats []int32, catRow func(int32) []float32) {
	if gid != nil {
		vec.Axpy(1, ds, gid)
	}
	if len(toks) > 0 {
		w := 1 / float32(len(toks))
		for _, t := range toks {
			vec.Axpy(w, ds, tokRow(t))
		}
	}
	if len(cats) > 0 {
		w := 1 / float32(len(cats))
		for _, c := range cats {
			vec.Axpy(w, ds, catRow(c))
		}
	}
}

// Encoders of the user tower.
const (
	EncoderMean      = "mean"
	EncoderRecency   = "recency"
	EncoderAttention = "attention"
)

// poolState holds what the backward pass of a pooling needs from its
// forward pass: the weight of every input and, for attention, the inputs
// with positions added and the query.
type poolState struct {
	e     []float32 // n×dim
	q     []float32 // dim
	alpha []float32 // n

	// Backward scratch.
	de, dalpha, dq []float32
}

func (st *poolState) grow(n, dim int) {
	if cap(st.e) < n*dim {
		st.e = make([]float32, n*dim)
	}
	st.e = st.e[:n*dim]
	if cap(st.q) < dim {
		st.q = make([]float32, dim)
	}
	st.q = st.q[:dim]
	if cap(st.alpha) < n {
		st.alpha = make([]float32, n)
	}
	st.alpha = st.alpha[:n]
}

// recencyWeight is the weight of the k-th of n history items (oldest
// first): decay^(n−1−k) normalised to sum to one, so the newest counts most.
func recencyWeights(w []float32, decay float32) {
	n := len(w)
	var sum float64
	x := 1.0
	for k := n - 1; k >= 0; k-- {
		w[k] = float32(x)
		sum += x
		x *= float64(decay)
	}
	vec.Scale(float32(1/sum), w)
}

// poolRow returns input k of a pooling: row rows[k] of xs, or row k when
// rows is nil.
func poolRow(xs []float32, rows []int32, k, dim int) []float32 {
	if rows != nil {
		k = int(rows[k])
	}
	return xs[k*dim : (k+1)*dim]
}

// poolForward pools the n history inputs, oldest first, into p. Input k is
// row rows[k] of xs, or row k when rows is nil: training pools item sums in
// place, and an item twice in a history is one row listed twice.
//
//   - mean: p = (1/n) Σ x_k.
//   - recency: p = Σ w_k x_k with w from recencyWeights.
//   - attention: one head of self-attention read out at the newest item.
//     e_k = x_k + pos[n−1−k] (positions count back from the newest item),
//     q = A e_{n−1}, α = softmax(q·e_k/√dim), p = e_{n−1} + Σ α_k e_k.
//     A stands for W_Qᵀ W_K (one bilinear form instead of two matrices:
//     the same scores with half the parameters), the values are the inputs
//     themselves, and the user projection after pooling plays the part of
//     the output projection.
//
// n must be at least 1; pos needs at least n rows.
func poolForward(enc string, p, xs []float32, rows []int32, n int, decay float32, pos, att []float32, st *poolState) {
	dim := len(p)
	if rows == nil {
		xs = xs[:n*dim]
	} else {
		rows = rows[:n]
	}
	switch enc {
	case EncoderRecency:
		st.grow(n, dim)
		recencyWeights(st.alpha, decay)
		clear(p)
		vec.AxpyRowsW(st.alpha, xs, rows, p)
	case EncoderAttention:
		st.grow(n, dim)
		for k := range n {
			e := st.e[k*dim : (k+1)*dim]
			copy(e, poolRow(xs, rows, k, dim))
			vec.Axpy(1, pos[(n-1-k)*dim:(n-k)*dim], e)
		}
		last := st.e[(n-1)*dim:]
		vec.MatVec(st.q, att, last)
		scale := float32(1 / math.Sqrt(float64(dim)))
		for k := range n {
			st.alpha[k] = scale * vec.Dot(st.q, st.e[k*dim:(k+1)*dim])
		}
		vec.Softmax(st.alpha)
		copy(p, last)
		vec.AxpyRowsW(st.alpha, st.e, nil, p)
	default: // mean
		st.grow(n, dim)
		w := 1 / float32(n)
		for k := range st.alpha {
			st.alpha[k] = w
		}
		clear(p)
		vec.AxpyRows(w, xs, rows, p)
	}
}

// poolBackward adds the gradients of poolForward given dp to dxs (rows as
// in poolForward) and, for attention, to dpos and datt.
func poolBackward(enc string, dp, xs []float32, rows []int32, n int, pos, att []float32, st *poolState, dxs, dpos, datt []float32) {
	dim := len(dp)
	switch enc {
	case EncoderAttention:
		// de collects the gradient of every e_k; then it flows to x_k and
		// to its position row unchanged.
		st.de = grow(st.de, n*dim)
		de := st.de
		clear(de)
		last := st.e[(n-1)*dim:]
		dlast := de[(n-1)*dim:]
		vec.Axpy(1, dp, dlast)
		var dot float32
		st.dalpha = grow(st.dalpha, n)
		dalpha := st.dalpha
		for k := range n {
			e := st.e[k*dim : (k+1)*dim]
			dalpha[k] = vec.Dot(dp, e)
			dot += st.alpha[k] * dalpha[k]
			vec.Axpy(st.alpha[k], dp, de[k*dim:(k+1)*dim])
		}
		scale := float32(1 / math.Sqrt(float64(dim)))
		st.dq = grow(st.dq, dim)
		dq := st.dq
		clear(dq)
		for k := range n {
			ds := st.alpha[k] * (dalpha[k] - dot) * scale
			if ds == 0 {
				continue
			}
			vec.Axpy(ds, st.e[k*dim:(k+1)*dim], dq)
			vec.Axpy(ds, st.q, de[k*dim:(k+1)*dim])
		}
		vec.AddOuter(datt, 1, dq, last)
		vec.MatTVecAdd(dlast, att, dq)
		for k := range n {
			g := de[k*dim : (k+1)*dim]
			vec.Axpy(1, g, poolRow(dxs, rows, k, dim))
			vec.Axpy(1, g, dpos[(n-1-k)*dim:(n-k)*dim])
		}
	default:
		// Mean and recency: x_k's gradient is its weight times dp.
		if rows != nil {
			vec.AxpyScatter(st.alpha[:n], dp, dxs, rows[:n])
			return
		}
		for k := range n {
			vec.Axpy(st.alpha[k], dp, dxs[k*dim:(k+1)*dim])
		}
	}
}

// lossScratch holds softmaxLoss's buffers between calls.
type lossScratch struct {
	logits, vt, gt, su []float32
	same               []int32
	first, last        map[int32]int32 // sameItemChains' per item: first and last column
}

// softmaxLoss is the mean over the rows b of the cross-entropy of
// softmax_c(u_b·v_c/tau + off_c) against the column tgt[b]: the in-batch
// sampled softmax when the columns are the batch's targets (plus shared
// negatives) and off_c = −alpha·log q_c, the full softmax when the columns
// are every item and off is nil.
//
// When colItem is not nil, a column holding the same item as row b's target
// column, other than that column, is masked out of row b: it is the same
// item, not a negative (an accidental hit).
//
// It adds the gradients to dus (B×dim) and dvs (C×dim); sc may be nil.
func softmaxLoss(us, vs []float32, dim int, tau float32, off []float32, tgt, colItem []int32, dus, dvs []float32, sc *lossScratch) float64 {
	if sc == nil {
		sc = new(lossScratch)
	}
	B := len(tgt)
	C := len(vs) / dim
	inv := 1 / tau
	ninf := float32(math.Inf(-1))
	// The B×C logits as one matrix product (U/tau)·Vᵀ, and the gradients
	// below as two more, G·V and Gᵀ·U: each row of a product is a sum of
	// scaled rows, which the vectorised kernels keep in registers.
	sc.su = grow(sc.su, B*dim)
	copy(sc.su, us[:B*dim])
	vec.Scale(inv, sc.su)
	sc.logits = grow(sc.logits, B*C)
	logits := sc.logits
	clear(logits)
	sc.vt = transpose(sc.vt, vs, C, dim)
	vec.MatMulAdd(logits, sc.su, sc.vt, B, dim, C)
	// Accidental hits are rare: the columns holding each item are chained
	// (same[c], the next column with c's item, or −1), so a row masks
	// only its target's chain instead of comparing every column.
	var same []int32
	if colItem != nil {
		same = sameItemChains(sc, colItem[:C])
	}
	// d loss / d logit_bc = (p_bc − [c = t_b])/B, and 1/tau more for
	// u·v.
	g := inv / float32(B)
	var loss float64
	for b := range B {
		row := logits[b*C : (b+1)*C]
		t := tgt[b]
		if off != nil {
			vec.Axpy(1, off[:C], row)
		}
		if same != nil {
			for c := same[t]; c != t; c = same[c] {
				row[c] = ninf
			}
		}
		lt := row[t]
		mx := vec.Max(row)
		sum := vec.ExpSub(row, mx) // ≥ 1: the maximum's own term
		loss += float64(mx) + math.Log(float64(sum)) - float64(lt)
		vec.Scale(g/sum, row)
		row[t] -= g
	}
	vec.MatMulAdd(dus, logits, vs, B, C, dim)
	// dvs += logitsᵀ·us a block of items at a time: the block's transpose
	// stays in cache, where the whole one (B×C, megabytes) went to memory
	// and back.
	for c0 := 0; c0 < C; c0 += setBlock {
		c1 := min(c0+setBlock, C)
		sc.gt = transposeCols(sc.gt, logits, B, C, c0, c1)
		vec.MatMulAdd(dvs[c0*dim:c1*dim], sc.gt, us, c1-c0, B, dim)
	}
	return loss / float64(B)
}

// sameItemChains links the columns holding one item in a ring: same[c] is
// the next column after c with c's item, wrapping around, so a column
// whose item is in no other column points to itself.
func sameItemChains(sc *lossScratch, colItem []int32) []int32 {
	C := len(colItem)
	if cap(sc.same) < C {
		sc.same = make([]int32, C)
	}
	same := sc.same[:C]
	if sc.first == nil {
		sc.first, sc.last = make(map[int32]int32, C), make(map[int32]int32, C)
	}
	first, last := sc.first, sc.last
	clear(first)
	clear(last)
	for c, it := range colItem {
		c := int32(c)
		if p, ok := last[it]; ok {
			same[p] = c
		} else {
			first[it] = c
		}
		last[it] = c
		same[c] = first[it]
	}
	return same
}

// transpose returns the cols×rows transpose of the row-major rows×cols
// matrix a, in dst's storage when it has room.
//
// It goes tile by tile: written a whole row at a time, each element lands
// on its own cache line of dst, and by the time the next row comes back
// to that line it has left the cache.
func transpose(dst, a []float32, rows, cols int) []float32 {
	return transposeCols(dst, a, rows, cols, 0, cols)
}

// transposeCols is transpose of columns c0 to c1 of a alone: dst is
// (c1−c0)×rows.
func transposeCols(dst, a []float32, rows, cols, c0, c1 int) []float32 {
	const tile = 16
	n := c1 - c0
	dst = grow(dst, rows*n)
	for r0 := 0; r0 < rows; r0 += tile {
		r1 := min(r0+tile, rows)
		for t0 := c0; t0 < c1; t0 += tile {
			t1 := min(t0+tile, c1)
			for r := r0; r < r1; r++ {
				for c, v := range a[r*cols+t0 : r*cols+t1] {
					dst[(t0-c0+c)*rows+r] = v
				}
			}
		}
	}
	return dst
}

// denseScratch holds the buffers of the batch dense layers between calls.
type denseScratch struct {
	wt, dzt []float32
}

// denseForwardBatch is denseForward over n rows at once: zs (n×out) gets
// xs (n×in) times Wᵀ plus b, as one matrix product.
func denseForwardBatch(zs, w, b, xs []float32, n, in, out int, sc *denseScratch) {
	if n == 0 {
		return
	}
	for k := range n {
		copy(zs[k*out:(k+1)*out], b)
	}
	sc.wt = transpose(sc.wt, w, out, in)
	vec.MatMulAdd(zs, xs, sc.wt, n, in, out)
}

// denseBackwardBatch is denseBackward over n rows at once: xs (n×in) were
// the inputs, dzs (n×out) are the output gradients; dxs (n×in), when not
// nil, gets each row's Wᵀdz added. As matrix products: dW += dZᵀ·X and
// dX += dZ·W.
func denseBackwardBatch(dw, db, dxs, w, xs, dzs []float32, n, in, out int, sc *denseScratch) {
	if n == 0 {
		return
	}
	sc.dzt = transpose(sc.dzt, dzs, n, out)
	vec.MatMulAdd(dw, sc.dzt, xs, out, n, in)
	vec.AxpyRows(1, dzs[:n*out], nil, db)
	if dxs != nil {
		vec.MatMulAdd(dxs, dzs, w, n, out, in)
	}
}

// setBlock is how many items' logits softmaxSetLoss transposes at a time:
// 64 rows of a 256-user batch, 64 KiB.
const setBlock = 64

// softmaxSetLoss is the multinomial likelihood of a set of targets per
// row: the mean over the rows b of (1/|T_b|) Σ_{t∈T_b} −log
// softmax_c(u_b·v_c/tau + off_c)_t, where row b's targets are the columns
// tgt[tgtOff[b]:tgtOff[b+1]] (at least one). Columns hold distinct items,
// so no column needs masking: a row's other targets stay in its
// denominator, as in a multinomial over the whole catalogue. off may be
// nil.
//
// It adds the gradients to dus (B×dim) and dvs (C×dim); sc may be nil.
func softmaxSetLoss(us, vs []float32, dim int, tau float32, off []float32, tgt, tgtOff []int32, dus, dvs []float32, sc *lossScratch) float64 {
	if sc == nil {
		sc = new(lossScratch)
	}
	B := len(tgtOff) - 1
	C := len(vs) / dim
	inv := 1 / tau
	sc.su = grow(sc.su, B*dim)
	copy(sc.su, us[:B*dim])
	vec.Scale(inv, sc.su)
	sc.logits = grow(sc.logits, B*C)
	logits := sc.logits
	clear(logits)
	sc.vt = transpose(sc.vt, vs, C, dim)
	vec.MatMulAdd(logits, sc.su, sc.vt, B, dim, C)
	// Every row's logits share one log-sum-exp, so the loss of T targets
	// costs one softmax; d loss_b / d logit_bc = p_bc − (c ∈ T_b)/|T_b|.
	g := inv / float32(B)
	var loss float64
	for b := range B {
		row := logits[b*C : (b+1)*C]
		if off != nil {
			vec.Axpy(1, off[:C], row)
		}
		ts := tgt[tgtOff[b]:tgtOff[b+1]]
		wt := 1 / float32(len(ts))
		var lt float64
		for _, c := range ts {
			lt += float64(row[c])
		}
		mx := vec.Max(row)
		sum := vec.ExpSub(row, mx)
		loss += float64(mx) + math.Log(float64(sum)) - lt*float64(wt)
		vec.Scale(g/sum, row)
		for _, c := range ts {
			row[c] -= g * wt
		}
	}
	vec.MatMulAdd(dus, logits, vs, B, C, dim)
	// dvs += logitsᵀ·us a block of items at a time: the block's transpose
	// stays in cache, where the whole one (B×C, megabytes) went to memory
	// and back.
	for c0 := 0; c0 < C; c0 += setBlock {
		c1 := min(c0+setBlock, C)
		sc.gt = transposeCols(sc.gt, logits, B, C, c0, c1)
		vec.MatMulAdd(dvs[c0*dim:c1*dim], sc.gt, us, c1-c0, B, dim)
	}
	return loss / float64(B)
}
