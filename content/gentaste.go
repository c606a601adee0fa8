package content

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

// GenTastes are the hidden interests of Generate's users: what a
// simulation needs to decide, without asking the engine, which items a
// generated user would take. Users' interests drift from the tastes their
// early events follow to the ones their late events follow.
type GenTastes struct {
	g     *genState
	users [][2][]genTaste // per user: before, after
}

// GenerateTastes draws the interests Generate with the same options gives
// its users, writing nothing.
func GenerateTastes(ctx context.Context, opts GenOptions) (*GenTastes, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("generate tastes: %w", err)
	}
	g := newGenState(opts)
	var st GenStats
	if err := g.writeItems(ctx, io.Discard, &st); err != nil {
		return nil, err
	}
	g.buildPools()
	t := &GenTastes{g: g, users: make([][2][]genTaste, opts.Users)}
	src := rand.NewPCG(0, 0)
	r := rand.New(src)
	var topics []int
	for u := range opts.Users {
		src.Seed(opts.Seed, genMix(genStreamUsers^uint64(u)))
		var before, after []genTaste
		topics, before, after = g.tastes(r, topics, nil, nil)
		t.users[u] = [2][]genTaste{before, after}
	}
	return t, nil
}

// genOffStyle is how much a user likes an item of their topic in another
// style than theirs, against 1 for their style; genOffTopic is an item of
// none of their topics.
const (
	genOffStyle = 0.35
	genOffTopic = 0.02
)

// Appeal says how much the user likes the item, in [genOffTopic, 1],
// with their interests drift of the way from their early to their late
// tastes (0 to 1). The topic's share of the user's interest counts, and
// their style within it: 1 for the one topic of a user who has one, in
// their style. Unknown ids appeal 0.
func (t *GenTastes) Appeal(user, item string, drift float64) float64 {
	u, ok1 := genIndex(user, "u", len(t.users))
	i, ok2 := genIndex(item, "i", len(t.g.topic))
	if !ok1 || !ok2 {
		return 0
	}
	drift = min(max(drift, 0), 1)
	topic, style := int(t.g.topic[i]), int(t.g.style[i])
	var a float64
	for phase, tastes := range t.users[u] {
		share := 1 - drift
		if phase == 1 {
			share = drift
		}
		var sum float64
		for _, ts := range tastes {
			sum += ts.weight
		}
		for _, ts := range tastes {
			if ts.topic == topic {
				w := ts.weight / sum
				if ts.style != style {
					w *= genOffStyle
				}
				a += share * w
			}
		}
	}
	return genOffTopic + (1-genOffTopic)*min(a, 1)
}

// Query draws what the user would type into a search box: two words of
// one of their topics, picked by the weight of their interest in it, from
// their late interests with probability drift (0 to 1), else their early
// ones. Its words are in the items' text, so a keyword index can answer
// it; which topic it names is the hidden part. Unknown users get "".
func (t *GenTastes) Query(user string, drift float64, r *rand.Rand) string {
	u, ok := genIndex(user, "u", len(t.users))
	if !ok {
		return ""
	}
	tastes := t.users[u][0]
	if r.Float64() < drift {
		tastes = t.users[u][1]
	}
	words := t.g.topics[genPickTaste(r, tastes).topic].words
	a := r.IntN(len(words))
	b := (a + 1 + r.IntN(len(words)-1)) % len(words)
	return words[a] + " " + words[b]
}

// genIndex reads a generated id: the prefix and a number below n.
func genIndex(id, prefix string, n int) (int, bool) {
	s, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return 0, false
	}
	x, err := strconv.Atoi(s)
	return x, err == nil && x >= 0 && x < n
}
