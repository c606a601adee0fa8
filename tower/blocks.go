package tower

import (
	"math"

	"github.com/duetrec/duet/internal/vec"
)

// The blocks of the network, each a forward function and a backward
// function that adds its gradients into the buffers it is given. Training
// and inference share the forward functions, so what is trained is what is
// served; blocks_test.go checks every backward function against finite
// differences.

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
	d := len(s)
	if idRow != nil {
		copy(s, idRow)
	} else {
		clear(s)
	}
	if len(toks) > 0 {
		w := 1 / float32(len(toks))
		for _, t := range toks {
			vec.Axpy(w, tok[int(t)*d:int(t+1)*d], s)
		}
	}
	if len(cats) > 0 {
		w := 1 / float32(len(cats))
		for _, c := range cats {
			vec.Axpy(w, cat[int(c)*d:int(c+1)*d], s)
		}
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
// forward pass: for attention, the inputs with positions added, the query
// and the attention weights.
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

// poolForward pools the n history inputs xs (n×dim, oldest first) into p.
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
func poolForward(enc string, p, xs []float32, n int, decay float32, pos, att []float32, st *poolState) {
	dim := len(p)
	switch enc {
	case EncoderRecency:
		st.grow(n, dim)
		recencyWeights(st.alpha, decay)
		clear(p)
		for k := range n {
			vec.Axpy(st.alpha[k], xs[k*dim:(k+1)*dim], p)
		}
	case EncoderAttention:
		st.grow(n, dim)
		for k := range n {
			e := st.e[k*dim : (k+1)*dim]
			copy(e, xs[k*dim:(k+1)*dim])
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
		for k := range n {
			vec.Axpy(st.alpha[k], st.e[k*dim:(k+1)*dim], p)
		}
	default: // mean
		clear(p)
		w := 1 / float32(n)
		for k := range n {
			vec.Axpy(w, xs[k*dim:(k+1)*dim], p)
		}
	}
}

// poolBackward adds the gradients of poolForward given dp to dxs (n×dim)
// and, for attention, to dpos and datt.
func poolBackward(enc string, dp, xs []float32, n int, pos, att []float32, st *poolState, dxs, dpos, datt []float32) {
	dim := len(dp)
	switch enc {
	case EncoderRecency:
		for k := range n {
			vec.Axpy(st.alpha[k], dp, dxs[k*dim:(k+1)*dim])
		}
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
			vec.Axpy(1, g, dxs[k*dim:(k+1)*dim])
			vec.Axpy(1, g, dpos[(n-1-k)*dim:(n-k)*dim])
		}
	default:
		w := 1 / float32(n)
		for k := range n {
			vec.Axpy(w, dp, dxs[k*dim:(k+1)*dim])
		}
	}
}

// lossScratch holds softmaxLoss's buffers between calls.
type lossScratch struct {
	logits, pt, vt, ut, col []float32
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
	sc.logits = grow(sc.logits, B*C)
	logits := sc.logits
	var loss float64
	for b := range B {
		row := logits[b*C : (b+1)*C]
		vec.MatVec(row, vs, us[b*dim:(b+1)*dim])
		t := tgt[b]
		for c := range row {
			row[c] *= inv
			if off != nil {
				row[c] += off[c]
			}
			if colItem != nil && int32(c) != t && colItem[c] == colItem[t] {
				row[c] = ninf
			}
		}
		lt := row[t]
		lse := vec.Softmax(row)
		loss += float64(lse - lt)
		// d loss_b / d logit_c = p_c − [c = t]; the 1/(tau·B) of the
		// logits and the mean comes in below.
		row[t]--
	}
	// dU = G·V and dV = Gᵀ·U, G the B×C logit gradient, as dot products
	// of rows with transposed operands: contiguous, and fast with the
	// vectorised Dot.
	g := inv / float32(B)
	sc.vt = transpose(sc.vt, vs, C, dim)
	sc.ut = transpose(sc.ut, us, B, dim)
	sc.pt = transpose(sc.pt, logits, B, C)
	sc.col = grow(sc.col, max(dim, 1))
	col := sc.col[:dim]
	for b := range B {
		vec.MatVec(col, sc.vt, logits[b*C:(b+1)*C])
		vec.Axpy(g, col, dus[b*dim:(b+1)*dim])
	}
	for c := range C {
		vec.MatVec(col, sc.ut, sc.pt[c*B:(c+1)*B])
		vec.Axpy(g, col, dvs[c*dim:(c+1)*dim])
	}
	return loss / float64(B)
}

// transpose returns the cols×rows transpose of the row-major rows×cols
// matrix a, in dst's storage when it has room.
func transpose(dst, a []float32, rows, cols int) []float32 {
	dst = grow(dst, rows*cols)
	for r := range rows {
		for c, v := range a[r*cols : (r+1)*cols] {
			dst[c*rows+r] = v
		}
	}
	return dst
}

// denseScratch holds denseBackwardBatch's buffers between calls.
type denseScratch struct {
	dzt, xt, wt, tmp []float32
}

// denseBackwardBatch is denseBackward over n rows at once: xs (n×in) were
// the inputs, dzs (n×out) are the output gradients; dxs (n×in), when not
// nil, gets each row's Wᵀdz added. Working on transposed copies turns the
// n outer products and matrix-vector products into contiguous dot
// products of length n and out, which the vectorised Dot runs fast.
func denseBackwardBatch(dw, db, dxs, w, xs, dzs []float32, n, in, out int, sc *denseScratch) {
	if n == 0 {
		return
	}
	sc.dzt = transpose(sc.dzt, dzs, n, out)
	sc.xt = transpose(sc.xt, xs, n, in)
	sc.tmp = grow(sc.tmp, in)
	for i := range out {
		vec.MatVec(sc.tmp, sc.xt, sc.dzt[i*n:(i+1)*n])
		vec.Axpy(1, sc.tmp, dw[i*in:(i+1)*in])
	}
	for k := range n {
		vec.Axpy(1, dzs[k*out:(k+1)*out], db)
	}
	if dxs == nil {
		return
	}
	sc.wt = transpose(sc.wt, w, out, in)
	for k := range n {
		vec.MatVec(sc.tmp, sc.wt, dzs[k*out:(k+1)*out])
		vec.Axpy(1, sc.tmp, dxs[k*in:(k+1)*in])
	}
}
