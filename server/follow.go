package server

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/search/snapshot"
)

// follower is what Follow keeps: when the server last knew itself caught
// up with the store's feed.
type follower struct {
	on        atomic.Bool
	caughtUp  atomic.Int64 // unix nanoseconds: every change committed before it is applied
	maxLag    time.Duration
	lastError atomic.Pointer[string]
	// tried is the published snapshot last fetched or refused (name and
	// manifest checksum): not fetched again until another is published.
	tried string
}

// publishedEvery is how often a following server asks the store for a
// newly published snapshot.
const publishedEvery = 2 * time.Second

// Follow keeps the backend in service, and the vocabulary, up to date
// with the writes other processes make to a shared store (PostgreSQL):
// whenever the store says another process wrote (Store.Changed), and at
// least every interval in case a notice was lost, it applies the item
// changes after its mark and reads the vocabulary again if it moved. It
// returns when ctx is done. Its own writes the server applies at once, as
// always. While it is more than maxLag behind (the store unreachable,
// say), /readyz answers 503; duet_replica_lag_seconds says by how much.
func (s *Server) Follow(ctx context.Context, interval, maxLag time.Duration) {
	s.follow.maxLag = maxLag
	s.follow.caughtUp.Store(time.Now().UnixNano())
	s.follow.on.Store(true)
	changed := s.store.Changed(ctx)
	if s.cfg.Snapshots != nil {
		go s.fetchPublished(ctx)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.catchUp(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
		}
	}
}

// catchUp applies the feed after the mark of the backend in service and
// refreshes the vocabulary; on success, everything committed before it
// began is in service.
func (s *Server) catchUp(ctx context.Context) {
	began := time.Now()
	fail := func(err error) {
		msg := err.Error()
		if old := s.follow.lastError.Swap(&msg); old == nil || *old != msg {
			s.log.Warn("following the store", "err", err)
		}
	}
	if err := s.refreshVocabulary(ctx); err != nil {
		fail(err)
		return
	}
	if g := s.gen.Load(); g != nil {
		g.mu.RLock()
		var err error
		if !g.closed {
			err = s.replay(ctx, g, g.applied.Load())
		}
		g.mu.RUnlock()
		if err != nil {
			fail(err)
			return
		}
	}
	s.follow.lastError.Store(nil)
	s.follow.caughtUp.Store(began.UnixNano())
}

// lagSeconds is how long ago the server was last caught up with the
// store's feed; 0 when it does not follow one.
func (s *Server) lagSeconds() float64 {
	if !s.follow.on.Load() {
		return 0
	}
	return time.Since(time.Unix(0, s.follow.caughtUp.Load())).Seconds()
}

// tooFarBehind reports whether a following server is more than its bound
// behind the feed.
func (s *Server) tooFarBehind() bool {
	return s.follow.on.Load() && s.follow.maxLag > 0 && s.lagSeconds() > s.follow.maxLag.Seconds()
}

func (s *Server) readyz(c echo.Context) error {
	if !s.ready.Load() {
		return newError(http.StatusServiceUnavailable, "not_ready", "not ready")
	}
	if s.tooFarBehind() {
		return newError(http.StatusServiceUnavailable, "behind", "behind the store's change feed by more than "+s.follow.maxLag.String())
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// fetchPublished fetches each snapshot a rebuild publishes in the store
// into the server's root (checking every file against the manifest
// published), then swaps to it, until ctx is done. A snapshot that fails
// its checks is logged and not tried again until another is published; a
// source that cannot be read is tried again.
func (s *Server) fetchPublished(ctx context.Context) {
	t := time.NewTicker(publishedEvery)
	defer t.Stop()
	for {
		s.fetchLatest(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) fetchLatest(ctx context.Context) {
	p, err := s.store.LatestSnapshot(ctx)
	if err != nil {
		return // none published, or the store away: the follower says so
	}
	if g := s.gen.Load(); g != nil && filepath.Base(g.be.Info().Snapshot) == p.Name {
		return
	}
	key := p.Name + " " + p.ManifestSHA256
	if s.follow.tried == key {
		return
	}
	src := snapshot.SourceFor(p.Source, s.cfg.AdminToken)
	_, err = s.cfg.Snapshots.Fetch(ctx, p.Name, p.ManifestSHA256, src)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		// A snapshot that fails its checks is not fetched again; a
		// source that could not be read is, at the next look.
		if errors.Is(err, snapshot.ErrBadSnapshot) {
			s.follow.tried = key
		}
		s.log.Error("fetching a published snapshot", "snapshot", p.Name, "from", p.Source, "err", err)
		return
	}
	s.follow.tried = key
	if info, err := s.Reload(ctx); err != nil {
		s.log.Error("loading a fetched snapshot", "snapshot", p.Name, "err", err)
	} else if filepath.Base(info.Snapshot) != p.Name {
		s.log.Warn("a newer snapshot than the one published is in service", "published", p.Name, "loaded", info.Snapshot)
	}
}

// snapshotFile sends a file of one of the server's snapshots to another
// server fetching it (snapshot.HTTPSource).
func (s *Server) snapshotFile(c echo.Context) error {
	if s.cfg.Snapshots == nil {
		return newError(http.StatusNotFound, "not_found", "this server keeps no snapshots")
	}
	f, err := s.cfg.Snapshots.Open(c.Param("name"), c.Param("*"))
	if err != nil {
		return newError(http.StatusNotFound, "not_found", "no such snapshot file")
	}
	defer f.Close()
	return c.Stream(http.StatusOK, "application/octet-stream", f)
}
