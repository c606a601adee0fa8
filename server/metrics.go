package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/duetrec/duet/content"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	indexItems   prometheus.Gauge
	snapshotSeq  prometheus.Gauge
	liveFailures prometheus.Counter
}

// replicaLag registers duet_replica_lag_seconds, read from lag at each scrape.
func (m *metrics) replicaLag(lag func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "duet_replica_lag_seconds",
		Help: "How long ago the server's indexes were last caught up with the store's change feed (followed with a shared store or a Weaviate index); 0 when it follows none.",
	}, lag))
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "duet_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "duet_http_request_duration_seconds", Help: "HTTP request latency by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		indexItems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duet_index_items", Help: "Items in the loaded snapshot when it was built.",
		}),
		snapshotSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "duet_snapshot_seq", Help: "Store sequence number the loaded snapshot was built at.",
		}),
		liveFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "duet_live_apply_failures_total", Help: "Durable writes the live indexes failed to apply.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.indexItems, m.snapshotSeq, m.liveFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// middleware counts and times requests by route pattern (never by raw
// path, which would make one series per item id).
func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil && !c.Response().Committed {
			// Answer now, through the one error handler, to learn the status.
			c.Error(err)
		}
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		method := c.Request().Method
		m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return err
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// storeGauges reports the store's counts and the live indexes' lag, read at
// scrape time.
func (s *Server) storeGauges() {
	stat := func(pick func(content.Stats) int) func() float64 {
		return func() float64 {
			st, err := s.store.Stats(context.Background())
			if err != nil {
				return -1
			}
			return float64(pick(st))
		}
	}
	s.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "duet_store_items", Help: "Items in the catalog."},
			stat(func(st content.Stats) int { return st.Items })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "duet_store_events", Help: "Events in the log."},
			stat(func(st content.Stats) int { return st.Events })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "duet_live_lag", Help: "Item changes in the store the live indexes have not applied (counted up to 1000).",
		}, func() float64 { return float64(s.lag(context.Background())) }),
	)
}

// routeLatency is a route's latency quantiles, in seconds, interpolated
// within the histogram's buckets.
type routeLatency struct {
	Route string  `json:"route"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Count uint64  `json:"count"`
}

// answeringRoutes are the routes whose latency the dashboard shows.
var answeringRoutes = []string{"/v1/search", "/v1/users/:id/recommendations", "/v1/items/:id/similar", "/v1/suggest"}

// latencies reads the GET latency histograms of routes.
func (m *metrics) latencies(routes []string) []routeLatency {
	out := []routeLatency{}
	for _, route := range routes {
		h, ok := m.latency.WithLabelValues(route, "GET").(prometheus.Metric)
		if !ok {
			continue
		}
		var pb dto.Metric
		if h.Write(&pb) != nil || pb.Histogram == nil || pb.Histogram.GetSampleCount() == 0 {
			continue
		}
		hist := pb.Histogram
		out = append(out, routeLatency{Route: route, P50: quantile(hist, 0.5), P99: quantile(hist, 0.99), Count: hist.GetSampleCount()})
	}
	return out
}

// quantile interpolates the q-quantile within the histogram's buckets; past
// the last bound it is that bound.
func quantile(h *dto.Histogram, q float64) float64 {
	rank := q * float64(h.GetSampleCount())
	var prevCount uint64
	prevBound := 0.0
	for _, b := range h.GetBucket() {
		if float64(b.GetCumulativeCount()) >= rank {
			in := float64(b.GetCumulativeCount() - prevCount)
			if in == 0 {
				return b.GetUpperBound()
			}
			return prevBound + (b.GetUpperBound()-prevBound)*(rank-float64(prevCount))/in
		}
		prevCount, prevBound = b.GetCumulativeCount(), b.GetUpperBound()
	}
	return prevBound
}
