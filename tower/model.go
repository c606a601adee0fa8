package tower

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/internal/race"
	"github.com/duetrec/duet/internal/vec"
)

// Config sets the shape of the model and how it is trained. Zero-valued
// fields take the defaults listed; where zero is itself a useful setting
// (LogQ, IDDropout), a negative value asks for zero.
type Config struct {
	Dim        int     // vector size; 64
	Buckets    int     // hashed token buckets (unigrams and bigrams); 1<<18
	HistoryLen int     // N, the most recent history items the user tower reads; 50
	Encoder    string  // user tower: "mean", "recency" or "attention"; "recency"
	Decay      float32 // recency encoder: weight ratio between consecutive positions; 0.8
	UserID     bool    // add a learned user-id embedding in the user tower
	// WholeHistory makes the user tower read every history item instead
	// of the last HistoryLen, in training and inference alike: a model of
	// the user's whole taste rather than of their latest items. Mean and
	// recency encoders only (attention has a position row per place).
	WholeHistory bool

	// Objective is what training predicts: "next", the item at each
	// position from the items before it, or "set", a random share
	// (DropFrac) of the user's items from the rest of their history, all
	// dropped items at once under one multinomial likelihood (a denoising
	// autoencoder of the history, in two-tower form). "next".
	Objective string
	// DropFrac is the set objective's share of a user's items dropped
	// from the input to become targets, drawn anew for every example; 0.2.
	DropFrac float32
	// SetExamples is the set objective's examples per user and epoch,
	// each with its own drop; 8. A dataset has far fewer users than
	// next-item examples, and an epoch needs enough steps to be one.
	SetExamples int

	Temperature float32 // softmax temperature on cosine scores; 0.05
	LogQ        float32 // alpha of the logQ popularity correction; 1
	// DisableLogQ trains without the logQ correction. (The Disable… and
	// All… fields are left out of a model file's header when false, so
	// that the header of a model trained with the defaults is as before.)
	DisableLogQ bool `json:",omitempty"`
	// IDDropout is the probability that an item's id embedding is left out
	// for one batch (as target and in histories alike), so that the content
	// path alone learns to place it; 0.5.
	IDDropout float32
	// DisableIDDropout always trains with the id embeddings: better for
	// known items, worse for new ones.
	DisableIDDropout bool `json:",omitempty"`
	// Negatives adds that many uniformly sampled items, shared by the whole
	// batch, to the in-batch negatives; the logQ correction accounts for
	// both samplers. 0.
	Negatives int
	// FullSoftmax trains with the exact softmax over every item (no
	// sampling, no logQ) of a catalog of up to fullSoftmaxMax items. A
	// larger one trains on each batch's targets and Negatives sampled
	// items (sampledNegatives when Negatives is 0), with the logQ
	// correction, and the trained model's Config says so.
	FullSoftmax bool
	// HistoryContent trains the token and category rows through the items
	// of a batch's histories too, not only through its candidates (the
	// softmax columns). Without it, a history item that is not a
	// candidate reads its content sum (token mean + category mean) as
	// last computed: in an earlier batch where it was one, or at the
	// start of the epoch. A batch's histories hold many times the items
	// its candidates do, so this is several times slower per example; the
	// content path still learns from every target.
	HistoryContent bool

	Optimizer string  // "adagrad" (row-wise for embeddings) or "adam" (lazy); "adagrad"
	LR        float32 // learning rate; 0.1 for adagrad, 0.002 for adam
	Epochs    int     // maximum epochs; 20
	Patience  int     // epochs without validation gain before stopping; 3
	Batch     int     // examples per batch; 256
	// Average keeps a running average of the weights across epochs: after
	// each epoch the average moves this share of the way to the current
	// weights (the first epoch sets it). Validation, early stopping and
	// the returned model then use the average, which overfits less than
	// any one epoch; training itself goes on from the current weights.
	// 0.5.
	Average float32
	// DisableAverage keeps the best epoch's own weights instead.
	DisableAverage bool `json:",omitempty"`
	// UserExamples caps the examples drawn from one user per epoch (a new
	// random sample each epoch); 64. It bounds the cost of an epoch and
	// keeps the heaviest users, who would otherwise supply most examples,
	// from dominating training while every user counts the same in
	// evaluation.
	UserExamples int
	// AllUserExamples lifts the cap: every example of every user, every
	// epoch.
	AllUserExamples bool `json:",omitempty"`
	// HeldIn adds, per user and epoch, that many examples whose target is
	// a random item of the user's training history and whose input is the
	// rest of it: a bag-of-items objective beside the next-item one; 0.
	HeldIn int
	Seed   uint64 // random seed; 1
	// Members trains that many models, from seeds Seed, Seed+1, …, each
	// with its own early stopping, and joins them: a vector is the
	// members' unit vectors side by side, scaled by 1/√Members, so that a
	// dot product is the mean of the members' cosines and the vector
	// indexes see one model of Dim × Members. Fits from different seeds
	// end in different optima, and their mean ranks better than any one
	// (docs/EVALUATION.md), at Members times the training time and vector
	// size. 1.
	Members int
	Workers int // training goroutines; GOMAXPROCS (1 under the race detector)
	ValK    int // K of the validation Recall@K used for early stopping; 10

	// Progress, when set, is called on the goroutine that called Train,
	// never concurrently: about every second within an epoch and once at
	// its end (with the validation recall).
	Progress func(TrainProgress) `json:"-"`
}

func (c Config) withDefaults() Config {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Dim, 64)
	def(&c.Buckets, 1<<18)
	def(&c.HistoryLen, 50)
	def(&c.Epochs, 20)
	def(&c.Patience, 3)
	def(&c.Batch, 256)
	def(&c.ValK, 10)
	def(&c.SetExamples, 8)
	def(&c.Members, 1)
	if c.Objective == "" {
		c.Objective = ObjectiveNext
	}
	if c.DropFrac == 0 {
		c.DropFrac = 0.2
	}
	// A field a Disable… or All… setting turns off is 0 in the resolved
	// config, which is what training reads.
	switch {
	case c.AllUserExamples:
		c.UserExamples = 0
	case c.UserExamples == 0:
		c.UserExamples = 64
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if race.Enabled {
		// Hogwild updates are data races by design; the race detector
		// would rightly report them.
		c.Workers = 1
	}
	if c.Encoder == "" {
		c.Encoder = EncoderRecency
	}
	if c.Optimizer == "" {
		c.Optimizer = "adagrad"
	}
	if c.Decay == 0 {
		c.Decay = 0.8
	}
	if c.Temperature == 0 {
		c.Temperature = 0.05
	}
	switch {
	case c.DisableLogQ:
		c.LogQ = 0
	case c.LogQ == 0:
		c.LogQ = 1
	}
	switch {
	case c.DisableAverage:
		c.Average = 0
	case c.Average == 0:
		c.Average = 0.5
	}
	switch {
	case c.DisableIDDropout:
		c.IDDropout = 0
	case c.IDDropout == 0:
		c.IDDropout = 0.5
	}
	if c.LR == 0 {
		c.LR = 0.1
		if c.Optimizer == "adam" {
			c.LR = 0.002
		}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// The exact softmax computes every item's logit, gradient and item-tower
// pass in every batch. Above fullSoftmaxMax items the set objective trains
// on sampled columns instead: on the Last.fm-shaped catalogue (17,600
// items) 2,048 or 4,096 samples reached the exact softmax's test NDCG in
// half its time, while on MovieLens (9,742) 4,096 cost 1.5% at the random
// split (docs/BENCHMARKS.md).
const (
	fullSoftmaxMax   = 12000
	sampledNegatives = 4096
)

// resolveSoftmax turns FullSoftmax off for a catalog of n items larger
// than fullSoftmaxMax, sampling negatives instead.
func (c Config) resolveSoftmax(n int) Config {
	if c.FullSoftmax && n > fullSoftmaxMax {
		c.FullSoftmax = false
		if c.Negatives == 0 {
			c.Negatives = sampledNegatives
		}
	}
	return c
}

// Limits on a Config, so that a bad file or a typo cannot ask for
// unbounded memory.
const (
	maxDim        = 1024
	maxBuckets    = 1 << 24
	maxHistoryLen = 1024
	maxMembers    = 16
)

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.Dim < 1 || c.Dim > maxDim:
		return bad("Dim %d, want 1 to %d", c.Dim, maxDim)
	case c.Members < 0 || c.Members > maxMembers:
		// 0 is a file written before members existed: one model.
		return bad("Members %d, want 1 to %d", c.Members, maxMembers)
	case c.Dim*max(c.Members, 1) > maxDim:
		return bad("Dim × Members %d, want at most %d", c.Dim*c.Members, maxDim)
	case c.Buckets < 1 || c.Buckets > maxBuckets:
		return bad("Buckets %d, want 1 to %d", c.Buckets, maxBuckets)
	case c.HistoryLen < 1 || c.HistoryLen > maxHistoryLen:
		return bad("HistoryLen %d, want 1 to %d", c.HistoryLen, maxHistoryLen)
	case c.Encoder != EncoderMean && c.Encoder != EncoderRecency && c.Encoder != EncoderAttention:
		return bad("Encoder %q, want mean, recency or attention", c.Encoder)
	case c.Objective != "" && c.Objective != ObjectiveNext && c.Objective != ObjectiveSet:
		// "" is a file written before objectives had names: next-item.
		return bad("Objective %q, want next or set", c.Objective)
	case c.WholeHistory && c.Encoder == EncoderAttention:
		return bad("WholeHistory with the attention encoder, want mean or recency")
	case !(c.DropFrac >= 0 && c.DropFrac < 1):
		return bad("DropFrac %v, want [0, 1)", c.DropFrac)
	case c.Optimizer != "adagrad" && c.Optimizer != "adam":
		return bad("Optimizer %q, want adagrad or adam", c.Optimizer)
	case !(c.Decay > 0 && c.Decay <= 1):
		return bad("Decay %v, want (0, 1]", c.Decay)
	case !(c.Temperature > 0):
		return bad("Temperature %v, want > 0", c.Temperature)
	case !(c.LogQ >= 0 && c.LogQ <= 10):
		return bad("LogQ %v, want 0 to 10", c.LogQ)
	case !(c.IDDropout >= 0 && c.IDDropout <= 1):
		return bad("IDDropout %v, want 0 to 1", c.IDDropout)
	case !(c.LR > 0):
		return bad("LR %v, want > 0", c.LR)
	case !(c.Average >= 0 && c.Average <= 1):
		return bad("Average %v, want 0 to 1", c.Average)
	case c.Negatives < 0 || c.UserExamples < 0 || c.HeldIn < 0 || c.SetExamples < 0 || c.Batch < 1 || c.Epochs < 1 || c.Patience < 1 || c.Workers < 1 || c.ValK < 1:
		return bad("negative or zero count")
	}
	return nil
}

// Training objectives (Config.Objective).
const (
	ObjectiveNext = "next"
	ObjectiveSet  = "set"
)

// WithSetObjective returns c set to train the set objective the way it
// trains best on MovieLens (docs/EVALUATION.md): it overfits within a few
// epochs and wants Adam at a low rate and a slow average of the epochs'
// weights with more patience; id dropout, which trains the content path
// for cold items, costs it accuracy on known ones; the full softmax,
// because a user's dropped items are a sixth of their history and sampled
// columns cost a sixth of the validation NDCG; and the whole history but
// with the attention encoder, whose position rows fix its window.
func (c Config) WithSetObjective(temperature float32) Config {
	c.Objective, c.Temperature, c.Optimizer, c.LR, c.DisableIDDropout = ObjectiveSet, temperature, "adam", 0.001, true
	c.FullSoftmax, c.Average, c.Patience = true, 0.3, 5
	c.WholeHistory = c.Encoder != EncoderAttention
	return c
}

// Served is the configuration duet rebuild trains by default: long-term
// taste, the mean of the whole history trained on the set objective.
// Recommendations add short-term intent beside it from the same model
// (the recency-pooled latest items) and from the collaborative lists;
// of the models tried on MovieLens this serves both the random and the
// leave-last-out protocols best in that company (docs/EVALUATION.md).
// Its ids are dropped a fifth of the time, so that the content path alone
// places items without interactions: cold recall@10 0.121 against 0.095
// without, the warm figures within their run-to-run spread.
func Served() Config {
	c := Config{Encoder: EncoderMean}.WithSetObjective(0.05)
	c.DisableIDDropout, c.IDDropout = false, 0.2
	return c
}

// params are the weights of the network. Tables are row-major float32.
type params struct {
	id   []float32 // items × dim: item-id embeddings
	tok  []float32 // buckets × dim: hashed token embeddings
	cat  []float32 // categories × dim
	user []float32 // users × dim, when Config.UserID
	pos  []float32 // HistoryLen × dim: attention position embeddings, newest first
	att  []float32 // dim × dim: attention bilinear form
	wi   []float32 // dim × dim: item projection
	bi   []float32 // dim
	wu   []float32 // dim × dim: user projection
	bu   []float32 // dim
}

// all lists the weight slices in a fixed order: the file order, and the
// order optimiser state follows.
func (p *params) all() []*[]float32 {
	return []*[]float32{&p.id, &p.tok, &p.cat, &p.user, &p.pos, &p.att, &p.wi, &p.bi, &p.wu, &p.bu}
}

// Model is a trained two-tower model. Its methods are safe for concurrent
// use; vectors are L2-normalised, so a dot product is a cosine.
type Model struct {
	cfg Config

	items     []string // catalog index → item id
	itemIndex map[string]int32
	cats      []string // category vocabulary, built at training time
	catIndex  map[string]int32
	users     []string // user index → id, when Config.UserID
	userIndex map[string]int32
	feats     []features // per catalog item, extracted at training time

	p params
	// members, with Config.Members > 1, are the joined models; they share
	// this model's vocabularies and features, and p is empty.
	members []*Model

	// sums, set on a loaded model, holds every catalog item's input sum
	// (id row and content): a loaded model no longer changes, and the user
	// tower would otherwise recompute its history items' sums on every
	// request.
	sums []float32

	scratch sync.Pool // *userScratch
}

type userScratch struct {
	xs []float32
	p  []float32
	z  []float32
	st poolState
}

// Config returns the configuration the model was trained with, defaults
// filled in.
func (m *Model) Config() Config { c := m.cfg; c.Progress = nil; return c }

// Dim returns the length of the model's vectors: Config.Dim ×
// Config.Members.
func (m *Model) Dim() int { return m.cfg.Dim * max(len(m.members), 1) }

// join fills dst with every member's vector (vector writes a member's into
// its argument), scaled so that the whole has unit length.
func (m *Model) join(dst []float32, vector func(mm *Model, dst []float32)) []float32 {
	d := m.cfg.Dim
	dst = grow(dst, m.Dim())
	for k, mm := range m.members {
		vector(mm, dst[k*d:(k+1)*d:(k+1)*d])
	}
	vec.Scale(float32(1/math.Sqrt(float64(len(m.members)))), dst)
	return dst
}

// member returns member k of a model of Config.Members > 1, without
// weights: it shares m's vocabularies and features and has its own seed.
func (m *Model) member(k int) *Model {
	c := m.cfg
	c.Members, c.Seed, c.Progress = 1, m.cfg.Seed+uint64(k), nil
	return &Model{cfg: c, items: m.items, itemIndex: m.itemIndex, cats: m.cats, catIndex: m.catIndex,
		users: m.users, userIndex: m.userIndex, feats: m.feats}
}

// NumItems returns the number of catalog items the model was trained with.
func (m *Model) NumItems() int { return len(m.items) }

// ItemID returns the id of catalog item i, or "" when i is out of range.
func (m *Model) ItemID(i int32) string {
	if i < 0 || int(i) >= len(m.items) {
		return ""
	}
	return m.items[i]
}

// ItemIndex returns the catalog index of an item id: the row of its trained
// id embedding.
func (m *Model) ItemIndex(id string) (int32, bool) {
	i, ok := m.itemIndex[id]
	return i, ok
}

func grow(dst []float32, n int) []float32 {
	if cap(dst) < n {
		return make([]float32, n)
	}
	return dst[:n]
}

// itemSum computes the item tower's input sum (id embedding + token mean +
// category mean) of catalog item i, with or without the id.
func (m *Model) itemSum(s []float32, i int32, withID bool) {
	d := m.cfg.Dim
	if withID && m.sums != nil {
		copy(s, m.sums[int(i)*d:int(i+1)*d])
		return
	}
	var idRow []float32
	if withID {
		idRow = m.p.id[int(i)*d : int(i+1)*d]
	}
	f := &m.feats[i]
	bagForward(s, idRow, m.p.tok, f.toks, m.p.cat, f.cats)
}

// tabulateItemSums fills m.sums; only for a model whose weights are final.
func (m *Model) tabulateItemSums() {
	d := m.cfg.Dim
	sums := make([]float32, len(m.items)*d)
	for i := range m.items {
		m.itemSum(sums[i*d:(i+1)*d], int32(i), true)
	}
	m.sums = sums
}

// itemOut projects an input sum and normalises it: the item tower's output.
func (m *Model) itemOut(dst, s []float32) {
	z := make([]float32, m.cfg.Dim)
	denseForward(z, m.p.wi, m.p.bi, s)
	normForward(dst, z)
}

// features extracts the features of any item with the model's vocabulary.
func (m *Model) features(it *content.Item) features {
	a, err := analyzer()
	if err != nil {
		// Train and Load have already built the analyzer; a failure here
		// cannot happen, and the category path still works.
		return features{cats: itemFeatures(nil, &content.Item{Categories: it.Categories}, m.cfg.Buckets, m.catIndex).cats}
	}
	return itemFeatures(a, it, m.cfg.Buckets, m.catIndex)
}

// ItemVector computes the vector of any item from its content. A catalog
// item (its ID known to the model) also gets its trained id embedding; a new
// item is embedded by its content alone. It writes into dst when dst has
// room and returns the vector.
func (m *Model) ItemVector(it content.Item, dst []float32) []float32 {
	// Members share the vocabulary: the features are extracted once.
	f := m.features(&it)
	if m.members != nil {
		return m.join(dst, func(mm *Model, dst []float32) { mm.itemVector(it.ID, &f, dst) })
	}
	return m.itemVector(it.ID, &f, dst)
}

// ItemVectors computes ItemVector of every item on every core, into dst
// when it has room: row i, dst[i*Dim():(i+1)*Dim()], is items[i]'s. A
// rebuild embeds its catalogue once with it, for validation and the index.
func (m *Model) ItemVectors(ctx context.Context, items []content.Item, dst []float32) ([]float32, error) {
	d := m.Dim()
	dst = grow(dst, len(items)*d)
	err := parallel.Range(ctx, len(items), 0, 256, func(_, lo, hi int) error {
		for i := lo; i < hi; i++ {
			v := dst[i*d : (i+1)*d : (i+1)*d]
			copy(v, m.ItemVector(items[i], v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dst, nil
}

// itemVector is ItemVector of an item with features f.
func (m *Model) itemVector(id string, f *features, dst []float32) []float32 {
	d := m.cfg.Dim
	dst = grow(dst, d)
	var idRow []float32
	if i, ok := m.itemIndex[id]; ok {
		idRow = m.p.id[int(i)*d : int(i+1)*d]
	}
	s := make([]float32, d)
	bagForward(s, idRow, m.p.tok, f.toks, m.p.cat, f.cats)
	m.itemOut(dst, s)
	return dst
}

// ItemVectorByIndex computes the vector of catalog item i from the features
// cached at training time. It returns nil when i is out of range.
func (m *Model) ItemVectorByIndex(i int32, dst []float32) []float32 {
	if i < 0 || int(i) >= len(m.items) {
		return nil
	}
	if m.members != nil {
		return m.join(dst, func(mm *Model, dst []float32) { mm.ItemVectorByIndex(i, dst) })
	}
	dst = grow(dst, m.cfg.Dim)
	s := make([]float32, m.cfg.Dim)
	m.itemSum(s, i, true)
	m.itemOut(dst, s)
	return dst
}

// QueryVector embeds free text into the item space through the item
// tower's content path, for vector search by text. It reports false, with a
// zero vector, when the text holds no indexable word.
func (m *Model) QueryVector(text string, dst []float32) ([]float32, bool) {
	toks, err := textTokens(text, m.cfg.Buckets)
	if err != nil || len(toks) == 0 {
		dst = grow(dst, m.Dim())
		clear(dst)
		return dst, false
	}
	// Members share the vocabulary: the text is analysed once.
	if m.members != nil {
		return m.join(dst, func(mm *Model, dst []float32) { mm.queryVector(toks, dst) }), true
	}
	return m.queryVector(toks, dst), true
}

// queryVector is QueryVector of a text with tokens toks (not empty).
func (m *Model) queryVector(toks []int32, dst []float32) []float32 {
	d := m.cfg.Dim
	dst = grow(dst, d)
	s := make([]float32, d)
	bagForward(s, nil, m.p.tok, toks, m.p.cat, nil)
	m.itemOut(dst, s)
	return dst
}

// UserVector computes the vector of a user from their history: catalog
// item indices, oldest first, of which the last HistoryLen count (all of
// them with Config.WholeHistory). Indices out of range are skipped. An
// empty history gives the model's prior user vector (the user projection's
// bias direction).
func (m *Model) UserVector(history []int32, dst []float32) []float32 {
	if m.members != nil {
		return m.join(dst, func(mm *Model, dst []float32) { mm.UserVector(history, dst) })
	}
	return m.userVector(-1, len(history), func(s []float32, k int) bool {
		i := history[k]
		if i < 0 || int(i) >= len(m.items) {
			return false
		}
		m.itemSum(s, i, true)
		return true
	}, dst)
}

// UserVectorItems computes the vector of a user from a history of items
// that may be new to the model, as a live server reads it from the store:
// oldest first. Items whose ID the model knows use their trained id
// embedding and the features cached at training time; new items are
// embedded by their content.
func (m *Model) UserVectorItems(history []content.Item, dst []float32) []float32 {
	return m.itemsVector(history, dst, (*Model).userVectorItems)
}

// RecentVectorItems is the short-term counterpart of UserVectorItems: the
// user tower over the newest n items of the history pooled by recency
// (Config.Decay), whatever encoder the model was trained with. For a model
// of whole histories (long-term taste) it places the user's latest intent
// in the same space, so that both can be searched side by side.
func (m *Model) RecentVectorItems(history []content.Item, n int, dst []float32) []float32 {
	return m.itemsVector(history[max(0, len(history)-n):], dst, (*Model).recentVectorItems)
}

// itemsVector runs vector, a user tower over a history of items, on the
// model or on each member and joins them. Members share the vocabulary: a
// new item's features are extracted once, by the first member that reads
// the item.
func (m *Model) itemsVector(history []content.Item, dst []float32, vector func(mm *Model, history []content.Item, feats func(k int) features, dst []float32) []float32) []float32 {
	if m.members == nil {
		return vector(m, history, func(k int) features { return m.features(&history[k]) }, dst)
	}
	seen := make(map[int]features)
	feats := func(k int) features {
		f, ok := seen[k]
		if !ok {
			f = m.features(&history[k])
			seen[k] = f
		}
		return f
	}
	return m.join(dst, func(mm *Model, dst []float32) { vector(mm, history, feats, dst) })
}

func (m *Model) recentVectorItems(history []content.Item, feats func(k int) features, dst []float32) []float32 {
	return m.pooledVector(-1, EncoderRecency, len(history), len(history), m.itemsSum(history, feats), dst)
}

// userVectorItems is UserVectorItems with feats giving the features of
// history entry k when the model does not know its item.
func (m *Model) userVectorItems(history []content.Item, feats func(k int) features, dst []float32) []float32 {
	return m.userVector(-1, len(history), m.itemsSum(history, feats), dst)
}

// itemsSum is the input sum function of a history of items that may be
// new to the model.
func (m *Model) itemsSum(history []content.Item, feats func(k int) features) func(s []float32, k int) bool {
	d := m.cfg.Dim
	return func(s []float32, k int) bool {
		if i, ok := m.itemIndex[history[k].ID]; ok {
			m.itemSum(s, i, true)
			return true
		}
		f := feats(k)
		bagForward(s[:d], nil, m.p.tok, f.toks, m.p.cat, f.cats)
		return true
	}
}

// UserVectorID is UserVector for a model trained with Config.UserID: it
// adds the user's id embedding when the model knows the user. For other
// models and unknown users it equals UserVector.
func (m *Model) UserVectorID(userID string, history []int32, dst []float32) []float32 {
	if m.members != nil {
		return m.join(dst, func(mm *Model, dst []float32) { mm.UserVectorID(userID, history, dst) })
	}
	u := int32(-1)
	if i, ok := m.userIndex[userID]; ok && m.p.user != nil {
		u = i
	}
	return m.userVector(u, len(history), func(s []float32, k int) bool {
		i := history[k]
		if i < 0 || int(i) >= len(m.items) {
			return false
		}
		m.itemSum(s, i, true)
		return true
	}, dst)
}

// userVector runs the user tower over the last HistoryLen of n history
// entries (all n with WholeHistory); sum fills the input sum of entry k,
// or reports false to skip it.
func (m *Model) userVector(user int32, n int, sum func(s []float32, k int) bool, dst []float32) []float32 {
	N := m.cfg.HistoryLen
	if m.cfg.WholeHistory {
		N = max(n, 1)
	}
	return m.pooledVector(user, m.cfg.Encoder, N, n, sum, dst)
}

// pooledVector runs the user tower over the last N of n history entries,
// pooled by enc.
func (m *Model) pooledVector(user int32, enc string, N, n int, sum func(s []float32, k int) bool, dst []float32) []float32 {
	d := m.cfg.Dim
	dst = grow(dst, d)
	N = max(N, 1)
	sc, _ := m.scratch.Get().(*userScratch)
	if sc == nil {
		sc = &userScratch{}
	}
	defer m.scratch.Put(sc)
	sc.xs = grow(sc.xs, N*d)
	sc.p = grow(sc.p, d)
	sc.z = grow(sc.z, d)
	// Walk back from the newest entry so skipped ones do not use up the
	// window, then keep the window oldest first.
	cnt := 0
	for k := n - 1; k >= 0 && cnt < N; k-- {
		if sum(sc.xs[(N-1-cnt)*d:(N-cnt)*d], k) {
			cnt++
		}
	}
	xs := sc.xs[(N-cnt)*d:]
	if cnt > 0 {
		poolForward(enc, sc.p, xs, nil, cnt, m.cfg.Decay, m.p.pos, m.p.att, &sc.st)
	} else {
		clear(sc.p)
	}
	if user >= 0 {
		vec.Axpy(1, m.p.user[int(user)*d:int(user+1)*d], sc.p)
	}
	denseForward(sc.z, m.p.wu, m.p.bu, sc.p)
	normForward(dst, sc.z)
	return dst
}
