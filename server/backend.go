package server

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
)

// Backend is what the server searches: the engine over one loaded
// snapshot, kept live by the writes made after it.
type Backend interface {
	Search(ctx context.Context, req search.Request) (*search.Result, error)
	Similar(ctx context.Context, itemID string, req search.Request) (*search.Result, error)
	Recommend(ctx context.Context, req search.Request) (*search.Result, error)
	Suggest(ctx context.Context, req search.SuggestRequest) (*search.Suggestions, error)
	// ItemPut and ItemDeleted are told about every item write after it
	// is durable, so the live indexes follow the store; they must be safe
	// for concurrent use.
	content.Follower
	EventsAdded(evs []content.Event)
	// Info describes the loaded snapshot.
	Info() BackendInfo
	// Close releases the indexes; no call is made after it.
	Close() error
}

// BackendInfo describes a loaded snapshot.
type BackendInfo struct {
	Snapshot string `json:"snapshot"`
	Seq      uint64 `json:"seq"` // the store sequence number it was built at
	Items    int    `json:"items"`
	// Sources and Fusion are the served recommendations' configuration,
	// and Validation the figures it was chosen by (from the manifest).
	Sources    map[string]float64 `json:"sources,omitempty"`
	Fusion     string             `json:"fusion,omitempty"`
	Validation map[string]string  `json:"validation,omitempty"`
	// Collection is the Weaviate collection holding the snapshot's
	// vectors and text, when they are there.
	Collection string `json:"collection,omitempty"`
}

// Loader loads the newest complete snapshot as a Backend.
type Loader func(ctx context.Context) (Backend, error)

// SnapshotLoader is the Loader of the snapshots under root: it loads the
// newest one that verifies, with users' live histories from hist, and logs
// the newer ones it skips.
func SnapshotLoader(root *snapshot.Root, hist search.History, log *slog.Logger) Loader {
	return func(ctx context.Context) (Backend, error) {
		snap, skipped, err := root.LoadLatest(ctx, hist, search.Options{})
		for _, e := range skipped {
			log.Warn("skipping a snapshot", "err", e)
		}
		if err != nil {
			return nil, err
		}
		return snapshotBackend{snap}, nil
	}
}

// NamedLoader loads the snapshot of the given name (its directory's,
// e.g. "snap-00000000000000001234-…") as a Backend: the model and indexes
// an experiment's arm serves.
type NamedLoader func(ctx context.Context, name string) (Backend, error)

// NamedSnapshotLoader is the NamedLoader of the snapshots under root, with
// users' live histories from hist. A name that is no snapshot of root, or
// one that does not verify, is an error.
func NamedSnapshotLoader(root *snapshot.Root, hist search.History) NamedLoader {
	return func(ctx context.Context, name string) (Backend, error) {
		if name == "" || name != filepath.Base(name) || !strings.HasPrefix(name, "snap-") {
			return nil, fmt.Errorf("%q is not a snapshot's name (snap-…, as /admin/stats shows it)", clipString(name))
		}
		snap, err := root.Load(ctx, filepath.Join(root.Dir(), name), hist, search.Options{})
		if err != nil {
			return nil, err
		}
		return snapshotBackend{snap}, nil
	}
}

// snapshotBackend serves a loaded snapshot.
type snapshotBackend struct{ *snapshot.Snapshot }

func (b snapshotBackend) Info() BackendInfo {
	m := b.Manifest
	info := BackendInfo{Snapshot: b.Dir, Seq: m.Seq, Items: m.Items, Sources: m.Sources, Fusion: m.SourceFusion, Collection: m.Collection}
	for k, v := range m.Meta {
		if strings.Contains(k, "val_") {
			if info.Validation == nil {
				info.Validation = map[string]string{}
			}
			info.Validation[k] = v
		}
	}
	return info
}

// generation is one backend in service. Requests hold its read lock while
// they use it; retiring takes the write lock, so the backend is closed only
// after the last request using it has finished.
type generation struct {
	be      Backend
	mu      sync.RWMutex
	closed  bool          // guarded by mu
	applied atomic.Uint64 // highest store sequence number of an item change applied
	// applyMu serialises the applies of one id, each of which reads the
	// item's current state from the store: whatever order writes and
	// replays arrive in, the last apply of an id leaves its latest state.
	// Ids are striped over the locks so that applies of different items run
	// at once and the text index can group them into one batch.
	applyMu [64]sync.Mutex
}

func (g *generation) lockItem(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	mu := &g.applyMu[h.Sum32()%uint32(len(g.applyMu))]
	mu.Lock()
	return mu
}

// advance records that changes up to seq are applied.
func (g *generation) advance(seq uint64) {
	for {
		cur := g.applied.Load()
		if seq <= cur || g.applied.CompareAndSwap(cur, seq) {
			return
		}
	}
}

var errNoIndex = newError(http.StatusServiceUnavailable, "not_ready", "no index is loaded yet")

// acquire returns the backend in service and a release function.
func (s *Server) acquire() (Backend, func(), error) {
	for {
		g := s.gen.Load()
		if g == nil {
			return nil, nil, errNoIndex
		}
		g.mu.RLock()
		if !g.closed {
			return g.be, g.mu.RUnlock, nil
		}
		// Swapped out between the load and the lock: take the new one.
		g.mu.RUnlock()
	}
}

// Collections returns the Weaviate collection in service, if the index
// is in one.
func (s *Server) Collections() []string {
	if g := s.gen.Load(); g != nil {
		if c := g.be.Info().Collection; c != "" {
			return []string{c}
		}
	}
	return nil
}

// Reload loads the newest snapshot beside the one in service, brings it up
// to date with the store, and swaps it in. Requests in flight finish on the
// old one, which is then closed; no request fails or waits for the load.
func (s *Server) Reload(ctx context.Context) (BackendInfo, error) {
	if s.loader == nil {
		return BackendInfo{}, errors.New("reload: the server has no snapshot loader")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	start := time.Now()
	be, err := s.loader(ctx)
	if err != nil {
		return BackendInfo{}, fmt.Errorf("reload: %w", err)
	}
	info := be.Info()
	g := &generation{be: be}
	g.applied.Store(info.Seq)
	// Replay what the store took after the snapshot, swap, then replay the
	// writes that went to the old generation meanwhile: from the mark taken
	// before the swap, since live writes move the mark on their own.
	if err := s.replay(ctx, g, info.Seq); err != nil {
		be.Close()
		return BackendInfo{}, fmt.Errorf("reload: %w", err)
	}
	mark := g.applied.Load()
	old := s.gen.Swap(g)
	if err := s.replay(ctx, g, mark); err != nil {
		s.log.Error("replay after swap", "err", err)
	}
	if old != nil {
		old.mu.Lock()
		old.closed = true
		old.mu.Unlock()
		if err := old.be.Close(); err != nil {
			s.log.Error("close old snapshot", "err", err)
		}
	}
	s.ready.Store(true)
	s.metrics.snapshotSeq.Set(float64(info.Seq))
	s.metrics.indexItems.Set(float64(info.Items))
	s.log.Info("snapshot loaded", "snapshot", info.Snapshot, "seq", info.Seq, "items", info.Items, "took", time.Since(start))
	return info, nil
}

// replayWorkers is how many items a replay applies at once.
const replayWorkers = 8

// replay applies the store's item changes made after from (see
// content.Replay), advancing the generation's mark as it goes.
func (s *Server) replay(ctx context.Context, g *generation, from uint64) error {
	_, err := content.Replay(ctx, s.store, from, func(ctx context.Context, id string) error {
		return s.applyItem(ctx, g, id)
	}, content.ReplayOptions{Workers: replayWorkers, Done: g.advance})
	return err
}

// applyItem brings one item of the generation's indexes to its current
// state in the store, under the item's lock.
func (s *Server) applyItem(ctx context.Context, g *generation, id string) error {
	defer g.lockItem(id).Unlock()
	return content.Apply(ctx, s.store, g.be, id)
}

// live brings the backend in service up to date with durable writes to
// the given items. The writes are already acknowledged by the store, so a
// failure is logged and counted, not returned: the next reload replays it.
func (s *Server) live(ctx context.Context, seq uint64, ids ...string) {
	// The write is durable: an index that does not answer soon (a remote
	// one, away) must not hold its answer. What is not applied is the
	// follower's, or the next reload's, to apply.
	ctx, cancel := context.WithTimeout(ctx, liveTimeout)
	defer cancel()
	// Following a shared store, other servers' writes with lower numbers
	// may not be applied yet: the follower moves the mark of the one in
	// service, and applies this write again on its way (an apply reads
	// the current state). The snapshots experiments' arms serve take the
	// write too.
	if g := s.gen.Load(); g != nil {
		s.applyLive(ctx, g, seq, ids, !s.follow.on.Load())
	}
	for _, ag := range s.armGenerations() {
		s.applyLive(ctx, ag, seq, ids, true)
	}
}

// applyLive applies durable writes to one generation unless it is
// closed, and moves its mark to seq when advance is set; a failure is
// logged and counted.
func (s *Server) applyLive(ctx context.Context, g *generation, seq uint64, ids []string, advance bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return
	}
	for _, id := range ids {
		if err := s.applyItem(ctx, g, id); err != nil {
			s.metrics.liveFailures.Inc()
			s.log.ErrorContext(ctx, "live index update failed; the next reload replays it", "item", id, "seq", seq, "err", err)
			return
		}
	}
	if advance {
		g.advance(seq)
	}
}

// liveTimeout bounds the live apply of one acknowledged write.
const liveTimeout = 2 * time.Second

// Close takes the backend out of service and closes it, once the requests
// using it have finished. Serve has returned by then.
func (s *Server) Close() error {
	s.ready.Store(false)
	s.stopFeedback()
	g := s.gen.Swap(nil)
	if g == nil {
		return nil
	}
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	return g.be.Close()
}

func (s *Server) reloadRoute(c echo.Context) error {
	// A load takes as long as it takes; the request timeout is for
	// searches. It is not cut short if the caller goes away either: a swap
	// is all or nothing anyway.
	info, err := s.Reload(context.WithoutCancel(c.Request().Context()))
	if err != nil {
		s.log.ErrorContext(c.Request().Context(), "reload failed", "err", err)
		return newError(http.StatusInternalServerError, "reload_failed", err.Error())
	}
	return c.JSON(http.StatusOK, info)
}

type statsResponse struct {
	Store    content.Stats `json:"store"`
	Snapshot *BackendInfo  `json:"snapshot,omitempty"`
	// Lag is how many item changes in the store the live indexes have not
	// applied (counted up to 1000).
	Lag int `json:"lag"`
	// Vocabulary is what of the editors' vocabulary is in service.
	Vocabulary vocabularyStats `json:"vocabulary"`
	// Rebuilds are the scheduled rebuilds, when the server runs them.
	Rebuilds any `json:"rebuilds,omitempty"`
}

// vocabularyStats describes the vocabulary in service.
type vocabularyStats struct {
	Seq         uint64 `json:"seq"`
	SynonymSets int    `json:"synonym_sets"`
	StopWords   int    `json:"stop_words"`
	// Error says why the store's vocabulary is not the one in service.
	Error string `json:"error,omitempty"`
}

func (s *Server) stats(c echo.Context) error {
	st, err := s.store.Stats(c.Request().Context())
	if err != nil {
		return err
	}
	resp := statsResponse{Store: st}
	if s.cfg.RebuildStatus != nil {
		resp.Rebuilds = s.cfg.RebuildStatus()
	}
	cur := s.vocab.cur.Load()
	resp.Vocabulary.Seq = cur.Seq()
	resp.Vocabulary.SynonymSets, resp.Vocabulary.StopWords = cur.Sizes()
	if e := s.vocab.err.Load(); e != nil {
		resp.Vocabulary.Error = *e
	}
	if g := s.gen.Load(); g != nil {
		info := g.be.Info()
		resp.Snapshot = &info
		resp.Lag = s.lag(c.Request().Context())
	}
	return c.JSON(http.StatusOK, resp)
}

// lag counts the item changes in the store after the live indexes' mark.
func (s *Server) lag(ctx context.Context) int {
	g := s.gen.Load()
	if g == nil {
		return 0
	}
	pending, err := s.store.ChangesSince(ctx, g.applied.Load(), 1000)
	if err != nil {
		return -1
	}
	return len(pending)
}

// backup streams a consistent copy of the store file, so that a rebuild
// can read the store while this server holds it. The copy's sequence
// number is in the X-Duet-Seq trailer.
func (s *Server) backup(c echo.Context) error {
	if s.store.Shared() {
		return newError(http.StatusNotImplemented, "not_implemented", "the store is in PostgreSQL: back it up with pg_dump or duet dump --store")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/octet-stream")
	h.Set("Trailer", "X-Duet-Seq")
	c.Response().WriteHeader(http.StatusOK)
	// Not bound by the request timeout: a large store takes a while to send.
	seq, err := s.store.Backup(context.WithoutCancel(c.Request().Context()), c.Response())
	if err != nil {
		// The status is sent; a missing trailer tells the client it failed.
		s.log.ErrorContext(c.Request().Context(), "backup failed", "err", err)
		return nil
	}
	h.Set("X-Duet-Seq", strconv.FormatUint(seq, 10))
	return nil
}

// Watch reloads whenever newest names a snapshot other than the one in
// service, checking every interval until ctx is done. newest returns "" when
// there is none. A failed load is logged and tried again at the next
// change.
func (s *Server) Watch(ctx context.Context, interval time.Duration, newest func() string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failed := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		want := newest()
		if want == "" || want == failed {
			continue
		}
		if g := s.gen.Load(); g != nil && g.be.Info().Snapshot == want {
			continue
		}
		info, err := s.Reload(ctx)
		if err != nil {
			s.log.Error("reload of a new snapshot failed", "snapshot", want, "err", err)
			failed = want
		} else if info.Snapshot != want {
			// The newest did not verify and an older one loaded instead:
			// try the newest again only once it changes.
			s.log.Warn("newest snapshot skipped", "snapshot", want, "loaded", info.Snapshot)
			failed = want
		}
	}
}
