package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/online"
)

// feedback is the server's part of the feedback loop: it records what
// it shows, folds the store's feedback log into online figures, and runs
// the experiments defined in the store.
type feedback struct {
	rec      *online.Recorder // nil when impressions are off
	tally    *online.Tally
	exps     *online.Experiments
	stop     context.CancelFunc
	done     sync.WaitGroup
	stopOnce sync.Once

	// arms are the snapshots running experiments' arms serve, by
	// experiment id (nil for an arm that serves the one in service), and
	// armFailed the experiments whose snapshots could not be loaded.
	armsMu    sync.Mutex
	arms      map[string][2]*generation
	armFailed map[string]bool
}

// startFeedback starts recording and folding. Experiments the store
// cannot give at start are logged and read again with the figures.
func (s *Server) startFeedback() {
	fb := &s.fb
	fb.tally = online.NewTally(online.TallyOptions{})
	fb.arms, fb.armFailed = map[string][2]*generation{}, map[string]bool{}
	exps, err := online.LoadExperiments(context.Background(), s.store)
	if err != nil {
		s.log.Error("the store's experiments could not be read", "err", err)
	}
	fb.exps = exps
	if s.cfg.NoImpressions {
		return
	}
	if s.cfg.AttributionWindow > 0 {
		s.store.SetAttributionWindow(s.cfg.AttributionWindow)
	}
	fb.rec = online.NewRecorder(s.store, online.RecorderOptions{Retention: s.cfg.FeedbackRetention, Logger: s.log})
	ctx, cancel := context.WithCancel(context.Background())
	fb.stop = cancel
	refresh := func(ctx context.Context) error {
		err := exps.Refresh(ctx)
		s.ensureArms(ctx)
		return err
	}
	fb.done.Go(func() { fb.tally.Follow(ctx, s.store, s.cfg.OnlineEvery, refresh, s.log) })
	s.metrics.reg.MustRegister(&onlineCollector{s})
}

// stopFeedback writes the impressions queued and stops folding.
func (s *Server) stopFeedback() {
	s.fb.stopOnce.Do(func() {
		if s.fb.stop != nil {
			s.fb.stop()
			s.fb.done.Wait()
		}
		if s.fb.rec != nil {
			s.fb.rec.Close()
		}
		s.fb.armsMu.Lock()
		ids := make([]string, 0, len(s.fb.arms))
		for id := range s.fb.arms {
			ids = append(ids, id)
		}
		s.fb.armsMu.Unlock()
		for _, id := range ids {
			s.dropArms(id)
		}
	})
}

// loadArms loads the snapshots an experiment's arms name, each brought up
// to date with the store as a reload is.
func (s *Server) loadArms(ctx context.Context, e *online.Experiment) ([2]*generation, error) {
	var gens [2]*generation
	for i, arm := range [2]*online.Arm{&e.A, &e.B} {
		if arm.Snapshot == "" {
			continue
		}
		if s.cfg.ArmLoader == nil {
			closeAll(gens)
			return gens, badRequest("invalid_experiment", "this server cannot load snapshots by name for an arm")
		}
		be, err := s.cfg.ArmLoader(ctx, arm.Snapshot)
		if err != nil {
			closeAll(gens)
			return gens, newError(http.StatusUnprocessableEntity, "unknown_snapshot", fmt.Sprintf("arm %c: %v", 'a'+i, err))
		}
		g := &generation{be: be}
		g.applied.Store(be.Info().Seq)
		gens[i] = g
		if err := s.replay(ctx, g, be.Info().Seq); err != nil {
			closeAll(gens)
			return gens, fmt.Errorf("arm %c: %w", 'a'+i, err)
		}
	}
	return gens, nil
}

func closeAll(gens [2]*generation) {
	for _, g := range gens {
		if g != nil {
			g.be.Close()
		}
	}
}

// ensureArms loads the snapshots of running experiments that have none
// loaded (defined by another server, or before a restart), and drops those
// of experiments stopped meanwhile.
func (s *Server) ensureArms(ctx context.Context) {
	fb := &s.fb
	running := map[string]bool{}
	for _, e := range fb.exps.All() {
		if !e.Running() || !e.Snapshots() {
			continue
		}
		running[e.ID] = true
		fb.armsMu.Lock()
		_, loaded := fb.arms[e.ID]
		failed := fb.armFailed[e.ID]
		fb.armsMu.Unlock()
		if loaded || failed {
			continue
		}
		gens, err := s.loadArms(ctx, &e)
		fb.armsMu.Lock()
		if err != nil {
			s.log.Error("an experiment's snapshot could not be loaded: its requests get the default", "experiment", e.ID, "err", err)
			fb.armFailed[e.ID] = true
		} else {
			fb.arms[e.ID] = gens
		}
		fb.armsMu.Unlock()
	}
	fb.armsMu.Lock()
	var stale []string
	for id := range fb.arms {
		if !running[id] {
			stale = append(stale, id)
		}
	}
	fb.armsMu.Unlock()
	for _, id := range stale {
		s.dropArms(id)
	}
}

// dropArms closes an experiment's snapshots, once the requests using them
// have finished.
func (s *Server) dropArms(id string) {
	s.fb.armsMu.Lock()
	gens, ok := s.fb.arms[id]
	delete(s.fb.arms, id)
	s.fb.armsMu.Unlock()
	if !ok {
		return
	}
	for _, g := range gens {
		if g == nil {
			continue
		}
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		if err := g.be.Close(); err != nil {
			s.log.Error("closing an experiment's snapshot", "err", err)
		}
	}
}

// armGenerations returns the experiments' snapshots in service, for live
// writes.
func (s *Server) armGenerations() []*generation {
	s.fb.armsMu.Lock()
	defer s.fb.armsMu.Unlock()
	var out []*generation
	for _, gens := range s.fb.arms {
		for _, g := range gens {
			if g != nil {
				out = append(out, g)
			}
		}
	}
	return out
}

// armBackends returns the backends an experiment's arms serve (be for an
// arm that serves the one in service) and a release function, or ok false
// when its snapshots are not loaded.
func (s *Server) armBackends(e *online.Experiment, be Backend) (bes [2]Backend, release func(), ok bool) {
	bes = [2]Backend{be, be}
	if !e.Snapshots() {
		return bes, func() {}, true
	}
	s.fb.armsMu.Lock()
	gens, loaded := s.fb.arms[e.ID]
	s.fb.armsMu.Unlock()
	if !loaded {
		return bes, nil, false
	}
	var held []*generation
	release = func() {
		for _, g := range held {
			g.mu.RUnlock()
		}
	}
	for i, g := range gens {
		if g == nil {
			continue
		}
		g.mu.RLock()
		held = append(held, g)
		if g.closed {
			release()
			return bes, nil, false
		}
		bes[i] = g.be
	}
	return bes, release, true
}

// answerRoute runs a request on a route, through the experiment running
// there when there is one, and records what it shows.
func (s *Server) answerRoute(c echo.Context, start time.Time, route string, be Backend, req search.Request, run func(Backend, search.Request) (*search.Result, error)) error {
	// An experiment takes the route's first pages asked with the default
	// configuration: a request that sets its own ranker parameters gets
	// what it asked for.
	config := online.ConfigName(&req)
	var exp *online.Experiment
	if s.fb.rec != nil && req.Offset == 0 && config == online.DefaultConfig {
		exp = s.fb.exps.Running(route)
	}
	bes := [2]Backend{be, be}
	if exp != nil {
		var release func()
		var ok bool
		if bes, release, ok = s.armBackends(exp, be); ok {
			defer release()
		} else {
			exp = nil // its snapshots are not loaded (yet): the default
		}
	}
	im := content.Impression{Route: route, UserID: req.UserID}
	servedBy := be
	var res *search.Result
	var err error
	switch {
	case exp == nil:
		im.Config = config
		res, err = run(be, req)
	case exp.Method == online.AB:
		who := req.UserID
		if who == "" {
			who = c.RealIP()
		}
		arm := exp.ArmFor(who)
		i := int(arm - 'a')
		[2]*online.Arm{&exp.A, &exp.B}[i].Apply(&req)
		im.Experiment, im.Arm, servedBy = exp.ID, string(arm), bes[i]
		res, err = run(bes[i], req)
	default:
		im.Experiment = exp.ID
		res, im.Teams, err = interleave(exp, req, bes, run)
	}
	if err != nil {
		return searchError(err)
	}
	shown := ""
	if s.fb.rec != nil && len(res.Hits) > 0 {
		im.ID = online.NewImpressionID()
		im.Time = time.Now().UTC()
		im.Snapshot = filepath.Base(servedBy.Info().Snapshot) // the name arms and /admin/stats give
		im.Items = make([]string, len(res.Hits))
		for i, h := range res.Hits {
			im.Items[i] = h.ID
		}
		if s.fb.rec.Record(im) {
			shown = im.ID
		}
	}
	return s.respond(c, start, res, shown)
}

// interleave runs both arms of an experiment, each on its backend, and
// interleaves their hits by team draft; teams names each hit's arm.
func interleave(exp *online.Experiment, req search.Request, bes [2]Backend, run func(Backend, search.Request) (*search.Result, error)) (*search.Result, string, error) {
	ra, rb := req, req
	exp.A.Apply(&ra)
	exp.B.Apply(&rb)
	var resB *search.Result
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() { resB, errB = run(bes[1], rb) })
	resA, errA := run(bes[0], ra)
	wg.Wait()
	if errA != nil {
		return nil, "", errA
	}
	if errB != nil {
		return nil, "", errB
	}
	hits := make(map[string]search.Hit, len(resA.Hits)+len(resB.Hits))
	ids := func(r *search.Result) []string {
		out := make([]string, len(r.Hits))
		for i, h := range r.Hits {
			out[i] = h.ID
			if _, ok := hits[h.ID]; !ok {
				hits[h.ID] = h
			}
		}
		return out
	}
	a, b := ids(resA), ids(resB)
	k := max(len(a), len(b))
	out, teams := online.TeamDraft(a, b, k, func() bool { return rand.IntN(2) == 0 })
	res := *resA
	res.Hits = make([]search.Hit, len(out))
	for i, id := range out {
		res.Hits[i] = hits[id]
	}
	res.Total = max(resA.Total, resB.Total)
	res.TotalExact = resA.TotalExact && resB.TotalExact
	return &res, string(teams), nil
}

// experimentsReady returns the experiments, or a 503 when impressions are
// off: an experiment's verdict is made of them.
func (s *Server) experimentsReady() (*online.Experiments, error) {
	if s.fb.rec == nil {
		return nil, newError(http.StatusServiceUnavailable, "unavailable", "impressions are off (serve --impressions=false), and experiments are judged by them")
	}
	return s.fb.exps, nil
}

// experimentView is an experiment with its running verdict.
type experimentView struct {
	online.Experiment
	Verdict online.Verdict `json:"verdict"`
}

func (s *Server) viewExperiment(e online.Experiment) experimentView {
	v := experimentView{Experiment: e}
	if e.Final != nil {
		v.Verdict = *e.Final
	} else {
		v.Verdict = s.fb.tally.Verdict(&e)
	}
	return v
}

func (s *Server) postExperiment(c echo.Context) error {
	exps, err := s.experimentsReady()
	if err != nil {
		return err
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var e online.Experiment
	if err := decodeStrict(b, &e); err != nil {
		return err
	}
	if e.Started != (time.Time{}) || e.Stopped != nil || e.Final != nil {
		return badRequest("invalid_experiment", "started, stopped and final are the server's to set")
	}
	if err := e.Validate(); err != nil {
		return err
	}
	// The arms' snapshots load before the experiment is stored: one that
	// is missing is refused with nothing stored.
	gens, err := s.loadArms(c.Request().Context(), &e)
	if err != nil {
		return err
	}
	if e, err = exps.Define(c.Request().Context(), e); err != nil {
		closeAll(gens)
		return err
	}
	if e.Snapshots() {
		s.fb.armsMu.Lock()
		s.fb.arms[e.ID] = gens
		s.fb.armsMu.Unlock()
	}
	return c.JSON(http.StatusCreated, s.viewExperiment(e))
}

func (s *Server) listExperiments(c echo.Context) error {
	exps, err := s.experimentsReady()
	if err != nil {
		return err
	}
	all := exps.All()
	out := make([]experimentView, len(all))
	for i, e := range all {
		out[i] = s.viewExperiment(e)
	}
	return c.JSON(http.StatusOK, map[string]any{"experiments": out})
}

func (s *Server) getExperiment(c echo.Context) error {
	exps, err := s.experimentsReady()
	if err != nil {
		return err
	}
	e, ok := exps.Get(c.Param("id"))
	if !ok {
		return newError(http.StatusNotFound, "not_found", fmt.Sprintf("no experiment %q", clipString(c.Param("id"))))
	}
	return c.JSON(http.StatusOK, s.viewExperiment(e))
}

func (s *Server) stopExperiment(c echo.Context) error {
	exps, err := s.experimentsReady()
	if err != nil {
		return err
	}
	id := c.Param("id")
	e, ok := exps.Get(id)
	if !ok {
		return newError(http.StatusNotFound, "not_found", fmt.Sprintf("no experiment %q", clipString(id)))
	}
	// The verdict from everything this server has shown so far.
	if s.fb.rec != nil {
		if err := s.fb.rec.Flush(c.Request().Context()); err != nil {
			return err
		}
	}
	if err := s.fb.tally.CatchUp(c.Request().Context(), s.store); err != nil {
		return err
	}
	e, err = exps.Stop(c.Request().Context(), id, s.fb.tally.Verdict(&e))
	if err != nil {
		return err
	}
	s.dropArms(id)
	return c.JSON(http.StatusOK, s.viewExperiment(e))
}

// onlineResponse is GET /admin/online.
type onlineResponse struct {
	online.Report
	Experiments []experimentView     `json:"experiments"`
	Recorder    online.RecorderStats `json:"recorder"`
	// Mark is the last feedback record folded.
	Mark uint64 `json:"mark"`
	// Latency is the answering routes' latency since the server started.
	Latency []routeLatency `json:"latency"`
}

func (s *Server) onlineFigures(c echo.Context) error {
	window := time.Hour
	if w := c.QueryParam("window"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < time.Minute || d > 24*time.Hour {
			return badRequest("invalid_parameter", "window must be a duration from 1m to 24h, e.g. 1h")
		}
		window = d
	}
	if err := checkParams(c.QueryParams(), paramSet("window")); err != nil {
		return err
	}
	catalogue := 0
	if st, err := s.store.Stats(c.Request().Context()); err == nil {
		catalogue = st.Items
	}
	resp := onlineResponse{Report: s.fb.tally.Report(window, catalogue), Experiments: []experimentView{}, Mark: s.fb.tally.Mark(), Latency: s.metrics.latencies(answeringRoutes)}
	if s.fb.rec != nil {
		resp.Recorder = s.fb.rec.Stats()
	}
	for _, e := range s.fb.exps.All() {
		resp.Experiments = append(resp.Experiments, s.viewExperiment(e))
	}
	return c.JSON(http.StatusOK, resp)
}

// onlineCollector reports the online figures at each scrape: counters
// of what the feedback log holds (kept in memory, the last 24 hours) by
// route and arm, and the last hour's rates.
type onlineCollector struct{ s *Server }

var (
	descImpressions = prometheus.NewDesc("duet_online_impressions", "Impressions shown in the last 24 hours (as the feedback log holds them), by route and experiment arm.", []string{"route", "arm"}, nil)
	descClicks      = prometheus.NewDesc("duet_online_clicks", "Positive events attributed to impressions of the last 24 hours, by route and experiment arm.", []string{"route", "arm"}, nil)
	descCTR         = prometheus.NewDesc("duet_online_ctr", "Click-through rate at k over the last hour, by route.", []string{"route", "k"}, nil)
	descMRR         = prometheus.NewDesc("duet_online_mrr", "Mean reciprocal rank of each impression's best click over the last hour, by route.", []string{"route"}, nil)
	descCoverage    = prometheus.NewDesc("duet_online_coverage", "Share of the catalogue shown over the last hour, by route.", []string{"route"}, nil)
	descRecorded    = prometheus.NewDesc("duet_impressions_recorded_total", "Impressions written to the feedback log by this server.", nil, nil)
	descDropped     = prometheus.NewDesc("duet_impressions_dropped_total", "Impressions not recorded: the queue was full, or the store refused them.", nil, nil)
)

func (o *onlineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descImpressions, descClicks, descCTR, descMRR, descCoverage, descRecorded, descDropped} {
		ch <- d
	}
}

func (o *onlineCollector) Collect(ch chan<- prometheus.Metric) {
	fb := &o.s.fb
	for g, f := range fb.tally.Totals() {
		arm := g.Arm
		if arm == "" {
			arm = "none"
		}
		ch <- prometheus.MustNewConstMetric(descImpressions, prometheus.GaugeValue, float64(f.Impressions), g.Route, arm)
		ch <- prometheus.MustNewConstMetric(descClicks, prometheus.GaugeValue, float64(f.Clicks), g.Route, arm)
	}
	catalogue := 0
	if st, err := o.s.store.Stats(context.Background()); err == nil {
		catalogue = st.Items
	}
	for _, f := range fb.tally.Report(time.Hour, catalogue).Routes {
		for _, k := range online.Ks {
			ch <- prometheus.MustNewConstMetric(descCTR, prometheus.GaugeValue, f.CTR[fmt.Sprint("ctr@", k)], f.Route, fmt.Sprint(k))
		}
		ch <- prometheus.MustNewConstMetric(descMRR, prometheus.GaugeValue, f.MRR, f.Route)
		ch <- prometheus.MustNewConstMetric(descCoverage, prometheus.GaugeValue, f.Coverage, f.Route)
	}
	if fb.rec != nil {
		st := fb.rec.Stats()
		ch <- prometheus.MustNewConstMetric(descRecorded, prometheus.CounterValue, float64(st.Logged))
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Dropped+st.Failed))
	}
}
