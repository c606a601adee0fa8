package eval

import (
	"context"
	"fmt"
	"strings"

	"github.com/duetrec/duet/tower"
)

// Baselines lists the names NewBaseline knows, in the order `duet eval`
// runs them by default.
var Baselines = []string{"pop", "itemknn", "ease", "bpr", "random"}

// NewBaseline returns the baseline of that name with its default settings
// and tuning grid; seed drives the ones that draw at random.
func NewBaseline(name string, seed uint64) (Recommender, error) {
	switch strings.ToLower(name) {
	case "pop":
		return &Pop{}, nil
	case "random":
		return &Random{Seed: seed}, nil
	case "itemknn":
		return &ItemKNN{Neighbours: 100}, nil
	case "ease":
		return &EASE{Lambda: 250}, nil
	case "bpr":
		return &BPR{Seed: seed}, nil
	}
	return nil, fmt.Errorf("eval: unknown baseline %q (known: %s)", name, strings.Join(Baselines, ", "))
}

// Pop scores every item by the number of users with it in training.
type Pop struct {
	counts []float32
}

// Name returns "pop".
func (p *Pop) Name() string { return "pop" }

// Fit counts the users of every item.
func (p *Pop) Fit(_ context.Context, ds *tower.Dataset, train [][]int32) error {
	p.counts = make([]float32, len(ds.Items))
	for _, h := range train {
		for _, it := range h {
			p.counts[it]++
		}
	}
	return nil
}

// Score copies the counts.
func (p *Pop) Score(_ int32, _ []int32, scores []float32) { copy(scores, p.counts) }

// Params returns no settings.
func (p *Pop) Params() map[string]any { return map[string]any{} }

// Random scores every item by a hash of (Seed, user, item): a fixed,
// arbitrary order per user. It is the floor every model must clear, and on
// held-out items it is what a model without content can do.
type Random struct {
	Seed uint64
}

// Name returns "random".
func (r *Random) Name() string { return "random" }

// Fit does nothing.
func (r *Random) Fit(context.Context, *tower.Dataset, [][]int32) error { return nil }

// Score fills scores with values in [0, 1) that depend only on Seed, the
// user and the item.
func (r *Random) Score(user int32, _ []int32, scores []float32) {
	base := mix(r.Seed ^ mix(uint64(user)+0x9e3779b97f4a7c15))
	for i := range scores {
		scores[i] = float32(mix(base+uint64(i))>>40) / (1 << 24)
	}
}

// Params returns the seed.
func (r *Random) Params() map[string]any { return map[string]any{"seed": r.Seed} }

// mix is the splitmix64 finaliser: a cheap, well-spread hash of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
