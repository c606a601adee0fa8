package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search/snapshot"
)

// Config is the server's configuration. Zero fields take the defaults
// given in their comments.
type Config struct {
	// Tokens. An empty editor, admin or events token refuses every request
	// to those routes; an empty read token leaves reads open.
	EditorToken string
	AdminToken  string
	EventsToken string
	ReadToken   string

	// TrustedProxies lists the CIDR ranges of proxies allowed to name the
	// client in X-Forwarded-For. Empty: the peer address is the client, and
	// the header is ignored, so the rate limiter cannot be fooled by it.
	TrustedProxies []string

	MaxBodyBytes   int64         // default 1 MiB
	MaxBatch       int           // items or events in one request; default 1000
	MaxK           int           // default 1000
	MaxQueryBytes  int           // default 1024
	RequestTimeout time.Duration // default 5s
	// SearchRate and SearchBurst limit searches per client per second;
	// defaults 200 and 400. A negative rate turns the limit off.
	SearchRate  float64
	SearchBurst int
	// RateClients bounds how many clients the rate limiter tracks apart;
	// beyond it, new clients share one bucket. Default 50,000.
	RateClients int
	// ShutdownTimeout bounds how long Serve waits for in-flight requests
	// once asked to stop; default 10s.
	ShutdownTimeout time.Duration

	Logger *slog.Logger // default slog.Default()

	// Loader, when set, loads the newest snapshot as a Backend: at start
	// (Reload), on POST /admin/snapshots/reload and when Watch sees a new
	// one. SnapshotLoader is the loader of a data directory's snapshots.
	Loader Loader
	// NoImpressions turns impression recording off: answers carry no
	// impression id and the online figures stay empty.
	NoImpressions bool
	// FeedbackRetention is how long the feedback log keeps impressions
	// and their clicks; AttributionWindow how long after an impression an
	// event may name it. Both default to content.DefaultAttribution.
	FeedbackRetention time.Duration
	AttributionWindow time.Duration
	// OnlineEvery is how often the online figures fold the feedback log
	// (default 1s).
	OnlineEvery time.Duration

	// ArmLoader, when set, loads the snapshots experiments' arms name, so
	// that an experiment can compare two snapshots' models; without it,
	// such experiments are refused.
	ArmLoader NamedLoader

	// RebuildStatus, when set, says what the scheduled rebuilds do, for
	// /admin/stats.
	RebuildStatus func() any

	// Snapshots, when set, is the server's snapshot root: what it serves
	// to other servers at GET /admin/snapshots/{name}/files/{path}, and
	// where, following a shared store (Follow), it fetches the snapshots
	// rebuilds publish there.
	Snapshots *snapshot.Root
}

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.MaxK <= 0 {
		c.MaxK = 1000
	}
	if c.MaxQueryBytes <= 0 {
		c.MaxQueryBytes = 1024
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.SearchRate == 0 {
		c.SearchRate = 200
	}
	if c.SearchBurst <= 0 {
		c.SearchBurst = 400
	}
	if c.RateClients <= 0 {
		c.RateClients = 50_000
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OnlineEvery <= 0 {
		c.OnlineEvery = time.Second
	}
}

// Server is Duet's HTTP server. Create it with New.
type Server struct {
	cfg     Config
	echo    *echo.Echo
	store   *content.Store
	log     *slog.Logger
	metrics *metrics
	ready   atomic.Bool

	loader   Loader
	gen      atomic.Pointer[generation] // the backend in service
	reloadMu sync.Mutex                 // one reload at a time
	limits   *clientLimits              // nil when searches are not limited
	vocab    vocabulary
	follow   follower
	fb       feedback
}

// New returns a server over the store. Without a Config.Loader it serves
// the store's routes only; with one, search routes answer 503 until Reload
// has loaded a snapshot. A Config it cannot use (a malformed
// TrustedProxies range) is an error.
func New(store *content.Store, cfg Config) (*Server, error) {
	cfg.defaults()
	s := &Server{cfg: cfg, store: store, log: cfg.Logger, loader: cfg.Loader, metrics: newMetrics(prometheus.NewRegistry())}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.JSONSerializer = jsonSerializer{}
	ipx, err := ipExtractor(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	e.IPExtractor = ipx
	s.echo = e
	s.routes()
	for name, tok := range map[string]string{"editor": cfg.EditorToken, "admin": cfg.AdminToken, "events": cfg.EventsToken} {
		if tok == "" {
			s.log.Warn("no token configured: those routes refuse every request", "routes", name)
		}
	}
	s.storeGauges()
	s.metrics.replicaLag(s.lagSeconds)
	if err := s.refreshVocabulary(context.Background()); err != nil {
		// Serve without it rather than not at all: editors can mend it
		// through the API, and /admin/stats shows why.
		s.log.Error("the store's vocabulary is not in service", "err", err)
	}
	s.ready.Store(s.loader == nil)
	s.startFeedback()
	return s, nil
}

// ipExtractor trusts X-Forwarded-For only from the given proxy ranges.
func ipExtractor(trusted []string) (echo.IPExtractor, error) {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect(), nil
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, cidr := range trusted {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", cidr, err)
		}
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...), nil
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Serve answers requests on ln until ctx is done, then stops accepting,
// waits for in-flight requests (at most ShutdownTimeout) and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) routes() {
	e := s.echo
	e.Pre(middleware.RequestID())
	e.Use(s.metrics.middleware)
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true, LogRequestID: true,
		LogRemoteIP: true, LogError: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			s.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request",
				slog.String("method", v.Method), slog.String("uri", v.URI), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("ip", v.RemoteIP), slog.String("request_id", v.RequestID))
			return nil
		},
	}))
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit(strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + "B"))
	e.Use(middleware.ContextTimeoutWithConfig(middleware.ContextTimeoutConfig{
		Timeout: s.cfg.RequestTimeout,
		ErrorHandler: func(err error, c echo.Context) error {
			if errors.Is(err, context.DeadlineExceeded) {
				return newError(http.StatusServiceUnavailable, "timeout", "the request took too long")
			}
			return err
		},
	}))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(s.metrics.handler()))
	e.GET("/openapi.json", s.openAPI)
	e.GET("/", s.page("index.html"))
	e.GET("/editor", s.page("editor.html"))
	e.GET("/dashboard", s.page("dashboard.html"))
	e.GET("/ui/:file", s.asset)

	// Middleware per route, not per group: an Echo group with middleware
	// also catches unknown paths under it, which would answer 401 for 404.
	// Editors and admins may read too: the editor page lists items.
	read := s.auth(func() []string { return []string{s.cfg.ReadToken, s.cfg.EditorToken, s.cfg.AdminToken} }, true)
	e.GET("/v1/items", s.listItems, read)
	e.GET("/v1/items/:id", s.getItem, read)
	e.GET("/v1/users/:id/history", s.userHistory, read)

	editor := s.auth(func() []string { return []string{s.cfg.EditorToken} }, false)
	e.POST("/v1/items", s.createItem, editor)
	e.POST("/v1/items\\:batch", s.batchItems, editor)
	e.PUT("/v1/items/:id", s.putItem, editor)
	e.DELETE("/v1/items/:id", s.deleteItem, editor)
	e.GET("/v1/synonyms", s.listSynonyms, read)
	e.GET("/v1/synonyms/:id", s.getSynonyms, read)
	e.PUT("/v1/synonyms/:id", s.putSynonyms, editor)
	e.DELETE("/v1/synonyms/:id", s.deleteSynonyms, editor)
	e.GET("/v1/stop-words", s.getStopWords, read)
	e.PUT("/v1/stop-words", s.putStopWords, editor)

	e.POST("/v1/events", s.postEvents, s.auth(func() []string { return []string{s.cfg.EventsToken} }, false))

	limit := s.searchLimiter()
	e.GET("/v1/search", s.getSearch, read, limit)
	e.GET("/v1/suggest", s.suggest, read, limit)
	e.POST("/v1/search", s.postSearch, read, limit)
	e.GET("/v1/users/:id/recommendations", s.recommendations, read, limit)
	e.GET("/v1/items/:id/similar", s.similar, read, limit)

	admin := s.auth(func() []string { return []string{s.cfg.AdminToken} }, false)
	e.POST("/admin/snapshots/reload", s.reloadRoute, admin)
	e.GET("/admin/stats", s.stats, admin)
	e.GET("/admin/backup", s.backup, admin)
	e.GET("/admin/snapshots/:name/files/*", s.snapshotFile, admin)

	// Editors and admins define experiments; admins stop them.
	editorOrAdmin := s.auth(func() []string { return []string{s.cfg.EditorToken, s.cfg.AdminToken} }, false)
	e.POST("/admin/experiments", s.postExperiment, editorOrAdmin)
	e.GET("/admin/experiments", s.listExperiments, editorOrAdmin)
	e.GET("/admin/experiments/:id", s.getExperiment, editorOrAdmin)
	e.POST("/admin/experiments/:id/stop", s.stopExperiment, admin)
	e.GET("/admin/online", s.onlineFigures, admin)
}

// searchLimiter limits requests per client, keyed by the address the
// IPExtractor gives.
func (s *Server) searchLimiter() echo.MiddlewareFunc {
	if s.cfg.SearchRate < 0 {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	s.limits = newClientLimits(rate.Limit(s.cfg.SearchRate), s.cfg.SearchBurst, s.cfg.RateClients, time.Minute)
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Store:               s.limits,
		IdentifierExtractor: func(c echo.Context) (string, error) { return c.RealIP(), nil },
		DenyHandler: func(c echo.Context, id string, err error) error {
			return newError(http.StatusTooManyRequests, "rate_limited", "too many requests; slow down")
		},
		ErrorHandler: func(c echo.Context, err error) error {
			return newError(http.StatusForbidden, "forbidden", "cannot identify the client")
		},
	})
}
