package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// Protocol names, as they appear in reports and in `duet eval --protocol`.
const (
	ProtocolLast       = "last"
	ProtocolRandom     = "random"
	ProtocolPredefined = "predefined"
)

// Split divides every user's interactions into training, validation and
// test. Its slices are indexed by user, as in the dataset it was made from.
//
// An item is in at most one of a user's three parts: every interaction of
// the user with a validation or test item is kept out of training, because
// the harness excludes training items from the ranking and a test item
// that was also a training item could never be retrieved.
type Split struct {
	// Protocol names how the split was made ("last", "random",
	// "predefined"), with "+cold" appended by HoldOutItems.
	Protocol string
	// Items is the catalogue size.
	Items int
	// Train[u] is user u's training interactions, oldest first.
	Train [][]tower.Interaction
	// Val[u] and Test[u] are user u's validation and test items, in
	// increasing order.
	Val, Test [][]int32
	// Cold lists the items held out by HoldOutItems, in increasing order;
	// nil otherwise.
	Cold []int32
	// ValShape is the shape of the validation items, ValLast or
	// ValRandom (a predefined split's, chosen or inferred).
	ValShape string
}

// SplitLast holds out, per user, the item of the latest interaction as the
// test item and the item of the latest interaction with any other item as
// the validation item; the rest is training. Ties in time go to the later
// event in the log. A user with fewer than three distinct items keeps them
// all for training and has no validation or test item: one item of history
// is too little to say anything about the user, and leaving such users out
// of training would cost the other users their co-occurrences.
func SplitLast(ds *tower.Dataset) *Split {
	s := newSplit(ProtocolLast, ds)
	s.ValShape = ValLast
	for u, h := range ds.History {
		var picked []int32 // test, then validation
		for i := len(h) - 1; i >= 0 && len(picked) < 2; i-- {
			if !slices.Contains(picked, h[i].Item) {
				picked = append(picked, h[i].Item)
			}
		}
		if len(picked) < 2 || !hasOther(h, picked) {
			s.Train[u] = slices.Clone(h)
			continue
		}
		s.Test[u] = []int32{picked[0]}
		s.Val[u] = []int32{picked[1]}
		s.Train[u] = without(h, picked)
	}
	return s
}

// SplitRandom puts a testFrac share of each user's distinct items, drawn at
// random, into test, and the same share of the remaining items into
// validation; the rest is training. Shares are rounded to the nearest count
// but are at least one item, and at least one item stays in training. A
// user with fewer than three distinct items keeps them all for training.
// The split depends only on the dataset, testFrac and seed: user u's draw
// is seeded by (seed, u).
func SplitRandom(ds *tower.Dataset, testFrac float64, seed uint64) (*Split, error) {
	if !(testFrac > 0 && testFrac < 1) {
		return nil, fmt.Errorf("split random: test fraction %v is not between 0 and 1", testFrac)
	}
	s := newSplit(ProtocolRandom, ds)
	s.ValShape = ValRandom
	for u, h := range ds.History {
		items := distinctItems(h)
		n := len(items)
		if n < 3 {
			s.Train[u] = slices.Clone(h)
			continue
		}
		slices.Sort(items) // the draw must not depend on history order
		r := rand.New(rand.NewPCG(seed, uint64(u)))
		r.Shuffle(n, func(i, j int) { items[i], items[j] = items[j], items[i] })
		nTest := share(n, testFrac, n-2)
		nVal := share(n-nTest, testFrac, n-nTest-1)
		s.Test[u] = sorted(items[:nTest])
		s.Val[u] = sorted(items[nTest : nTest+nVal])
		s.Train[u] = without(h, items[:nTest+nVal])
	}
	return s, nil
}

// Validation shapes of a predefined split (PredefinedOptions.Val): what
// the validation items are asked to stand for.
const (
	ValLast   = "last"   // each user's latest training item
	ValRandom = "random" // a fifth of each user's training items, at random
	ValAuto   = "auto"   // the shape of the test split (PredefinedOptions)
)

// PredefinedOptions configures SplitPredefined.
type PredefinedOptions struct {
	// Val is how validation is carved from training: ValLast (the
	// default), ValRandom, or ValAuto, which infers the test split's
	// shape from the timestamps: last when, for nine in ten test users or
	// more, every test event is no earlier than their training events;
	// without timestamps, last when every test user has one test item.
	// Otherwise random.
	Val string
	// Seed draws the random validation items (user u's draw is seeded by
	// (Seed, u)).
	Seed uint64
}

// SplitPredefined builds the dataset and the split from files in the
// generic format: the catalogue, the training events and the test events.
// Users are numbered in order of first appearance, training file first; a
// user seen only in the test file has an empty training history. Each
// user with three or more distinct training items gets validation items
// carved from training in the shape opts.Val gives (Split.ValShape says
// which). Test items the user also has in training are dropped (they
// cannot be retrieved once seen items are excluded). The returned
// dataset's History holds the training events only.
func SplitPredefined(ctx context.Context, itemsPath, trainPath, testPath string, opts PredefinedOptions) (*tower.Dataset, *Split, error) {
	switch opts.Val {
	case "":
		opts.Val = ValLast
	case ValLast, ValRandom, ValAuto:
	default:
		return nil, nil, fmt.Errorf("split predefined: validation %q, want last, random or auto", opts.Val)
	}
	items, err := tower.ReadItems(ctx, itemsPath)
	if err != nil {
		return nil, nil, fmt.Errorf("split predefined: %w", err)
	}
	ds := tower.NewDataset(items)
	err = tower.ReadEvents(ctx, trainPath, func(ev content.Event) error {
		if !ds.AddEvent(ev) {
			return fmt.Errorf("event of user %q: item %q: %w", ev.UserID, ev.ItemID, content.ErrUnknownItem)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("split predefined: training events: %w", err)
	}
	type pair struct {
		u, it int32
		time  int64
	}
	var test []pair
	err = tower.ReadEvents(ctx, testPath, func(ev content.Event) error {
		it, ok := ds.ItemIndex(ev.ItemID)
		if !ok {
			return fmt.Errorf("event of user %q: item %q: %w", ev.UserID, ev.ItemID, content.ErrUnknownItem)
		}
		u, ok := ds.UserIndex(ev.UserID)
		if !ok {
			// AddEvent is the only way to number a user; the event
			// itself must not stay in the training history.
			ds.AddEvent(ev)
			u = int32(len(ds.Users) - 1)
			ds.History[u] = nil
		}
		var t int64
		if !ev.Time.IsZero() {
			t = ev.Time.Unix()
		}
		test = append(test, pair{u, it, t})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("split predefined: test events: %w", err)
	}
	s := newSplit(ProtocolPredefined, ds)
	firstTest := map[int32]int64{}
	for _, p := range test {
		s.Test[p.u] = append(s.Test[p.u], p.it)
		if t, ok := firstTest[p.u]; !ok || p.time < t {
			firstTest[p.u] = p.time
		}
	}
	if s.ValShape = opts.Val; s.ValShape == ValAuto {
		s.ValShape = inferShape(ds.History, s.Test, firstTest)
	}
	for u, h := range ds.History {
		if t := s.Test[u]; t != nil {
			t = sorted(t)
			t = slices.DeleteFunc(t, func(it int32) bool { return containsItem(h, it) })
			if len(t) == 0 {
				t = nil
			}
			s.Test[u] = t
		}
		s.Train[u] = h
		items := distinctItems(h)
		if len(items) < 3 {
			continue
		}
		if s.ValShape == ValLast {
			s.Val[u] = []int32{h[len(h)-1].Item}
		} else {
			slices.Sort(items) // the draw must not depend on history order
			r := rand.New(rand.NewPCG(opts.Seed, uint64(u)))
			r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
			s.Val[u] = sorted(items[:share(len(items), 0.2, len(items)-2)])
		}
		s.Train[u] = without(h, s.Val[u])
	}
	return ds, s, nil
}

// inferShape says whether the test items look like each user's latest
// (ValLast) or drawn from anywhere (ValRandom); see
// PredefinedOptions.Val.
func inferShape(history [][]tower.Interaction, test [][]int32, firstTest map[int32]int64) string {
	var users, later, timed int
	single := true
	for u, h := range history {
		if len(test[u]) == 0 || len(h) == 0 {
			continue
		}
		users++
		single = single && len(test[u]) == 1
		var latest int64
		for _, x := range h {
			latest = max(latest, x.Time)
		}
		if latest == 0 && firstTest[int32(u)] == 0 {
			continue // no timestamps
		}
		timed++
		if firstTest[int32(u)] >= latest {
			later++
		}
	}
	switch {
	case timed == 0 && single && users > 0:
		return ValLast
	case timed > 0 && later*10 >= timed*9:
		return ValLast
	}
	return ValRandom
}

// HoldOutItems returns a copy of s for cold-start evaluation. A frac share
// of the items that occur anywhere in s (at least one item), drawn with
// seed, is held out: their interactions leave every user's training
// history and validation set, and each user's test set keeps only held-out
// items, so only users whose test items include one are evaluated. A
// user's other test items are dropped: they count neither as hits nor as
// seen items.
func HoldOutItems(s *Split, frac float64, seed uint64) (*Split, error) {
	if !(frac > 0 && frac < 1) {
		return nil, fmt.Errorf("hold out items: fraction %v is not between 0 and 1", frac)
	}
	if s.Cold != nil {
		return nil, errors.New("hold out items: the split already holds items out")
	}
	seen := make([]bool, s.Items)
	for u := range s.Train {
		for _, x := range s.Train[u] {
			seen[x.Item] = true
		}
		for _, it := range s.Val[u] {
			seen[it] = true
		}
		for _, it := range s.Test[u] {
			seen[it] = true
		}
	}
	var pool []int32
	for it, ok := range seen {
		if ok {
			pool = append(pool, int32(it))
		}
	}
	if len(pool) == 0 {
		return nil, errors.New("hold out items: the split has no interactions")
	}
	r := rand.New(rand.NewPCG(seed, 0x636f6c64)) // "cold"
	r.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	n := max(1, int(math.Round(frac*float64(len(pool)))))
	cold := sorted(pool[:n])
	isCold := make([]bool, s.Items)
	for _, it := range cold {
		isCold[it] = true
	}
	out := &Split{
		Protocol: s.Protocol + "+cold",
		Items:    s.Items,
		Train:    make([][]tower.Interaction, len(s.Train)),
		Val:      make([][]int32, len(s.Val)),
		Test:     make([][]int32, len(s.Test)),
		Cold:     cold,
		ValShape: s.ValShape,
	}
	keep := func(items []int32, want bool) []int32 {
		var k []int32
		for _, it := range items {
			if isCold[it] == want {
				k = append(k, it)
			}
		}
		return k
	}
	for u := range s.Train {
		out.Train[u] = slices.DeleteFunc(slices.Clone(s.Train[u]), func(x tower.Interaction) bool { return isCold[x.Item] })
		out.Val[u] = keep(s.Val[u], false)
		out.Test[u] = keep(s.Test[u], true)
	}
	return out, nil
}

// TrainItems returns each user's distinct training items, oldest first, an
// item placed at its latest interaction: the form Recommender.Fit takes.
func (s *Split) TrainItems() [][]int32 {
	out := make([][]int32, len(s.Train))
	for u, h := range s.Train {
		out[u] = tower.LatestOrder(h)
	}
	return out
}

// known returns, for every user, the interactions of ds with their
// training and validation items, in ds's order: what the user's history
// holds when the test items are asked for. Items of the split that ds's
// history lacks (a split made by hand) follow, training first.
func (s *Split) known(ds *tower.Dataset) [][]tower.Interaction {
	out := make([][]tower.Interaction, len(s.Train))
	for u := range s.Train {
		in := make(map[int32]bool, len(s.Train[u])+len(s.Val[u]))
		for _, x := range s.Train[u] {
			in[x.Item] = true
		}
		for _, it := range s.Val[u] {
			in[it] = true
		}
		found := make(map[int32]bool, len(in))
		for _, x := range ds.History[u] {
			if in[x.Item] {
				out[u] = append(out[u], x)
				found[x.Item] = true
			}
		}
		for _, x := range s.Train[u] {
			if !found[x.Item] {
				out[u] = append(out[u], x)
			}
		}
		for _, it := range s.Val[u] {
			if !found[it] {
				out[u] = append(out[u], tower.Interaction{Item: it})
			}
		}
	}
	return out
}

// check reports whether s fits ds.
func (s *Split) check(ds *tower.Dataset) error {
	nu := len(ds.Users)
	if len(s.Train) != nu || len(s.Val) != nu || len(s.Test) != nu {
		return fmt.Errorf("split has %d/%d/%d users, the dataset %d", len(s.Train), len(s.Val), len(s.Test), nu)
	}
	if s.Items != len(ds.Items) {
		return fmt.Errorf("split has %d items, the dataset %d", s.Items, len(ds.Items))
	}
	bad := func(it int32) bool { return it < 0 || int(it) >= s.Items }
	for u := range s.Train {
		for _, x := range s.Train[u] {
			if bad(x.Item) {
				return fmt.Errorf("user %d: training item %d out of range", u, x.Item)
			}
		}
		for _, it := range append(slices.Clip(s.Val[u]), s.Test[u]...) {
			if bad(it) {
				return fmt.Errorf("user %d: held-out item %d out of range", u, it)
			}
		}
	}
	for _, it := range s.Cold {
		if bad(it) {
			return fmt.Errorf("cold item %d out of range", it)
		}
	}
	return nil
}

func newSplit(protocol string, ds *tower.Dataset) *Split {
	n := len(ds.Users)
	return &Split{
		Protocol: protocol,
		Items:    len(ds.Items),
		Train:    make([][]tower.Interaction, n),
		Val:      make([][]int32, n),
		Test:     make([][]int32, n),
	}
}

// share returns round(frac*n), at least 1 and at most hi.
func share(n int, frac float64, hi int) int {
	k := int(math.Round(frac * float64(n)))
	return min(max(k, 1), hi)
}

// hasOther reports whether h holds an item outside picked.
func hasOther(h []tower.Interaction, picked []int32) bool {
	for _, x := range h {
		if !slices.Contains(picked, x.Item) {
			return true
		}
	}
	return false
}

// without returns the interactions of h whose item is not in drop.
func without(h []tower.Interaction, drop []int32) []tower.Interaction {
	out := make([]tower.Interaction, 0, len(h))
	for _, x := range h {
		if !slices.Contains(drop, x.Item) {
			out = append(out, x)
		}
	}
	return out
}

func containsItem(h []tower.Interaction, it int32) bool {
	for _, x := range h {
		if x.Item == it {
			return true
		}
	}
	return false
}

func distinctItems(h []tower.Interaction) []int32 {
	seen := make(map[int32]bool, len(h))
	var out []int32
	for _, x := range h {
		if !seen[x.Item] {
			seen[x.Item] = true
			out = append(out, x.Item)
		}
	}
	return out
}

func sorted(items []int32) []int32 {
	out := slices.Clone(items)
	slices.Sort(out)
	return slices.Compact(out)
}
