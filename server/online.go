package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
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
	exps     *online.Experiments // nil when the store's could not be read
	stop     context.CancelFunc
	done     sync.WaitGroup
	stopOnce sync.Once
}

// startFeedback starts recording and folding. An experiments table the
// store cannot read leaves the server without experiments, logged.
func (s *Server) startFeedback() {
	fb := &s.fb
	fb.tally = online.NewTally(online.TallyOptions{})
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
	refresh := func(ctx context.Context) error { return nil }
	if exps != nil {
		refresh = exps.Refresh
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
	})
}

// answerRoute runs a request on a route, through the experiment running
// there when there is one, and records what it shows.
func (s *Server) answerRoute(c echo.Context, start time.Time, route string, be Backend, req search.Request, run func(search.Request) (*search.Result, error)) error {
	// An experiment takes the route's first pages asked with the default
	// configuration: a request that sets its own ranker parameters gets
	// what it asked for.
	config := online.ConfigName(&req)
	var exp *online.Experiment
	if s.fb.exps != nil && req.Offset == 0 && config == online.DefaultConfig {
		exp = s.fb.exps.Running(route)
	}
	im := content.Impression{Route: route, UserID: req.UserID}
	var res *search.Result
	var err error
	switch {
	case exp == nil:
		im.Config = config
		res, err = run(req)
	case exp.Method == online.AB:
		who := req.UserID
		if who == "" {
			who = c.RealIP()
		}
		arm := exp.ArmFor(who)
		if arm == 'a' {
			exp.A.Apply(&req)
		} else {
			exp.B.Apply(&req)
		}
		im.Experiment, im.Arm = exp.ID, string(arm)
		res, err = run(req)
	default:
		im.Experiment = exp.ID
		res, im.Teams, err = interleave(exp, req, run)
	}
	if err != nil {
		return searchError(err)
	}
	shown := ""
	if s.fb.rec != nil && len(res.Hits) > 0 {
		im.ID = online.NewImpressionID()
		im.Time = time.Now().UTC()
		im.Snapshot = be.Info().Snapshot
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

// interleave runs both arms of an experiment and interleaves their hits
// by team draft; teams names each hit's arm.
func interleave(exp *online.Experiment, req search.Request, run func(search.Request) (*search.Result, error)) (*search.Result, string, error) {
	ra, rb := req, req
	exp.A.Apply(&ra)
	exp.B.Apply(&rb)
	var resB *search.Result
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() { resB, errB = run(rb) })
	resA, errA := run(ra)
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

// experimentsReady returns the experiments, or a 503 when the store's
// could not be read at start.
func (s *Server) experimentsReady() (*online.Experiments, error) {
	if s.fb.exps == nil {
		return nil, newError(http.StatusServiceUnavailable, "unavailable", "the store's experiments could not be read; see the server's log")
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
	e, err = exps.Define(c.Request().Context(), e)
	if err != nil {
		return err
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
	if s.fb.exps != nil {
		for _, e := range s.fb.exps.All() {
			resp.Experiments = append(resp.Experiments, s.viewExperiment(e))
		}
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
