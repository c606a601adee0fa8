package tower

import (
	"math/rand/v2"

	"github.com/duetrec/duet/internal/vec"
)

// sparseGrad accumulates gradient rows of an embedding table for one batch,
// so that a row touched many times gets one optimiser step.
type sparseGrad struct {
	dim  int
	slot []int32 // table row → index in rows, or -1
	rows []int32
	g    []float32
}

func newSparseGrad(rows, dim int) *sparseGrad {
	s := &sparseGrad{dim: dim, slot: make([]int32, rows)}
	for i := range s.slot {
		s.slot[i] = -1
	}
	return s
}

func (s *sparseGrad) row(r int32) []float32 {
	k := s.slot[r]
	if k < 0 {
		k = int32(len(s.rows))
		s.slot[r] = k
		s.rows = append(s.rows, r)
		if need := (int(k) + 1) * s.dim; need > cap(s.g) {
			g := make([]float32, need, 2*need)
			copy(g, s.g)
			s.g = g
		}
		s.g = s.g[:(int(k)+1)*s.dim]
		clear(s.g[int(k)*s.dim:])
	}
	return s.g[int(k)*s.dim : int(k+1)*s.dim]
}

func (s *sparseGrad) reset() {
	for _, r := range s.rows {
		s.slot[r] = -1
	}
	s.rows = s.rows[:0]
	s.g = s.g[:0]
}

// worker runs batches: forward, backward, update. Its buffers are its own;
// only the weights and optimiser state are shared.
type worker struct {
	t   *trainer
	rng *rand.Rand

	// Items of the batch (targets, history items, negatives), each once.
	slotOf []int32 // item → slot, or -1
	items  []int32 // slot → item
	drop   []bool  // slot → id embedding dropped in this batch
	s, ds  []float32

	// Candidate items (the softmax columns' distinct items).
	candOf    []int32 // item → candidate, or -1
	cands     []int32 // candidate → slot
	cz, cv    []float32
	cnorm     []float32
	dcv, dcz  []float32
	colItem   []int32
	colCand   []int32
	tgt       []int32
	tgtOff    []int32 // set objective: row b's target columns are tgt[tgtOff[b]:tgtOff[b+1]]
	dropped   []bool  // set objective: one history's drawn targets
	off       []float32
	vs, dvs   []float32
	us, dus   []float32
	loss      lossScratch
	dense     denseScratch
	cs, dcs   []float32
	dzu, dps  []float32
	histSlots [][]int32
	pool      []poolState
	ps, zu    []float32
	unorm     []float32

	// The batch's packed token rows (see trainer.tok), each once and in
	// increasing order, and for each the item slots that hold it with the
	// weight 1/len(toks) of their bag (an item holding a token twice is
	// listed twice): the transpose of the items' token bags. A token row's
	// gradient is then one weighted gather of item gradients rather than a
	// scatter into it from every item, and the optimiser walks the table
	// in memory order.
	tokCnt []int32 // packed row → entries in this batch; zero between batches
	// The item slots whose tokens are summed and trained in this batch,
	// and, when that is not every slot, item → such a slot, or -1.
	tokSlots  []int32
	tokSlotOf []int32
	tokRows   []int32
	tokOff    []int32 // tokRows index j → its entries tokItem[tokOff[j]:tokOff[j+1]]
	tokItem   []int32
	tokW      []float32
	tokG      []float32 // one row's gradient

	catG, userG                    *sparseGrad
	dpos, datt, dwi, dbi, dwu, dbu []float32
}

func newWorker(t *trainer, id uint64) *worker {
	m := t.m
	n := len(m.items)
	d := t.cfg.Dim
	w := &worker{t: t, rng: rand.New(rand.NewPCG(t.cfg.Seed, 0x776f726b00+id))}
	w.slotOf = make([]int32, n)
	w.candOf = make([]int32, n)
	for i := range n {
		w.slotOf[i], w.candOf[i] = -1, -1
	}
	w.tokCnt = make([]int32, len(t.tokBucket))
	if t.content != nil {
		w.tokSlotOf = make([]int32, n)
		for i := range w.tokSlotOf {
			w.tokSlotOf[i] = -1
		}
	}
	w.tokG = make([]float32, d)
	w.catG = newSparseGrad(len(m.cats), d)
	if m.p.user != nil {
		w.userG = newSparseGrad(len(m.p.user)/d, d)
	}
	w.dpos = make([]float32, len(m.p.pos))
	w.datt = make([]float32, d*d)
	w.dwi = make([]float32, d*d)
	w.dbi = make([]float32, d)
	w.dwu = make([]float32, d*d)
	w.dbu = make([]float32, d)
	return w
}

func (w *worker) addItem(i int32) int32 {
	if s := w.slotOf[i]; s >= 0 {
		return s
	}
	s := int32(len(w.items))
	w.slotOf[i] = s
	w.items = append(w.items, i)
	return s
}

func (w *worker) addCand(i int32) int32 {
	if c := w.candOf[i]; c >= 0 {
		return c
	}
	c := int32(len(w.cands))
	w.candOf[i] = c
	w.cands = append(w.cands, w.addItem(i))
	return c
}

func (w *worker) addCol(i int32) {
	w.colItem = append(w.colItem, i)
	w.colCand = append(w.colCand, w.addCand(i))
}

// batch trains on one batch and returns its mean loss.
func (w *worker) batch(exs []example) float64 {
	loss := w.forwardBackward(exs)
	w.apply()
	return loss
}

// forwardBackward computes the loss of a batch and leaves the gradients in
// the worker's buffers: w.ds per item slot (the id rows' gradients, for
// slots whose id was not dropped), the sparse token, category and user
// gradients, and the dense ones.
func (w *worker) forwardBackward(exs []example) float64 {
	t := w.t
	m := t.m
	cfg := t.cfg
	d := cfg.Dim
	N := cfg.HistoryLen
	B := len(exs)
	t.step.Add(1)

	// Columns: the batch's targets in example order, then the shared
	// negatives; or, for the full softmax, every item. The set objective
	// draws its targets and builds its columns itself.
	w.colItem, w.colCand, w.tgt = w.colItem[:0], w.colCand[:0], w.tgt[:0]
	if cap(w.histSlots) < B {
		w.histSlots = make([][]int32, B)
		w.pool = make([]poolState, B)
	}
	set := cfg.Objective == ObjectiveSet
	switch {
	case set:
		w.setExamples(exs)
	case cfg.FullSoftmax:
		for i := range int32(len(m.items)) {
			w.addCol(i)
		}
		for _, e := range exs {
			w.tgt = append(w.tgt, t.train[e.user][e.tgt])
		}
	default:
		for b, e := range exs {
			w.addCol(t.train[e.user][e.tgt])
			w.tgt = append(w.tgt, int32(b))
		}
		for range cfg.Negatives {
			w.addCol(int32(w.rng.IntN(len(m.items))))
		}
	}
	C := len(w.colItem)
	if !set { // setExamples has built the histories
		for b, e := range exs {
			h := t.train[e.user][:e.end]
			lo := 0
			if !cfg.WholeHistory {
				lo = max(0, len(h)-N)
			}
			if e.tgt < e.end && int(e.tgt) >= lo && lo > 0 {
				lo-- // the held-in target leaves a place in the window
			}
			hs := w.histSlots[b][:0]
			for k := lo; k < len(h); k++ {
				if k != int(e.tgt) {
					hs = append(hs, w.addItem(h[k]))
				}
			}
			w.histSlots[b] = hs
		}
	}

	// Item sums, each distinct item once per batch: content, then the id
	// rows. The items whose content rows this batch trains (all of them,
	// or the candidates: see Config.HistoryContent) sum their tokens (one
	// token row at a time: see indexTokens) and categories; the others
	// read the sum last computed.
	S := len(w.items)
	w.s = grow(w.s, S*d)
	w.ds = grow(w.ds, S*d)
	clear(w.ds)
	slotOf := w.slotOf
	w.tokSlots = w.tokSlots[:0]
	if t.content == nil {
		clear(w.s)
		for k := range int32(S) {
			w.tokSlots = append(w.tokSlots, k)
		}
	} else {
		// The other rows are overwritten with their cached sums below.
		for _, k := range w.cands {
			clear(w.s[int(k)*d : int(k+1)*d])
			w.tokSlots = append(w.tokSlots, k)
			w.tokSlotOf[w.items[k]] = k
		}
		slotOf = w.tokSlotOf
	}
	w.indexTokens(w.tokSlots, slotOf)
	for j, r := range w.tokRows {
		lo, hi := w.tokOff[j], w.tokOff[j+1]
		vec.AxpyScatter(w.tokW[lo:hi], t.tok[int(r)*d:int(r+1)*d], w.s, w.tokItem[lo:hi])
	}
	for _, k := range w.tokSlots {
		if cats := m.feats[w.items[k]].cats; len(cats) > 0 {
			vec.AxpyRows(1/float32(len(cats)), m.p.cat, cats, w.s[int(k)*d:int(k+1)*d])
		}
	}
	if t.content != nil {
		for k, i := range w.items {
			row, sum := w.s[k*d:(k+1)*d], t.content[int(i)*d:int(i+1)*d]
			if w.tokSlotOf[i] >= 0 {
				copy(sum, row)
			} else {
				copy(row, sum)
			}
		}
	}
	if cap(w.drop) < S {
		w.drop = make([]bool, S, 2*S)
	}
	w.drop = w.drop[:S]
	for k, i := range w.items {
		drop := cfg.IDDropout > 0 && w.rng.Float32() < cfg.IDDropout
		w.drop[k] = drop || t.unseen[i]
		if !w.drop[k] {
			vec.Axpy(1, m.p.id[int(i)*d:int(i+1)*d], w.s[k*d:(k+1)*d])
		}
	}

	// Item tower outputs of the candidates.
	K := len(w.cands)
	w.cs = grow(w.cs, K*d)
	for c, k := range w.cands {
		copy(w.cs[c*d:(c+1)*d], w.s[int(k)*d:int(k+1)*d])
	}
	w.cz = grow(w.cz, K*d)
	w.cv = grow(w.cv, K*d)
	w.cnorm = grow(w.cnorm, K)
	denseForwardBatch(w.cz, m.p.wi, m.p.bi, w.cs, K, d, d, &w.dense)
	for c := range K {
		w.cnorm[c] = normForward(w.cv[c*d:(c+1)*d], w.cz[c*d:(c+1)*d])
	}
	w.vs = grow(w.vs, C*d)
	w.dvs = grow(w.dvs, C*d)
	clear(w.dvs)
	w.off = grow(w.off, C)
	for c, cc := range w.colCand {
		copy(w.vs[c*d:(c+1)*d], w.cv[int(cc)*d:int(cc+1)*d])
		w.off[c] = -cfg.LogQ * t.logq[w.colItem[c]]
	}

	// User tower.
	w.us = grow(w.us, B*d)
	w.dus = grow(w.dus, B*d)
	clear(w.dus)
	w.ps = grow(w.ps, B*d)
	w.zu = grow(w.zu, B*d)
	w.unorm = grow(w.unorm, B)
	for b, e := range exs {
		hs := w.histSlots[b]
		p := w.ps[b*d : (b+1)*d]
		if len(hs) > 0 {
			poolForward(cfg.Encoder, p, w.s, hs, len(hs), cfg.Decay, m.p.pos, m.p.att, &w.pool[b])
		} else {
			clear(p)
		}
		if m.p.user != nil {
			vec.Axpy(1, m.p.user[int(e.user)*d:int(e.user+1)*d], p)
		}
	}
	denseForwardBatch(w.zu, m.p.wu, m.p.bu, w.ps, B, d, d, &w.dense)
	for b := range B {
		w.unorm[b] = normForward(w.us[b*d:(b+1)*d], w.zu[b*d:(b+1)*d])
	}

	// Loss.
	var off []float32
	var masks []int32
	if !cfg.FullSoftmax {
		off = w.off
		masks = w.colItem
	}
	var loss float64
	if set {
		loss = softmaxSetLoss(w.us, w.vs, d, cfg.Temperature, off, w.tgt, w.tgtOff, w.dus, w.dvs, &w.loss)
	} else {
		loss = softmaxLoss(w.us, w.vs, d, cfg.Temperature, off, w.tgt, masks, w.dus, w.dvs, &w.loss)
	}

	// Backward through the item tower of the candidates.
	w.dcv = grow(w.dcv, K*d)
	clear(w.dcv)
	for c, cc := range w.colCand {
		vec.Axpy(1, w.dvs[c*d:(c+1)*d], w.dcv[int(cc)*d:int(cc+1)*d])
	}
	// The candidates' projection: normalisation per row, then the dense
	// layer for all rows at once.
	w.dcz = grow(w.dcz, K*d)
	clear(w.dcz)
	w.dcs = grow(w.dcs, K*d)
	clear(w.dcs)
	for c := range K {
		normBackward(w.dcz[c*d:(c+1)*d], w.cv[c*d:(c+1)*d], w.cnorm[c], w.dcv[c*d:(c+1)*d])
	}
	denseBackwardBatch(w.dwi, w.dbi, w.dcs, m.p.wi, w.cs, w.dcz, K, d, d, &w.dense)
	for c, k := range w.cands {
		vec.Axpy(1, w.dcs[c*d:(c+1)*d], w.ds[int(k)*d:int(k+1)*d])
	}

	// Backward through the user tower.
	w.dzu = grow(w.dzu, B*d)
	clear(w.dzu)
	w.dps = grow(w.dps, B*d)
	clear(w.dps)
	for b := range B {
		normBackward(w.dzu[b*d:(b+1)*d], w.us[b*d:(b+1)*d], w.unorm[b], w.dus[b*d:(b+1)*d])
	}
	denseBackwardBatch(w.dwu, w.dbu, w.dps, m.p.wu, w.ps, w.dzu, B, d, d, &w.dense)
	for b, e := range exs {
		dp := w.dps[b*d : (b+1)*d]
		if w.userG != nil {
			vec.Axpy(1, dp, w.userG.row(e.user))
		}
		if hs := w.histSlots[b]; len(hs) > 0 {
			poolBackward(cfg.Encoder, dp, w.s, hs, len(hs), m.p.pos, m.p.att, &w.pool[b], w.ds, w.dpos, w.datt)
		}
	}

	// Backward through the embedding bags of the items whose content this
	// batch trains: the categories here, the tokens in apply, one row at
	// a time (see tokenGrad).
	for _, k := range w.tokSlots {
		cats := m.feats[w.items[k]].cats
		if len(cats) == 0 {
			continue
		}
		g, wc := w.ds[int(k)*d:int(k+1)*d], 1/float32(len(cats))
		for _, c := range cats {
			vec.Axpy(wc, g, w.catG.row(c))
		}
	}
	return loss
}

// setExamples draws the targets of a batch of set-objective examples and
// builds its histories and columns. Each place of a history is dropped
// with probability DropFrac, at least one and never all; the dropped items
// are the targets and the rest, in order, the input. Columns hold distinct
// items, so that a column's index is its candidate's: every item with the
// full softmax, otherwise the batch's targets and the shared negatives.
func (w *worker) setExamples(exs []example) {
	t := w.t
	cfg := t.cfg
	n := len(t.m.items)
	if cfg.FullSoftmax {
		for i := range int32(n) {
			w.addCol(i)
		}
	}
	col := func(i int32) int32 {
		if c := w.candOf[i]; c >= 0 {
			return c
		}
		w.addCol(i)
		return w.candOf[i]
	}
	w.tgtOff = append(w.tgtOff[:0], 0)
	for b, e := range exs {
		h := t.train[e.user][:e.end]
		if cap(w.dropped) < len(h) {
			w.dropped = make([]bool, len(h), 2*len(h))
		}
		dropped := w.dropped[:len(h)]
		nd := 0
		for k := range h {
			dropped[k] = w.rng.Float32() < cfg.DropFrac
			if dropped[k] {
				nd++
			}
		}
		switch {
		case nd == 0:
			dropped[w.rng.IntN(len(h))] = true
			nd++
		case nd == len(h):
			dropped[w.rng.IntN(len(h))] = false
			nd--
		}
		// Without WholeHistory the input is the newest HistoryLen of the
		// kept items, as at inference.
		skip := 0
		if !cfg.WholeHistory {
			skip = max(0, len(h)-nd-cfg.HistoryLen)
		}
		hs := w.histSlots[b][:0]
		for k, i := range h {
			switch {
			case dropped[k]:
				w.tgt = append(w.tgt, col(i))
			case skip > 0:
				skip--
			default:
				hs = append(hs, w.addItem(i))
			}
		}
		w.histSlots[b] = hs
		w.tgtOff = append(w.tgtOff, int32(len(w.tgt)))
	}
	if !cfg.FullSoftmax {
		for range cfg.Negatives {
			col(int32(w.rng.IntN(n)))
		}
	}
}

// tokenFilterShare is the ratio of catalog to batch token entries up to
// which indexTokens filters the catalog-wide index: the filter costs about
// a third of the counting sort per entry. Tests set it to 0 or a large
// value to take one way or the other.
var tokenFilterShare = 3

// indexTokens builds the batch's token index (tokRows, tokOff, tokItem,
// tokW) from the items in slots, which slotOf maps back (item → slot, or
// -1 for an item not among them), in one of two ways. When the slots hold
// a large share of the catalog's tokens, it filters the catalog-wide index
// to them: one sequential pass with a lookup per entry. Otherwise it
// counting-sorts their tokens by row, which costs two random updates per
// entry but reads only theirs.
func (w *worker) indexTokens(slots, slotOf []int32) {
	t := w.t
	itemToks := t.itemToks
	nnz := 0
	for _, k := range slots {
		nnz += len(itemToks[w.items[k]])
	}
	w.tokRows, w.tokOff = w.tokRows[:0], w.tokOff[:0]
	if cap(w.tokItem) < nnz+1 {
		w.tokItem = make([]int32, nnz+1, nnz+nnz/4+1)
		w.tokW = make([]float32, nnz+1, nnz+nnz/4+1)
	}
	if len(t.tokItems) <= tokenFilterShare*nnz {
		// Every entry is written and kept only when its item is in the
		// batch: about half are, at random, which a branch would guess
		// wrong half the time. There is room for one entry past nnz.
		items, wts := w.tokItem[:nnz+1], w.tokW[:nnz+1]
		n := 0
		for r := range t.tokBucket {
			p := n
			lo, hi := t.tokStart[r], t.tokStart[r+1]
			for e, i := range t.tokItems[lo:hi] {
				k := slotOf[i]
				items[n], wts[n] = k, t.tokWeights[int(lo)+e]
				n += int(uint32(^k) >> 31) // 1 when k ≥ 0
			}
			if p < n {
				w.tokRows = append(w.tokRows, int32(r))
				w.tokOff = append(w.tokOff, int32(p))
			}
		}
		w.tokOff = append(w.tokOff, int32(n))
		w.tokItem, w.tokW = items[:n], wts[:n]
		return
	}
	cnt := w.tokCnt
	for _, k := range slots {
		for _, r := range itemToks[w.items[k]] {
			cnt[r]++
		}
	}
	// One pass over the counts finds the rows in order; each count becomes
	// its row's fill position.
	p := int32(0)
	for r, c := range cnt {
		if c > 0 {
			w.tokRows = append(w.tokRows, int32(r))
			w.tokOff = append(w.tokOff, p)
			cnt[r] = p
			p += c
		}
	}
	w.tokOff = append(w.tokOff, p)
	w.tokItem, w.tokW = w.tokItem[:nnz], w.tokW[:nnz]
	for _, k := range slots {
		toks := itemToks[w.items[k]]
		if len(toks) == 0 {
			continue
		}
		wt := 1 / float32(len(toks))
		for _, r := range toks {
			q := cnt[r]
			w.tokItem[q], w.tokW[q] = k, wt
			cnt[r] = q + 1
		}
	}
	for _, r := range w.tokRows {
		cnt[r] = 0
	}
}

// tokenGrad sets g to the gradient of the batch's j-th token row: the sum
// over the items holding it of their input-sum gradient over their bag
// size, as bagBackward would add it.
func (w *worker) tokenGrad(j int, g []float32) {
	lo, hi := w.tokOff[j], w.tokOff[j+1]
	clear(g)
	vec.AxpyRowsW(w.tokW[lo:hi], w.ds, w.tokItem[lo:hi], g)
}

// apply takes one optimiser step with the gradients of forwardBackward and
// resets the worker for the next batch.
func (w *worker) apply() {
	t := w.t
	d := t.cfg.Dim
	st := t.stepState()
	// Items are distinct within a batch: each id row gets one step.
	for k, i := range w.items {
		if !w.drop[k] {
			t.update(st, 0, int(i)*d, w.ds[k*d:(k+1)*d])
		}
	}
	for j, r := range w.tokRows {
		w.tokenGrad(j, w.tokG)
		t.update(st, 1, int(r)*d, w.tokG)
	}
	for k, r := range w.catG.rows {
		t.update(st, 2, int(r)*d, w.catG.g[k*d:(k+1)*d])
	}
	if w.userG != nil {
		for k, r := range w.userG.rows {
			t.update(st, 3, int(r)*d, w.userG.g[k*d:(k+1)*d])
		}
	}
	if t.cfg.Encoder == EncoderAttention {
		t.update(st, 4, 0, w.dpos)
		t.update(st, 5, 0, w.datt)
	}
	t.update(st, 6, 0, w.dwi)
	t.update(st, 7, 0, w.dbi)
	t.update(st, 8, 0, w.dwu)
	t.update(st, 9, 0, w.dbu)
	w.reset()
}

// reset clears the gradients and the batch's item slots.
func (w *worker) reset() {
	for _, g := range [][]float32{w.dpos, w.datt, w.dwi, w.dbi, w.dwu, w.dbu} {
		clear(g)
	}
	w.tokRows = w.tokRows[:0]
	w.catG.reset()
	if w.userG != nil {
		w.userG.reset()
	}
	for _, i := range w.items {
		w.slotOf[i] = -1
		w.candOf[i] = -1
	}
	if w.tokSlotOf != nil {
		for _, k := range w.tokSlots {
			w.tokSlotOf[w.items[k]] = -1
		}
	}
	w.items = w.items[:0]
	w.cands = w.cands[:0]
}
