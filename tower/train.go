package tower

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"

	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/vec"
)

// ValPair is one validation case: a user's history, oldest first, and the
// item held out after it. User is the dataset's user index, or -1; it
// matters only to models trained with Config.UserID.
type ValPair struct {
	User    int32
	History []int32
	Item    int32
}

// TrainProgress reports how training goes.
type TrainProgress struct {
	Epoch, Epochs  int     // the current epoch, from 1, and the maximum
	Step, Steps    int     // batches done in this epoch, and per epoch
	Loss           float64 // mean training loss of this epoch so far
	Recall         float64 // validation Recall@ValK after the epoch; -1 within an epoch or without validation pairs
	BestEpoch      int     // epoch with the best validation recall so far, whose weights Train returns
	BestRecall     float64 // validation Recall@ValK of BestEpoch; -1 before it
	ExamplesPerSec float64 // training throughput of this epoch so far
	EpochDone      bool
	Elapsed        time.Duration // since Train began
	// Member is the model being trained, from 1, of Members
	// (Config.Members).
	Member, Members int
}

// RecordingProgress returns c whose Progress also keeps the latest report
// in *last: how a fit went (its best epoch) once Train returns. Train
// reports from the goroutine that called it.
func (c Config) RecordingProgress(last *TrainProgress) Config {
	report := c.Progress
	c.Progress = func(p TrainProgress) {
		*last = p
		if report != nil {
			report(p)
		}
	}
	return c
}

// Train trains a model on the catalog of ds.
//
// train holds the training histories: train[u] is user u's interactions as
// catalog indices (into ds.Items), oldest first. A nil train means every
// interaction of ds.History. An evaluation harness passes the histories left
// after holding out its test and validation items, and ds shares the
// catalog, so nothing is copied. With the next-item objective, each
// position t ≥ 1 of a history is one example: the last HistoryLen items
// before t predict the item at t. With the set objective, every user with
// two or more items gives SetExamples examples per epoch, each a random
// drop of DropFrac of the history predicted from the rest.
//
// val, when not empty, is scored after every epoch (Recall@ValK over every
// item, the pair's history excluded from the ranking); training stops after
// Patience epochs without a gain, and the returned model holds the best
// epoch's weights. Without val, training runs Epochs epochs.
//
// Catalog items that never occur in train keep a zero id embedding (unless
// drawn as extra negatives), so their vectors come from their content: the
// cold-start path.
//
// With Workers > 1, workers update the shared weights without locks
// (Hogwild): they may overwrite each other's updates to a row now and then,
// which sparse updates make rare and which costs little accuracy. These
// races are deliberate; race-detector builds therefore always train with one
// worker. Workers = 1 is deterministic: the same inputs and Seed give the
// same model, bit for bit.
//
// With Members > 1, Train trains that many models in turn, each as above
// from its own seed, and returns them joined (see Config.Members).
//
// Train reads ds.Items and, when train is nil, ds.History; it does not keep
// ds. Cancelling ctx stops training and returns ctx's error.
func Train(ctx context.Context, ds *Dataset, train [][]int32, val []ValPair, cfg Config) (*Model, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a, err := analyzer()
	if err != nil {
		return nil, err
	}
	n := len(ds.Items)
	if n == 0 {
		return nil, fmt.Errorf("train: %w: empty catalog", ErrNoData)
	}
	cfg = cfg.resolveSoftmax(n)
	if train == nil {
		train = make([][]int32, len(ds.History))
		for u, h := range ds.History {
			train[u] = make([]int32, len(h))
			for k, x := range h {
				train[u][k] = x.Item
			}
		}
	}
	for u, h := range train {
		for _, i := range h {
			if i < 0 || int(i) >= n {
				return nil, fmt.Errorf("train: user %d: item index %d out of range [0, %d)", u, i, n)
			}
		}
	}
	for k, v := range val {
		if v.Item < 0 || int(v.Item) >= n {
			return nil, fmt.Errorf("train: validation pair %d: item index %d out of range", k, v.Item)
		}
	}

	m, err := newModel(ctx, a, ds, len(train), cfg)
	if err != nil {
		return nil, err
	}
	fit := func(m *Model) error {
		t := newTrainer(m, train)
		if len(t.ex) == 0 {
			return ErrNoData
		}
		return t.run(ctx, val)
	}
	if cfg.Members == 1 {
		if err := fit(m); err != nil {
			return nil, err
		}
		return m, nil
	}

	// The members share the vocabularies and features built above; each
	// has its own seed, weights and early stopping.
	start := time.Now()
	m.members = make([]*Model, cfg.Members)
	for k := range m.members {
		mm := m.member(k)
		if progress := cfg.Progress; progress != nil {
			mm.cfg.Progress = func(p TrainProgress) {
				p.Member, p.Members, p.Elapsed = k+1, cfg.Members, time.Since(start)
				progress(p)
			}
		}
		if k == 0 {
			mm.p = m.p // newModel's weights are those of seed Seed
		} else {
			mm.initParams(len(train))
		}
		if err := fit(mm); err != nil {
			return nil, err
		}
		m.members[k] = mm
	}
	m.p = params{}
	return m, nil
}

// newModel builds an untrained model of the catalog of ds: the category
// vocabulary, the cached item features and random weights.
func newModel(ctx context.Context, a analysis.Analyzer, ds *Dataset, users int, cfg Config) (*Model, error) {
	n := len(ds.Items)
	m := &Model{cfg: cfg, itemIndex: make(map[string]int32, n), catIndex: map[string]int32{}}
	m.items = make([]string, n)
	for i := range ds.Items {
		it := &ds.Items[i]
		m.items[i] = it.ID
		m.itemIndex[it.ID] = int32(i)
		for _, c := range it.Categories {
			if _, ok := m.catIndex[c]; !ok {
				m.catIndex[c] = int32(len(m.cats))
				m.cats = append(m.cats, c)
			}
		}
	}
	m.feats = make([]features, n)
	for i := range ds.Items {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		m.feats[i] = itemFeatures(a, &ds.Items[i], cfg.Buckets, m.catIndex)
	}
	if cfg.UserID {
		m.users = make([]string, users)
		m.userIndex = make(map[string]int32, users)
		for u := range users {
			id := fmt.Sprintf("#%d", u)
			if u < len(ds.Users) {
				id = ds.Users[u]
			}
			m.users[u] = id
			m.userIndex[id] = int32(u)
		}
	}
	m.initParams(users)
	return m, nil
}

// initParams sets random initial weights from the seed.
func (m *Model) initParams(users int) {
	c := m.cfg
	d := c.Dim
	rng := rand.New(rand.NewPCG(c.Seed, 0x746f776572))
	normal := func(n int, sd float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * sd)
		}
		return x
	}
	eye := func() []float32 {
		w := normal(d*d, 0.01)
		for i := range d {
			w[i*d+i] += 1
		}
		return w
	}
	sd := 1 / math.Sqrt(float64(d))
	m.p.id = make([]float32, len(m.items)*d)
	m.p.tok = make([]float32, c.Buckets*d)
	m.p.cat = normal(len(m.cats)*d, sd)
	if c.UserID {
		m.p.user = normal(users*d, 0.1*sd)
	}
	m.p.pos = normal(c.HistoryLen*d, 0.1*sd)
	m.p.att = eye()
	m.p.wi = eye()
	m.p.bi = normal(d, 0.1*sd)
	m.p.wu = eye()
	m.p.bu = normal(d, 0.1*sd)
}

// example is one training example: the last HistoryLen items of
// train[user][:end], leaving out position tgt, predict train[user][tgt].
// A next-item example has tgt = end; a held-in one has end = len(history)
// and tgt inside it. A set-objective example has end = len(history) and
// tgt = −1: the worker draws which places are targets.
type example struct {
	user, end, tgt int32
}

// sparse marks the tables updated row by row (only the rows a batch touches).
var sparse = [...]bool{true, true, true, true, false, false, false, false, false, false}

type trainer struct {
	m     *Model
	cfg   Config
	train [][]int32
	ex    []example
	logq  []float32 // per item: log of its expected count among a batch's candidates

	// The token table in training: only the rows of buckets that some
	// catalog item holds, numbered in order of first appearance. The full
	// table spreads them over Buckets rows, most never used; packed, they
	// take a fraction of the memory pages and caches, and a batch can visit
	// its rows in memory order. A bucket no item holds gets no gradient,
	// so its row in m.p.tok stays as it is. The rows go back to m.p.tok by
	// syncTokens.
	tok       []float32
	tokBucket []int32   // packed row → bucket
	itemToks  [][]int32 // per catalog item: its tokens as packed rows
	// The transpose of itemToks: the entries of packed row r are
	// tokItems[tokStart[r]:tokStart[r+1]], the catalog items holding it in
	// increasing order (twice for a token held twice), each with the
	// weight 1/len(itemToks[i]) of its bag in tokWeights.
	tokStart   []int32
	tokItems   []int32
	tokWeights []float32
	// content holds each catalog item's content sum (token mean +
	// category mean) as last computed, for the history items a batch
	// reads without summing them (see Config.HistoryContent); nil when
	// every batch sums them all.
	content []float32
	// unseen marks the catalog items no training history holds: their id
	// rows stay zero, so their vectors are their content's, as for an item
	// added after training. Trained as negatives (the full softmax makes
	// every item one), the rows would learn "never recommend" from the
	// absence of data alone, and a new item is not unwanted.
	unseen []bool

	tables []*[]float32 // m.p.all() with tok for m.p.tok, in the order of acc, mom and vel
	acc    [][]float32  // adagrad accumulators: per row for sparse tables, per weight for dense
	mom    [][]float32  // adam first moments
	vel    [][]float32  // adam second moments
	step   atomic.Int64
}

func newTrainer(m *Model, train [][]int32) *trainer {
	cfg := m.cfg
	t := &trainer{m: m, cfg: cfg, train: train}
	t.unseen = make([]bool, len(m.items))
	for i := range t.unseen {
		t.unseen[i] = true
	}
	for _, h := range train {
		for _, i := range h {
			t.unseen[i] = false
		}
	}
	t.packTokens()
	if !cfg.HistoryContent && !cfg.FullSoftmax {
		t.content = make([]float32, len(m.items)*cfg.Dim)
		t.refreshContent()
	}
	t.tables = m.p.all()
	t.tables[1] = &t.tok
	n := len(m.items)
	freq := make([]float64, n)
	total := 0.0
	t.logq = make([]float32, n)
	if cfg.Objective == ObjectiveSet {
		// One example per user: the worker draws its targets.
		for u, h := range train {
			if len(h) < 2 {
				continue
			}
			t.ex = append(t.ex, example{int32(u), int32(len(h)), -1})
			for _, i := range h {
				freq[i]++
			}
		}
		// A batch's columns are its distinct targets: item j is among
		// them with probability 1 − exp(−λ_j), λ_j its expected count as
		// a target (drops are independent per place), plus Negatives/n.
		users := float64(max(len(t.ex), 1))
		for j := range freq {
			lambda := float64(cfg.Batch) * float64(cfg.DropFrac) * (freq[j] + 0.1) / users
			q := -math.Expm1(-lambda) + float64(cfg.Negatives)/float64(n)
			t.logq[j] = float32(math.Log(q))
		}
	} else {
		for u, h := range train {
			for k := 1; k < len(h); k++ {
				t.ex = append(t.ex, example{int32(u), int32(k), int32(k)})
				freq[h[k]]++
				total++
			}
		}
		// A candidate column holds item j with probability ∝ its share of
		// targets (in-batch) plus Negatives/n (uniform); smoothing keeps
		// unseen items finite.
		for j := range freq {
			q := float64(cfg.Batch)*(freq[j]+1)/(total+float64(n)) + float64(cfg.Negatives)/float64(n)
			t.logq[j] = float32(math.Log(q))
		}
	}
	d := cfg.Dim
	for k, p := range t.tables {
		size := len(*p)
		if sparse[k] {
			size /= d
		}
		if cfg.Optimizer == "adam" {
			t.mom = append(t.mom, make([]float32, len(*p)))
			t.vel = append(t.vel, make([]float32, len(*p)))
		} else {
			t.acc = append(t.acc, make([]float32, size))
		}
	}
	return t
}

// packTokens builds the packed token table from the model's.
func (t *trainer) packTokens() {
	m := t.m
	d := t.cfg.Dim
	row := make(map[int32]int32)
	n := 0
	for i := range m.feats {
		n += len(m.feats[i].toks)
	}
	all := make([]int32, 0, n)
	t.itemToks = make([][]int32, len(m.feats))
	for i := range m.feats {
		lo := len(all)
		for _, b := range m.feats[i].toks {
			r, ok := row[b]
			if !ok {
				r = int32(len(t.tokBucket))
				row[b] = r
				t.tokBucket = append(t.tokBucket, b)
			}
			all = append(all, r)
		}
		t.itemToks[i] = all[lo:len(all):len(all)]
	}
	t.tokStart = make([]int32, len(t.tokBucket)+1)
	for _, toks := range t.itemToks {
		for _, r := range toks {
			t.tokStart[r+1]++
		}
	}
	for r := range t.tokBucket {
		t.tokStart[r+1] += t.tokStart[r]
	}
	t.tokItems = make([]int32, len(all))
	t.tokWeights = make([]float32, len(all))
	fill := append([]int32(nil), t.tokStart[:len(t.tokBucket)]...)
	for i, toks := range t.itemToks {
		for _, r := range toks {
			t.tokItems[fill[r]] = int32(i)
			t.tokWeights[fill[r]] = 1 / float32(len(toks))
			fill[r]++
		}
	}
	t.tok = make([]float32, len(t.tokBucket)*d)
	for r, b := range t.tokBucket {
		copy(t.tok[r*d:(r+1)*d], m.p.tok[int(b)*d:int(b+1)*d])
	}
}

// refreshContent recomputes every item's content sum.
func (t *trainer) refreshContent() {
	d := t.cfg.Dim
	for i, toks := range t.itemToks {
		row := t.content[i*d : (i+1)*d]
		clear(row)
		if len(toks) > 0 {
			vec.AxpyRows(1/float32(len(toks)), t.tok, toks, row)
		}
		if cats := t.m.feats[i].cats; len(cats) > 0 {
			vec.AxpyRows(1/float32(len(cats)), t.m.p.cat, cats, row)
		}
	}
}

// syncTokens copies the packed token rows into the model's token table,
// for validation and for the caller.
func (t *trainer) syncTokens() {
	d := t.cfg.Dim
	for r, b := range t.tokBucket {
		copy(t.m.p.tok[int(b)*d:int(b+1)*d], t.tok[r*d:(r+1)*d])
	}
}

const (
	adamB1  = 0.9
	adamB2  = 0.999
	adamEps = 1e-8
	agEps   = 1e-8
)

// stepState is what an optimiser step needs beyond the gradient, fixed for
// one batch: Adam's bias corrections.
type stepState struct {
	c1, c2 float32
}

// stepState returns the optimiser state of the current step.
func (t *trainer) stepState() stepState {
	if t.cfg.Optimizer != "adam" {
		return stepState{}
	}
	step := float64(t.step.Load())
	return stepState{
		c1: float32(1 - math.Pow(adamB1, step)),
		c2: float32(1 - math.Pow(adamB2, step)),
	}
}

// update applies gradient g to weights w of table k starting at offset off
// (a row of a sparse table, or a whole dense table with off 0).
func (t *trainer) update(st stepState, k int, off int, g []float32) {
	w := (*t.tables[k])[off : off+len(g)]
	lr := t.cfg.LR
	if t.cfg.Optimizer == "adam" {
		vec.Adam(w, t.mom[k][off:off+len(g)], t.vel[k][off:off+len(g)], g, adamB1, adamB2, lr/st.c1, 1/st.c2, adamEps)
		return
	}
	if sparse[k] {
		// Row-wise Adagrad: one accumulator per row (the mean squared
		// gradient), a quarter of the memory of per-weight state for tables
		// that are most of the model.
		r := off / t.cfg.Dim
		a := t.acc[k][r] + vec.Dot(g, g)/float32(len(g))
		t.acc[k][r] = a
		vec.Axpy(-lr/float32(math.Sqrt(float64(a)+agEps)), g, w)
		return
	}
	acc := t.acc[k]
	for i, gi := range g {
		acc[i] += gi * gi
		w[i] -= lr * gi / float32(math.Sqrt(float64(acc[i])+agEps))
	}
}

// snapshot copies the weights, to keep the best epoch's, into s's storage
// when it has room: the hashed token table alone may be tens of
// megabytes, and a new copy at every better epoch costs its page faults.
func (m *Model) snapshot(s [][]float32) [][]float32 {
	all := m.p.all()
	if len(s) != len(all) {
		s = make([][]float32, len(all))
	}
	for k, p := range all {
		s[k] = append(s[k][:0], *p...)
	}
	return s
}

// copyTables copies the weights training updates (the packed token table
// for the model's), into s's storage when it has room.
func (t *trainer) copyTables(s [][]float32) [][]float32 {
	if len(s) != len(t.tables) {
		s = make([][]float32, len(t.tables))
	}
	for k, p := range t.tables {
		s[k] = append(s[k][:0], *p...)
	}
	return s
}

// setTables sets the weights training updates from a copyTables copy; the
// model's token table follows at the next syncTokens.
func (t *trainer) setTables(s [][]float32) {
	for k, p := range t.tables {
		copy(*p, s[k])
	}
}

func (m *Model) restore(s [][]float32) {
	for k, p := range m.p.all() {
		copy(*p, s[k])
	}
}

func (t *trainer) run(ctx context.Context, val []ValPair) error {
	cfg := t.cfg
	start := time.Now()
	workers := make([]*worker, cfg.Workers)
	for w := range workers {
		workers[w] = newWorker(t, uint64(w))
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x65706f6368))
	all := t.ex // grouped by user
	var ex []example
	best, bestEpoch, since := -1.0, 0, 0
	var bestW, avgW, cur [][]float32
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		if epoch > 1 && t.content != nil {
			t.refreshContent()
		}
		ex = t.epochExamples(rng, all, ex[:0])
		steps := (len(ex) + cfg.Batch - 1) / cfg.Batch
		var done atomic.Int64
		var mu sync.Mutex
		var lossSum float64
		var examples int64
		epochStart := time.Now()
		report := func(final bool, recall float64) {
			if cfg.Progress == nil {
				return
			}
			mu.Lock()
			p := TrainProgress{Member: 1, Members: 1, Epoch: epoch, Epochs: cfg.Epochs, Step: int(done.Load()), Steps: steps,
				Recall: recall, BestEpoch: bestEpoch, BestRecall: best, EpochDone: final, Elapsed: time.Since(start)}
			if p.Step > 0 {
				p.Loss = lossSum / float64(p.Step)
			}
			p.ExamplesPerSec = float64(examples) / time.Since(epochStart).Seconds()
			mu.Unlock()
			cfg.Progress(p)
		}
		// The batches run on the workers while this goroutine reports,
		// which Progress's contract asks for.
		finished := make(chan error, 1)
		go func() {
			finished <- parallel.For(ctx, steps, len(workers), func(w, b int) error {
				lo, hi := b*cfg.Batch, min((b+1)*cfg.Batch, len(ex))
				loss := workers[w].batch(ex[lo:hi])
				mu.Lock()
				lossSum += loss
				examples += int64(hi - lo)
				mu.Unlock()
				done.Add(1)
				return nil
			})
		}()
		var tick <-chan time.Time
		var ticker *time.Ticker
		if cfg.Progress != nil {
			ticker = time.NewTicker(time.Second)
			tick = ticker.C
		}
		var err error
	wait:
		for {
			select {
			case err = <-finished:
				break wait
			case <-tick:
				report(false, -1)
			}
		}
		if ticker != nil {
			ticker.Stop()
		}
		if err != nil {
			return err
		}
		if cfg.Average > 0 {
			// Validate the average; training goes on from the current
			// weights, put back below. Both are kept over the trainer's
			// tables, whose token table holds only the rows items use.
			cur = t.copyTables(cur)
			if avgW == nil {
				avgW = t.copyTables(nil)
			} else {
				for k := range avgW {
					vec.Scale(1-cfg.Average, avgW[k])
					vec.Axpy(cfg.Average, cur[k], avgW[k])
				}
			}
			t.setTables(avgW)
		}
		t.syncTokens()
		recall := -1.0
		if len(val) > 0 {
			var err error
			recall, err = t.m.recall(ctx, val, cfg.ValK, cfg.Workers)
			if err != nil {
				return err
			}
			if recall > best {
				best, bestEpoch, since = recall, epoch, 0
				bestW = t.m.snapshot(bestW)
			} else {
				since++
			}
		}
		if cfg.Average > 0 {
			t.setTables(cur)
		}
		report(true, recall)
		if len(val) > 0 && since >= cfg.Patience {
			break
		}
	}
	switch {
	case bestW != nil:
		t.m.restore(bestW)
	case avgW != nil:
		t.setTables(avgW)
		t.syncTokens()
	}
	return nil
}

// epochExamples returns the examples of one epoch in random order: all of
// them, or with Config.UserExamples at most that many random ones per user,
// plus Config.HeldIn held-in examples per user.
func (t *trainer) epochExamples(rng *rand.Rand, all, dst []example) []example {
	if t.cfg.Objective == ObjectiveSet {
		for range t.cfg.SetExamples {
			dst = append(dst, all...)
		}
		rng.Shuffle(len(dst), func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
		return dst
	}
	limit := t.cfg.UserExamples
	if limit <= 0 {
		dst = append(dst, all...)
	} else {
		for lo := 0; lo < len(all); {
			hi := lo + 1
			for hi < len(all) && all[hi].user == all[lo].user {
				hi++
			}
			seg := all[lo:hi]
			// A partial Fisher-Yates shuffle picks the sample in place.
			for k := 0; k < limit && k < len(seg); k++ {
				j := k + rng.IntN(len(seg)-k)
				seg[k], seg[j] = seg[j], seg[k]
			}
			dst = append(dst, seg[:min(limit, len(seg))]...)
			lo = hi
		}
	}
	if n := t.cfg.HeldIn; n > 0 {
		for u, h := range t.train {
			if len(h) < 2 {
				continue
			}
			for range n {
				dst = append(dst, example{int32(u), int32(len(h)), int32(rng.IntN(len(h)))})
			}
		}
	}
	rng.Shuffle(len(dst), func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
	return dst
}

// recall returns the mean Recall@k of the validation pairs: ranking every
// item by score, the pair's history excluded.
func (m *Model) recall(ctx context.Context, val []ValPair, k, workers int) (float64, error) {
	if m.members != nil {
		return 0, fmt.Errorf("tower: recall of %d joined members", len(m.members))
	}
	d := m.cfg.Dim
	n := len(m.items)
	// Every history item's input sum and every item's vector, once: users
	// share their items, and a block of users is scored against all items
	// in one matrix product.
	sums := make([]float32, n*d)
	ivT := make([]float32, d*n) // item vectors, one column each
	err := parallel.Range(ctx, n, workers, 256, func(_, lo, hi int) error {
		iv := make([]float32, d)
		for i := lo; i < hi; i++ {
			s := sums[i*d : (i+1)*d]
			m.itemSum(s, int32(i), true)
			m.itemOut(iv, s)
			for c, x := range iv {
				ivT[c*n+i] = x
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var hits atomic.Int64
	type scratch struct {
		scores, us []float32
		mark       []int32
	}
	blocks := (len(val) + recallBlock - 1) / recallBlock
	bufs := make([]*scratch, parallel.Workers(workers, blocks))
	err = parallel.For(ctx, blocks, workers, func(w, blk int) error {
		b := bufs[w]
		if b == nil {
			b = &scratch{make([]float32, recallBlock*n), make([]float32, recallBlock*d), make([]int32, n)}
			bufs[w] = b
		}
		lo, hi := blk*recallBlock, min((blk+1)*recallBlock, len(val))
		rows := hi - lo
		for r := range rows {
			v := &val[lo+r]
			u := int32(-1)
			if v.User >= 0 && m.p.user != nil && int(v.User) < len(m.users) {
				if i, ok := m.userIndex[m.users[v.User]]; ok {
					u = i
				}
			}
			m.userVector(u, len(v.History), func(s []float32, k int) bool {
				i := v.History[k]
				if i < 0 || int(i) >= n {
					return false
				}
				copy(s, sums[int(i)*d:int(i+1)*d])
				return true
			}, b.us[r*d:(r+1)*d])
		}
		scores := b.scores[:rows*n]
		clear(scores)
		vec.MatMulAdd(scores, b.us, ivT, rows, d, n)
		for r := range rows {
			v := &val[lo+r]
			sc := scores[r*n : (r+1)*n]
			stamp := int32(lo + r + 1)
			for _, h := range v.History {
				if h >= 0 && int(h) < n {
					b.mark[h] = stamp
				}
			}
			st := sc[v.Item]
			rank := 0
			for j, s := range sc {
				if s > st && b.mark[j] != stamp && int32(j) != v.Item {
					rank++
				}
			}
			if rank < k {
				hits.Add(1)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(hits.Load()) / float64(len(val)), nil
}

// recallBlock is how many validation users recall scores in one product.
const recallBlock = 16

// HoldOutLast splits each history of ds for training: the last interaction
// of a user with three or more is a validation pair, which early stopping
// watches; the rest trains. It returns the training histories and the
// pairs.
func HoldOutLast(ds *Dataset) ([][]int32, []ValPair) {
	train := make([][]int32, len(ds.History))
	var val []ValPair
	for u, h := range ds.History {
		items := make([]int32, len(h))
		for i, x := range h {
			items[i] = x.Item
		}
		if len(items) >= 3 {
			val = append(val, ValPair{User: int32(u), History: items[:len(items)-1], Item: items[len(items)-1]})
			items = items[:len(items)-1]
		}
		train[u] = items
	}
	return train, val
}

// Fit trains a model on the whole of ds, each user's last interaction held
// out to stop early (HoldOutLast), and returns it with the last progress
// report: the model `duet train` and `duet rebuild` make. cfg.Progress, if
// set, is called as Train calls it.
func Fit(ctx context.Context, ds *Dataset, cfg Config) (*Model, TrainProgress, error) {
	train, val := HoldOutLast(ds)
	var last TrainProgress
	m, err := Train(ctx, ds, train, val, cfg.RecordingProgress(&last))
	return m, last, err
}
