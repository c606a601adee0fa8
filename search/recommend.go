package search

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
)

// The candidate sources of recommendations.
const (
	// SourceTower is the two-tower model's list: the items nearest the
	// user vector.
	SourceTower = "tower"
	// SourceCF is the collaborative list: the item-to-item neighbours of
	// the user's history, their weights summed.
	SourceCF = "cf"
	// SourceRecent is the two-tower model's list for the user's latest
	// items alone (Options.RecentLen, pooled by recency): short-term
	// intent beside the tower's long-term taste. It needs an Encoder that
	// is also a RecentEncoder.
	SourceRecent = "recent"
	// SourcePopular is the most popular items: the floor when nothing is
	// known, and a prior beside the others.
	SourcePopular = "popular"
)

// Sources lists the source names, in the order explanations give them.
var Sources = []string{SourceTower, SourceRecent, SourceCF, SourcePopular}

// RecentEncoder is an Encoder that also embeds a user's latest items
// alone (ModelEncoder is one).
type RecentEncoder interface {
	RecentVector(history []content.Item, n int) ([]float32, bool)
}

// DefaultSources weighs the sources when nothing chose their weights on
// validation: what validation chose on MovieLens under the leave-last-out
// protocol (docs/EVALUATION.md), with relative fusion.
var DefaultSources = map[string]float64{SourceTower: 1, SourceRecent: 0.5, SourceCF: 1}

// SourceRank is where one source ranked a hit.
type SourceRank struct {
	Source string  `json:"source"`
	Rank   int     `json:"rank"` // 1-based
	Score  float64 `json:"score"`
}

// MaxHistory bounds Request.History.
const MaxHistory = 1000

// Recommend answers a request for recommendations: the candidate lists of
// the sources (SourceTower, SourceRecent, SourceCF, SourcePopular), fused
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
	req.Query, req.Vector, req.Mode = "", nil, ModeVector
	fusion := req.Fusion
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	switch fusion {
	case "":
		fusion = e.opts.SourceFusion
	case FusionRRF, FusionRelative:
	default:
		return nil, invalid("recommendations fuse by rrf or relative, not %q", clip(string(fusion)))
	}
	weights, err := e.sourceWeights(&req)
	if err != nil {
		return nil, err
	}
	res := &Result{Mode: ModeRecommend, Fusion: fusion, Source: "sources"}

	t := time.Now()
	history, seen, err := e.history(ctx, &req)
	if err != nil {
		return nil, err
	}
	allow := e.allowFunc(&req, seen)
	var filter index.Filter
	if allow != nil {
		filter = index.FilterFunc(func(id string) bool {
			it, ok := e.cat.Item(id)
			return ok && allow(it)
		})
	}
	// The whole history goes to the model, which reads its own window.
	var hist []*content.Item
	for _, id := range history {
		if it, ok := e.cat.Item(id); ok {
			hist = append(hist, it)
		}
	}
	var items []content.Item
	if len(hist) > 0 && (weights[SourceTower] > 0 || weights[SourceRecent] > 0) {
		items = make([]content.Item, len(hist))
		for i, it := range hist {
			items[i] = *it
		}
	}
	res.Timing.User = time.Since(t)

	lists := make([][]Scored, len(Sources))
	for s, name := range Sources {
		w := weights[name]
		if w <= 0 {
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
			lists[s] = fromResults(hits)
			res.Timing.ANN += time.Since(t)
		case SourceCF:
			if len(history) == 0 {
				continue
			}
			hits, err := e.nbrs.Recommend(ctx, history, req.Window, filter)
			if err != nil {
				return nil, fmt.Errorf("recommend: neighbours: %w", err)
			}
			lists[s] = fromResults(hits)
			res.Timing.ANN += time.Since(t)
		case SourcePopular:
			lists[s] = e.cat.Popular(req.Window, allow)
		}
	}

	if !slices.ContainsFunc(lists, func(l []Scored) bool { return len(l) > 0 }) {
		// Nothing to go on: the popular items are the floor.
		lists[slices.Index(Sources, SourcePopular)] = e.cat.Popular(req.Window, allow)
		weights = map[string]float64{SourcePopular: 1}
	}
	t = time.Now()
	cands := fuseSources(lists, weights, fusion, req.RRFK)
	res.Timing.Fusion = time.Since(t)
	t = time.Now()
	res.Hits = e.finishSources(cands, &req, hist)
	res.Timing.Rerank = time.Since(t)
	res.Timing.Total = time.Since(start)
	return res, nil
}

// sourceWeights returns the weights of the sources a request asks for:
// its own Weights or the engine's, restricted to the Sources it names (a
// named source weighed 0 counts as 1); sources whose part the engine lacks
// weigh 0.
func (e *Engine) sourceWeights(req *Request) (map[string]float64, error) {
	base := e.opts.Sources
	if req.Weights != nil {
		base = req.Weights
		for name, w := range req.Weights {
			if !slices.Contains(Sources, name) {
				return nil, invalid("unknown source %q (want %s)", clip(name), strings.Join(Sources, ", "))
			}
			if math.IsNaN(w) || w < 0 || w > 1e6 {
				return nil, invalid("weight of %s must be from 0 to 1000000", name)
			}
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
	if e.nbrs == nil {
		w[SourceCF] = 0
	}
	if _, ok := e.enc.(RecentEncoder); !ok {
		w[SourceRecent] = 0
	}
	return w, nil
}

// history returns the user's history, oldest first, and, with
// ExcludeSeen, the set of items to exclude.
func (e *Engine) history(ctx context.Context, req *Request) ([]string, map[string]bool, error) {
	var ids []string
	switch {
	case req.History != nil:
		ids = req.History
	case req.UserID != "":
		n := e.opts.HistoryLen
		if req.ExcludeSeen {
			n = max(n, e.opts.SeenLen)
		}
		evs, err := e.hist.UserEvents(ctx, req.UserID, n)
		if err != nil {
			return nil, nil, fmt.Errorf("recommend: history of %q: %w", req.UserID, err)
		}
		ids = make([]string, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ItemID
		}
	}
	if !req.ExcludeSeen || len(ids) == 0 {
		return ids, nil, nil
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	return ids, seen, nil
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
func fuseSources(lists [][]Scored, weights map[string]float64, f Fusion, rrfK float64) []sourced {
	at := map[string]int{}
	var out []sourced
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
			x.ranks = append(x.ranks, SourceRank{Source: Sources[s], Rank: r + 1, Score: c.Score})
			x.best = min(x.best, r+1)
		}
	}
	slices.SortFunc(out, func(a, b sourced) int {
		if a.score != b.score {
			return cmp.Compare(b.score, a.score)
		}
		if a.best != b.best {
			return cmp.Compare(a.best, b.best)
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// finishSources caps, diversifies, pages and explains the fused
// candidates of Recommend, as finish does those of Search.
func (e *Engine) finishSources(cands []sourced, req *Request, hist []*content.Item) []Hit {
	fs := make([]fused, len(cands))
	byID := make(map[string]*sourced, len(cands))
	for i := range cands {
		fs[i] = fused{id: cands[i].id, score: cands[i].score}
		byID[cands[i].id] = &cands[i]
	}
	hits := e.finish(fs, req, "sources", nil)
	hist = hist[max(0, len(hist)-e.opts.HistoryLen):]
	if req.Explain {
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
	return hits
}
