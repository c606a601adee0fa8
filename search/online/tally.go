package online

import (
	"context"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/duetrec/duet/content"
)

// Ks are the cut-offs of the click-through rates: an impression counts
// at K when a positive event hit one of its first K items.
var Ks = [...]int{1, 3, 10}

// Group is what the figures are kept apart by.
type Group struct {
	Route      string `json:"route"`
	Snapshot   string `json:"snapshot,omitempty"`
	Config     string `json:"config,omitempty"`
	Experiment string `json:"experiment,omitempty"`
	// Arm is "a" or "b" for an A/B experiment's arms, "interleaved" for
	// an interleaved experiment's lists, "" outside experiments.
	Arm string `json:"arm,omitempty"`
}

// counts are a group's sums in one time step.
type counts struct {
	impressions, clicks int
	clicked             [len(Ks)]int
	rr                  float64
	items               *roaring.Bitmap // hashes of the items shown
}

// expCounts are an experiment's sums.
type expCounts struct {
	impressions, impA, impB int
	winsA, winsB, ties      int
	clickedA, clickedB      int
}

// TallyOptions configure a Tally. Zero fields take the defaults in their
// comments.
type TallyOptions struct {
	Step time.Duration // a time series' step; default a minute
	Keep time.Duration // how far back figures are kept in memory; default 24h
	// MaxGroups bounds the groups of one step (default 64); beyond it,
	// ranker configurations fold into "other".
	MaxGroups int
}

// Tally folds the feedback log into online figures: per group and time
// step, and per experiment. It is safe for concurrent use.
type Tally struct {
	opts TallyOptions

	mu    sync.Mutex
	steps map[int64]map[Group]*counts // by step start, unix seconds
	exps  map[string]*expCounts
	mark  uint64 // the last feedback record folded
}

// NewTally returns an empty tally.
func NewTally(opts TallyOptions) *Tally {
	if opts.Step <= 0 {
		opts.Step = time.Minute
	}
	if opts.Keep <= 0 {
		opts.Keep = 24 * time.Hour
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = 64
	}
	return &Tally{opts: opts, steps: map[int64]map[Group]*counts{}, exps: map[string]*expCounts{}}
}

// Mark returns the sequence number of the last feedback record folded.
func (t *Tally) Mark() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mark
}

// Fold adds feedback records, in log order; those at or below the mark
// are already counted and skipped.
func (t *Tally) Fold(recs []content.Feedback) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range recs {
		f := &recs[i]
		if f.Seq <= t.mark {
			continue
		}
		t.mark = f.Seq
		switch {
		case f.Impression != nil:
			t.foldImpression(f.Impression)
		case f.Click != nil:
			t.foldClick(f.Click)
		}
	}
}

func armOf(arm, teams string) string {
	if teams != "" {
		return "interleaved"
	}
	return arm
}

// group returns the counts of a group at time at, or nil when at is no
// longer kept.
func (t *Tally) group(at time.Time, g Group) *counts {
	step := at.Truncate(t.opts.Step).Unix()
	if time.Since(at) > t.opts.Keep {
		return nil
	}
	m := t.steps[step]
	if m == nil {
		m = map[Group]*counts{}
		t.steps[step] = m
		t.evict()
	}
	c := m[g]
	if c == nil {
		if len(m) >= t.opts.MaxGroups {
			g.Config = "other"
			if c = m[g]; c != nil {
				return c
			}
		}
		c = &counts{items: roaring.New()}
		m[g] = c
	}
	return c
}

// evict drops the steps no longer kept.
func (t *Tally) evict() {
	cut := time.Now().Add(-t.opts.Keep).Truncate(t.opts.Step).Unix()
	for s := range t.steps {
		if s < cut {
			delete(t.steps, s)
		}
	}
}

func itemHash(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}

func (t *Tally) foldImpression(im *content.Impression) {
	if im.Experiment != "" {
		e := t.exp(im.Experiment)
		e.impressions++
		switch im.Arm {
		case "a":
			e.impA++
		case "b":
			e.impB++
		}
	}
	c := t.group(im.Time, Group{im.Route, im.Snapshot, im.Config, im.Experiment, armOf(im.Arm, im.Teams)})
	if c == nil {
		return
	}
	c.impressions++
	for _, id := range im.Items {
		c.items.Add(itemHash(id))
	}
}

func (t *Tally) exp(id string) *expCounts {
	e := t.exps[id]
	if e == nil {
		e = &expCounts{}
		t.exps[id] = e
	}
	return e
}

// outcome is which team an interleaved impression's clicks favour: 'a',
// 'b', '=' for a tie, 0 for no clicks.
func outcome(teams [2]int) byte {
	switch {
	case teams[0] > teams[1]:
		return 'a'
	case teams[1] > teams[0]:
		return 'b'
	case teams[0] > 0:
		return '='
	}
	return 0
}

func (e *expCounts) add(o byte, d int) {
	switch o {
	case 'a':
		e.winsA += d
	case 'b':
		e.winsB += d
	case '=':
		e.ties += d
	}
}

func (t *Tally) foldClick(c *content.Click) {
	if !c.Positive {
		return
	}
	if c.Experiment != "" {
		e := t.exp(c.Experiment)
		if c.Team != "" {
			after := c.BeforeTeams
			after[c.Team[0]-'a']++
			e.add(outcome(c.BeforeTeams), -1)
			e.add(outcome(after), 1)
		} else if c.Before < 0 && c.Position < Ks[len(Ks)-1] {
			switch c.Arm {
			case "a":
				e.clickedA++
			case "b":
				e.clickedB++
			}
		}
	}
	g := t.group(c.Shown, Group{c.Route, c.Snapshot, c.Config, c.Experiment, armOf(c.Arm, c.Team)})
	if g == nil {
		return
	}
	g.clicks++
	for i, k := range Ks {
		if c.Position < k && (c.Before < 0 || c.Before >= k) {
			g.clicked[i]++
		}
	}
	// The reciprocal rank of an impression's best click.
	switch {
	case c.Before < 0:
		g.rr += 1 / float64(c.Position+1)
	case c.Position < c.Before:
		g.rr += 1/float64(c.Position+1) - 1/float64(c.Before+1)
	}
}

// Verdict returns an experiment's standing from the records folded.
func (t *Tally) Verdict(e *Experiment) Verdict {
	t.mu.Lock()
	c := t.exps[e.ID]
	t.mu.Unlock()
	if c == nil {
		c = &expCounts{}
	}
	return verdict(e.Method, *c)
}

// Figures are a group's online figures over a window.
type Figures struct {
	Group
	Impressions int `json:"impressions"`
	Clicks      int `json:"clicks"`
	// CTR holds the click-through rate at each of Ks, as "ctr@K".
	CTR map[string]float64 `json:"ctr"`
	// MRR is the mean over impressions of the reciprocal rank of their
	// best click (0 for none).
	MRR float64 `json:"mrr"`
	// Items is how many distinct items were shown; Coverage is that
	// share of the catalogue, when its size is known.
	Items    int     `json:"items"`
	Coverage float64 `json:"coverage,omitempty"`
}

func (c *counts) merge(o *counts) {
	c.impressions += o.impressions
	c.clicks += o.clicks
	for i := range c.clicked {
		c.clicked[i] += o.clicked[i]
	}
	c.rr += o.rr
	c.items.Or(o.items)
}

func (c *counts) figures(g Group, catalogue int) Figures {
	f := Figures{Group: g, Impressions: c.impressions, Clicks: c.clicks, CTR: map[string]float64{}, Items: int(c.items.GetCardinality())}
	for i, k := range Ks {
		f.CTR[ctrName(k)] = ratio(float64(c.clicked[i]), c.impressions)
	}
	f.MRR = ratio(c.rr, c.impressions)
	if catalogue > 0 {
		f.Coverage = min(1, float64(f.Items)/float64(catalogue))
	}
	return f
}

func ctrName(k int) string { return "ctr@" + strconv.Itoa(k) }

func ratio(x float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return x / float64(n)
}

// Point is one step of a time series: every group of a route summed.
type Point struct {
	Time  time.Time `json:"time"`
	Route string    `json:"route"`
	Figures
}

// Report is the online figures over a window ending now.
type Report struct {
	Window string `json:"window"`
	// Routes sums each route's groups.
	Routes []Figures `json:"routes"`
	Groups []Figures `json:"groups"`
	// Series steps through the window, per route, at most 60 points.
	Series []Point `json:"series"`
}

// Report sums the groups over the last window (at most Keep), with a
// time series of the routes; catalogue is the catalogue's size, for
// coverage (0: unknown).
func (t *Tally) Report(window time.Duration, catalogue int) Report {
	window = min(window, t.opts.Keep)
	now := time.Now()
	from := now.Add(-window).Truncate(t.opts.Step).Unix()
	stride := max(t.opts.Step, (window / 60).Truncate(t.opts.Step))
	t.mu.Lock()
	defer t.mu.Unlock()
	groups, routes := map[Group]*counts{}, map[Group]*counts{}
	type pointKey struct {
		at    int64
		route string
	}
	points := map[pointKey]*counts{}
	for s, m := range t.steps {
		if s < from {
			continue
		}
		at := time.Unix(s, 0).Truncate(stride).Unix()
		for g, c := range m {
			sum := groups[g]
			if sum == nil {
				sum = &counts{items: roaring.New()}
				groups[g] = sum
			}
			sum.merge(c)
			rk := Group{Route: g.Route}
			if routes[rk] == nil {
				routes[rk] = &counts{items: roaring.New()}
			}
			routes[rk].merge(c)
			pk := pointKey{at, g.Route}
			p := points[pk]
			if p == nil {
				p = &counts{items: roaring.New()}
				points[pk] = p
			}
			p.merge(c)
		}
	}
	r := Report{Window: window.String(), Routes: []Figures{}, Groups: []Figures{}, Series: []Point{}}
	for g, c := range groups {
		r.Groups = append(r.Groups, c.figures(g, catalogue))
	}
	for g, c := range routes {
		r.Routes = append(r.Routes, c.figures(g, catalogue))
	}
	sort.Slice(r.Groups, func(i, j int) bool { return r.Groups[i].Impressions > r.Groups[j].Impressions })
	sort.Slice(r.Routes, func(i, j int) bool { return r.Routes[i].Route < r.Routes[j].Route })
	for pk, c := range points {
		r.Series = append(r.Series, Point{Time: time.Unix(pk.at, 0).UTC(), Route: pk.route, Figures: c.figures(Group{Route: pk.route}, catalogue)})
	}
	slices.SortFunc(r.Series, func(a, b Point) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Route, b.Route)
	})
	return r
}

// Totals are the sums of everything folded and kept, by route and arm,
// for counters.
func (t *Tally) Totals() map[Group]Figures {
	t.mu.Lock()
	defer t.mu.Unlock()
	sums := map[Group]*counts{}
	for _, m := range t.steps {
		for g, c := range m {
			k := Group{Route: g.Route, Arm: g.Arm}
			s := sums[k]
			if s == nil {
				s = &counts{items: roaring.New()}
				sums[k] = s
			}
			s.merge(c)
		}
	}
	out := make(map[Group]Figures, len(sums))
	for g, c := range sums {
		out[g] = c.figures(g, 0)
	}
	return out
}

// Follow folds the store's feedback log as it grows, every interval,
// until ctx is done; refresh, when not nil, is called at each turn too
// (to read other servers' experiments).
func (t *Tally) Follow(ctx context.Context, store *content.Store, interval time.Duration, refresh func(context.Context) error, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := t.CatchUp(ctx, store); err != nil && ctx.Err() == nil {
			log.Warn("reading the feedback log", "err", err)
		}
		if refresh != nil {
			if err := refresh(ctx); err != nil && ctx.Err() == nil {
				log.Warn("reading the experiments", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// catchUpBatch bounds the records one read of the log returns.
const catchUpBatch = 5000

// CatchUp folds what the store's feedback log holds beyond the mark.
func (t *Tally) CatchUp(ctx context.Context, store *content.Store) error {
	for {
		recs, err := store.FeedbackSince(ctx, t.Mark(), catchUpBatch)
		if err != nil {
			return err
		}
		t.Fold(recs)
		if len(recs) < catchUpBatch {
			return nil
		}
	}
}
