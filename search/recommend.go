package search

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
)

// The candidate sources of recommendations.
const (
	// SourceTower is the two-tower model's list: the items nearest the
	// user vector.
	SourceTower = "tower"
	// SourceCF is the collaborative list: the item-to-item neighbours of
	// the user's history, their weights summed, or with Parts.CF the
	// collaborative model's exact scores for every item.
	SourceCF = "cf"
	// SourceRecent is the two-tower model's list for the user's latest
	// items alone (Options.RecentLen, pooled by recency): short-term
	// intent beside the tower's long-term taste. It needs an Encoder that
	// is also a RecentEncoder.
	SourceRecent = "recent"
	// SourceSession is the nearby lists' list for the user's latest items
	// alone (Options.RecentLen), each weighed by exp(−age/SessionDecay)
	// with age 0 for the latest: what was met close to what the user is
	// doing now, where SourceNearby is what was met close to everything
	// they did. Without Parts.Nearby (a snapshot from before them) it
	// reads Parts.Neighbours, the collaborative lists, which find the next
	// item less well (docs/EVALUATION.md).
	SourceSession = "session"
	// SourceSequence is the sequence lists' list for the user's latest
	// items, weighed as SourceSession's: the items other users went on to
	// after them (Parts.Sequence), where SourceSession's lists are what
	// goes with them in any order.
	SourceSequence = "sequence"
	// SourceNearby is the nearby lists' list for the user's whole history:
	// the items other users met within a few places of the user's items
	// (Parts.Nearby), where SourceCF's are what goes with them across
	// whole histories.
	SourceNearby = "nearby"
	// SourceContent is the text index's list for the words of the user's
	// latest items (ContentItems of them: titles, categories and tags):
	// items like what the user is doing now by what they say, new items
	// without any interactions included.
	SourceContent = "content"
	// SourcePopular is the most popular items: the floor when nothing is
	// known, and a prior beside the others.
	SourcePopular = "popular"
)

// Sources lists the source names, in the order explanations give them.
var Sources = []string{SourceTower, SourceRecent, SourceCF, SourceNearby, SourceSession, SourceSequence, SourceContent, SourcePopular}

// ContentItems is how many of the user's latest items SourceContent
// reads.
const ContentItems = 3

// SessionDecay is the age, in items, over which a history item's weight
// in SourceSession falls by e: the latest three items carry most of it,
// which is what the next-item validation on MovieLens preferred
// (docs/EVALUATION.md).
const SessionDecay = 3

// RecentEncoder is an Encoder that also embeds a user's latest items
// alone (ModelEncoder is one).
type RecentEncoder interface {
	RecentVector(history []content.Item, n int) ([]float32, bool)
}

// DefaultSources weighs the sources when nothing chose their weights on
// validation, and is where the choice starts: on MovieLens, with relative
// fusion, as good as the best choice at held-out items drawn at random
// and a little better at each user's next item; the nearby list at 0.5
// added 2.5–3.6% to the collaborative list's random fifth
// (docs/EVALUATION.md).
var DefaultSources = map[string]float64{SourceTower: 0.5, SourceRecent: 0.2, SourceCF: 1, SourceNearby: 0.5, SourceSession: 0.2, SourceContent: 0.2}

// SourceRank is where one source ranked a hit.
type SourceRank struct {
	Source string  `json:"source"`
	Rank   int     `json:"rank"` // 1-based
	Score  float64 `json:"score"`
}

// MaxHistory bounds Request.History, and is the default of
// Options.SeenLen: the most of a user's latest events that exclude-seen
// and the collaborative lists read. A user with thousands of events (the
// heaviest raters of MovieLens) must get none of them back and all of them
// summed, as an evaluation that passes the whole history does.
const MaxHistory = 5000

// Recommend answers a request for recommendations: the candidate lists of
// the sources (Sources), fused
// by Request.Fusion or Options.SourceFusion — relative: Σ weight·(score −
// min)/(max − min) over the lists that hold an item; rrf: Σ weight/(RRFK +
// rank). When no source proposes anything (a user without history), the
// popular items are the answer. The user's history comes from
// Request.History when given, else from the store through History; the
// whole history read goes to the model, which keeps its own window, and to
// the collaborative lists. Request.Sources and Request.Weights choose the
// sources and their weights (default: Options.Sources, without the
// sources whose part the engine lacks); Query, Vector and Mode are
// ignored. Filters, ExcludeSeen, diversity and paging apply as in Search,
// and each explained hit names the sources that proposed it and their
// ranks.
func (e *Engine) Recommend(ctx context.Context, req Request) (*Result, error) {
	start := time.Now()
	c, err := e.Candidates(ctx, req)
	if err != nil {
		return nil, err
	}
	res, err := c.Fuse(c.weights, req.Fusion)
	if err != nil {
		return nil, err
	}
	res.Timing.Total = time.Since(start)
	return res, nil
}

// Candidates are the candidate lists of a recommendation request, fetched
// once. Fuse ranks them under any weights as Recommend would with those
// weights: choosing weights on validation fetches each case's lists once
// and fuses them many times.
type Candidates struct {
	e       *Engine
	req     Request // normalised
	weights map[string]float64
	hist    []*content.Item
	allow   func(*content.Item) bool
	lists   [][]Scored // indexed as Sources; nil when not fetched
	timing  Timings
	// degraded is Result.Degraded: the history could not be read.
	degraded string
}

// Candidates fetches the candidate lists of the sources Recommend would
// ask for req (those of positive weight), filtered, seen items excluded
// as the request says, each to the request's window.
func (e *Engine) Candidates(ctx context.Context, req Request) (*Candidates, error) {
	req.Query, req.Vector, req.Mode = "", nil, ModeVector
	fusion := req.Fusion
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	if err := e.checkSourceFusion(fusion); err != nil {
		return nil, err
	}
	weights, err := e.sourceWeights(&req)
	if err != nil {
		return nil, err
	}
	c := &Candidates{e: e, req: req, weights: weights, lists: make([][]Scored, len(Sources))}

	t := time.Now()
	history, seen, degraded, err := e.history(ctx, &req)
	if err != nil {
		return nil, err
	}
	c.degraded = degraded
	c.allow = e.allowFunc(&req, seen)
	var filter index.Filter
	if c.allow != nil {
		filter = e.itemFilter(&req, c.allow, seen)
	}
	// The whole history goes to the model, which reads its own window.
	for _, id := range history {
		if it, ok := e.cat.Item(id); ok {
			c.hist = append(c.hist, it)
		}
	}
	var items []content.Item
	if len(c.hist) > 0 && (weights[SourceTower] > 0 || weights[SourceRecent] > 0) {
		items = make([]content.Item, len(c.hist))
		for i, it := range c.hist {
			items[i] = *it
		}
	}
	c.timing.User = time.Since(t)

	for s, name := range Sources {
		if weights[name] <= 0 {
			continue
		}
		t := time.Now()
		switch name {
		case SourceTower, SourceRecent:
			if len(items) == 0 {
				continue
			}
			var uv []float32
			var ok bool
			if name == SourceTower {
				uv, ok = e.enc.UserVector(items)
			} else {
				uv, ok = e.enc.(RecentEncoder).RecentVector(items, e.opts.RecentLen)
			}
			if !ok {
				continue
			}
			hits, err := e.vectors.Search(ctx, uv, req.Window, filter)
			if err != nil {
				return nil, fmt.Errorf("recommend: vector index: %w", err)
			}
			c.lists[s] = fromResults(hits)
			c.timing.ANN += time.Since(t)
		case SourceCF, SourceNearby, SourceSession, SourceSequence:
			if len(history) == 0 {
				continue
			}
			lists := e.cf
			switch name {
			case SourceNearby:
				lists = e.near
			case SourceSession:
				lists = e.sess
			case SourceSequence:
				lists = e.seq
			}
			from, hw := history, []float32(nil)
			if name == SourceSession || name == SourceSequence {
				// The latest items, the latest weighing most.
				from = history[max(0, len(history)-e.opts.RecentLen):]
				hw = make([]float32, len(from))
				for i := range from {
					hw[i] = float32(math.Exp(-float64(len(from)-1-i) / SessionDecay))
				}
			}
			hits, err := lists.RecommendWeighted(ctx, from, hw, req.Window, filter)
			if err != nil {
				return nil, fmt.Errorf("recommend: neighbours: %w", err)
			}
			c.lists[s] = fromResults(hits)
			c.timing.ANN += time.Since(t)
		case SourceContent:
			q := likeText(c.hist[max(0, len(c.hist)-ContentItems):])
			if q == "" {
				continue
			}
			// The text index does not know what the user has seen: ask
			// for as many more.
			tr := req
			tr.Query, tr.Window = q, min(req.Window+len(seen), text.MaxK)
			hits, err := e.startText(ctx, &tr).list(e.cat, c.allow)
			if err != nil {
				return nil, fmt.Errorf("recommend: %w", err)
			}
			c.lists[s] = hits[:min(len(hits), req.Window)]
			c.timing.Keyword += time.Since(t)
		case SourcePopular:
			c.lists[s] = e.cat.Popular(req.Window, c.allow)
		}
	}
	return c, nil
}

// Fuse ranks the candidates as Recommend does under the given weights
// (sources it lacks, or whose lists were not fetched, propose nothing)
// and fusion (the engine's when empty): the request's paging, diversity
// and explanations apply.
func (c *Candidates) Fuse(weights map[string]float64, fusion Fusion) (*Result, error) {
	e := c.e
	if err := e.checkSourceFusion(fusion); err != nil {
		return nil, err
	}
	if fusion == "" {
		fusion = e.opts.SourceFusion
	}
	if err := checkWeights(weights); err != nil {
		return nil, err
	}
	res := &Result{Mode: ModeRecommend, Fusion: fusion, Source: "sources", Timing: c.timing, Degraded: c.degraded}
	lists := make([][]Scored, len(Sources))
	for s, name := range Sources {
		if weights[name] > 0 {
			lists[s] = c.lists[s]
		}
	}
	if !slices.ContainsFunc(lists, func(l []Scored) bool { return len(l) > 0 }) {
		// Nothing to go on: the popular items are the floor.
		lists[slices.Index(Sources, SourcePopular)] = e.cat.Popular(c.req.Window, c.allow)
		weights = map[string]float64{SourcePopular: 1}
	}
	t := time.Now()
	cands := fuseSources(lists, weights, fusion, c.req.RRFK, c.req.Explain)
	res.Timing.Fusion = time.Since(t)
	t = time.Now()
	res.Hits, res.Total = e.finishSources(cands, &c.req, c.hist)
	res.Timing.Rerank = time.Since(t)
	return res, nil
}

// checkWeights refuses weights of unknown sources and out of range.
func checkWeights(weights map[string]float64) error {
	for name, w := range weights {
		if !slices.Contains(Sources, name) {
			return invalid("unknown source %q (want %s)", clip(name), strings.Join(Sources, ", "))
		}
		if math.IsNaN(w) || w < 0 || w > 1e6 {
			return invalid("weight of %s must be from 0 to 1000000", name)
		}
	}
	return nil
}

// checkSourceFusion refuses a fusion recommendations do not know.
func (e *Engine) checkSourceFusion(f Fusion) error {
	switch f {
	case "", FusionRRF, FusionRelative:
		return nil
	}
	return invalid("recommendations fuse by rrf or relative, not %q", clip(string(f)))
}

// sourceWeights returns the weights of the sources a request asks for:
// its own Weights or the engine's, restricted to the Sources it names (a
// named source weighed 0 counts as 1); sources whose part the engine lacks
// weigh 0.
func (e *Engine) sourceWeights(req *Request) (map[string]float64, error) {
	base := e.opts.Sources
	if req.Weights != nil {
		base = req.Weights
		if err := checkWeights(base); err != nil {
			return nil, err
		}
	}
	w := map[string]float64{}
	if len(req.Sources) == 0 {
		for _, name := range Sources {
			w[name] = base[name]
		}
	}
	for _, name := range req.Sources {
		if !slices.Contains(Sources, name) {
			return nil, invalid("unknown source %q (want %s)", clip(name), strings.Join(Sources, ", "))
		}
		if w[name] = base[name]; w[name] <= 0 {
			w[name] = 1
		}
	}
	if e.cf == nil {
		w[SourceCF] = 0
	}
	if e.sess == nil {
		w[SourceSession] = 0
	}
	if e.seq == nil {
		w[SourceSequence] = 0
	}
	if e.near == nil {
		w[SourceNearby] = 0
	}
	if e.text == nil {
		w[SourceContent] = 0
	}
	if _, ok := e.enc.(RecentEncoder); !ok {
		w[SourceRecent] = 0
	}
	return w, nil
}

// history returns the user's history, oldest first, and, with
// ExcludeSeen, the set of items to exclude; degraded says when it could
// not be read (userEvents).
func (e *Engine) history(ctx context.Context, req *Request) ([]string, map[string]bool, string, error) {
	var ids []string
	var degraded string
	switch {
	case req.History != nil:
		ids = req.History
	case req.UserID != "":
		// The collaborative lists sum the whole history, excluded or not.
		n := max(e.opts.HistoryLen, e.opts.SeenLen)
		evs, d, err := e.userEvents(ctx, req.UserID, n)
		if err != nil {
			return nil, nil, "", fmt.Errorf("recommend: history of %q: %w", req.UserID, err)
		}
		degraded = d
		ids = make([]string, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ItemID
		}
	}
	if !req.ExcludeSeen || len(ids) == 0 {
		return ids, nil, degraded, nil
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	return ids, seen, degraded, nil
}

// likeText is a text query for items like the given ones: their titles,
// categories and tags, the latest item first, cut to what a query may
// hold.
func likeText(items []*content.Item) string {
	var b strings.Builder
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		for _, s := range append(append([]string{it.Title}, it.Categories...), it.Tags...) {
			if b.Len() > 0 {
				s = " " + s
			}
			if room := text.MaxQueryBytes - b.Len(); len(s) > room {
				// Whole characters only.
				for room > 0 && !utf8.RuneStart(s[room]) {
					room--
				}
				b.WriteString(s[:room])
				return b.String()
			}
			b.WriteString(s)
		}
	}
	return b.String()
}

func fromResults(hits []index.Result) []Scored {
	out := make([]Scored, len(hits))
	for i, h := range hits {
		out[i] = Scored{ID: h.ID, Score: float64(h.Score)}
	}
	return out
}

// sourced is a candidate of Recommend: its fused score and where each
// source ranked it.
type sourced struct {
	id    string
	score float64
	ranks []SourceRank
	best  int // best rank in any list
}

// fuseSources merges the lists (indexed as Sources), best first: by
// weighted reciprocal rank, Σ weight/(rrfK + rank), or with FusionRelative
// by weighted min-max normalised score, Σ weight·(score − min)/(max − min)
// over each list. Ties go to the better rank in any list, then the id.
// Where each source ranked a candidate is kept with explain alone.
func fuseSources(lists [][]Scored, weights map[string]float64, f Fusion, rrfK float64, explain bool) []sourced {
	n := 0
	for _, list := range lists {
		n += len(list)
	}
	at := make(map[string]int, n)
	out := make([]sourced, 0, n)
	for s, list := range lists {
		w := weights[Sources[s]]
		norm := minMax(list)
		for r, c := range list {
			i, ok := at[c.ID]
			if !ok {
				i = len(out)
				at[c.ID] = i
				out = append(out, sourced{id: c.ID, best: r + 1})
			}
			x := &out[i]
			if f == FusionRelative {
				x.score += w * norm(c.Score)
			} else {
				x.score += w / (rrfK + float64(r+1))
			}
			if explain {
				x.ranks = append(x.ranks, SourceRank{Source: Sources[s], Rank: r + 1, Score: c.Score})
			}
			x.best = min(x.best, r+1)
		}
	}
	// Sorted by keys free of pointers, then put in that order: moving
	// the candidates themselves in the sort costs a write barrier each.
	type key struct {
		score float64
		best  int32
		i     int32
	}
	keys := make([]key, len(out))
	for i, x := range out {
		keys[i] = key{x.score, int32(x.best), int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		if a.best != b.best {
			return cmp.Compare(a.best, b.best)
		}
		return strings.Compare(out[a.i].id, out[b.i].id)
	})
	sorted := make([]sourced, len(out))
	for r, k := range keys {
		sorted[r] = out[k.i]
	}
	return sorted
}

// finishSources caps, diversifies, pages and explains the fused
// candidates of Recommend, as finish does those of Search.
func (e *Engine) finishSources(cands []sourced, req *Request, hist []*content.Item) ([]Hit, int) {
	fs := make([]fused, len(cands))
	for i := range cands {
		fs[i] = fused{id: cands[i].id, score: cands[i].score}
	}
	hits, total, _ := e.finish(fs, req, "sources", nil)
	hist = hist[max(0, len(hist)-e.opts.HistoryLen):]
	if req.Explain {
		byID := make(map[string]*sourced, len(cands))
		for i := range cands {
			byID[cands[i].id] = &cands[i]
		}
		for i := range hits {
			x := hits[i].Explain
			x.Sources = byID[hits[i].ID].ranks
			for _, r := range x.Sources {
				if r.Source == SourceTower {
					x.Vector, x.VectorRank = r.Score, r.Rank
					x.Because = e.because(hits[i].ID, hist)
				}
			}
		}
	}
	return hits, total
}
