package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Store is the durable catalog and event log. Open keeps it in one bbolt
// file in a data directory (the default: one process, nothing to run
// beside it); OpenURL keeps it in PostgreSQL, which several processes
// share. Both give the same API and the same guarantees:
//
// Every write returns once it is durable (committed and fsync'd), or with
// an error and nothing written, and takes the next number of one global
// sequence (the feedback log's records are numbered apart: feedback.go). Writes are gathered into shared transactions (group commit):
// while one commit is made durable, the next group forms. Reads run
// concurrently with writes.
type Store struct {
	e      engine
	dir    string
	now    func() time.Time
	window atomic.Int64 // the attribution window, in nanoseconds
}

// engine is where a Store keeps its records: bbolt (bolt.go) or
// PostgreSQL (postgres.go). Its methods get checked input; errors are the
// package's sentinels, wrapped.
type engine interface {
	putItems(ctx context.Context, items []Item, mode int, now time.Time) (uint64, error)
	deleteItem(ctx context.Context, id string) (uint64, error)
	// appendEvents attributes the events that name an impression when
	// att is not nil, in the same transaction (see attribution).
	appendEvents(ctx context.Context, events []Event, requireItems bool, att *attribution) (uint64, error)
	logImpressions(ctx context.Context, imps []Impression) (uint64, error)
	impression(ctx context.Context, id string) (Impression, error)
	feedbackSince(ctx context.Context, seq uint64, limit int) ([]Feedback, error)
	// pruneFeedback removes up to limit of the oldest records shown
	// before before, and says how many it removed.
	pruneFeedback(ctx context.Context, before time.Time, limit int) (int, error)
	putExperiment(ctx context.Context, id string, body []byte) error
	experiments(ctx context.Context) (map[string]json.RawMessage, error)
	putSynonyms(ctx context.Context, set Synonyms, base uint64) (uint64, error)
	deleteSynonyms(ctx context.Context, id string) (uint64, error)
	putStopWords(ctx context.Context, words []string) (uint64, error)
	restoreVocabulary(ctx context.Context, v Vocabulary) error

	item(ctx context.Context, id string) (Item, error)
	hasItem(ctx context.Context, id string) (bool, error)
	forEachItemAfter(ctx context.Context, after string, fn func(Item) error) error
	changesSince(ctx context.Context, seq uint64, limit int) ([]Change, error)
	userEvents(ctx context.Context, user string, n int) ([]Event, error)
	forEachEvent(ctx context.Context, fn func(Event) error) error
	stats(ctx context.Context) (Stats, error)
	vocabulary(ctx context.Context) (Vocabulary, error)
	vocabularySeq(ctx context.Context) (uint64, error)
	publishSnapshot(ctx context.Context, p PublishedSnapshot) error
	publishedSnapshot(ctx context.Context) (PublishedSnapshot, error)
	// changed is Store.Changed.
	changed(ctx context.Context) <-chan struct{}
	// view calls fn with one consistent read of the whole store.
	view(ctx context.Context, fn func(storeView) error) error
	backup(ctx context.Context, w io.Writer) (uint64, error)
	close() error
}

// storeView is one consistent read of a whole store, for a dump.
type storeView interface {
	seq() uint64
	vocabulary() (Vocabulary, error)
	forEachItem(ctx context.Context, fn func(Item) error) error
	forEachEvent(ctx context.Context, fn func(Event) error) error
}

// Open opens the store in dir, creating dir and the store if they do not
// exist. It fails with ErrLocked if another process has it open.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	e, err := openBolt(filepath.Join(dir, storeFile), false)
	if err != nil {
		return nil, err
	}
	return newStore(e, dir), nil
}

// OpenFile opens a store file read-only, such as a backup written by
// Backup. Writes to it fail.
func OpenFile(ctx context.Context, path string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := openBolt(path, true)
	if err != nil {
		return nil, err
	}
	return newStore(e, filepath.Dir(path)), nil
}

// OpenReading opens the store a command only reads: in PostgreSQL as
// OpenStore does, else the bbolt store in dir read-only, which any number
// of reading processes may hold at once (a writer, such as duet serve,
// still keeps them out: ErrLocked). Writes through it fail. A dir holding
// no store is an error matching fs.ErrNotExist; nothing is created.
func OpenReading(ctx context.Context, dir, url string) (*Store, error) {
	if url != "" {
		return OpenURL(ctx, url, dir)
	}
	path := filepath.Join(dir, storeFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open store %s: no store there (duet import makes one): %w", dir, fs.ErrNotExist)
	}
	return OpenFile(ctx, path)
}

// OpenStore opens the store a command names: the one in PostgreSQL when
// url is a postgres:// or postgresql:// URL (OpenURL), else the bbolt
// store in dir.
func OpenStore(ctx context.Context, dir, url string) (*Store, error) {
	if url == "" {
		return Open(ctx, dir)
	}
	return OpenURL(ctx, url, dir)
}

// IsURL reports whether s names a PostgreSQL store rather than a directory.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func newStore(e engine, dir string) *Store {
	s := &Store{e: e, dir: dir, now: func() time.Time { return time.Now().UTC() }}
	s.window.Store(int64(DefaultAttribution))
	return s
}

// Shared reports whether other processes may share the store (one in
// PostgreSQL), which a bbolt store, locked by its one process, never is.
func (s *Store) Shared() bool {
	_, ok := s.e.(*pgEngine)
	return ok
}

// Dir returns the data directory: where the store's file is, or for a
// store in PostgreSQL, the local directory given to OpenURL.
func (s *Store) Dir() string { return s.dir }

// Backup writes a consistent copy of the whole store file to w while
// reads and writes go on, and returns the sequence number it reflects. The
// copy opens with OpenFile. A store in PostgreSQL has no such copy
// (ErrUnsupported): back it up with pg_dump, or Dump.
func (s *Store) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := s.e.backup(ctx, w)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return seq, nil
}

// Close waits for pending writes and closes the store.
func (s *Store) Close() error { return s.e.close() }

// PutItem validates and stores an item, creating or replacing it, and
// returns the write's sequence number. CreatedAt is kept from an earlier
// version of the item; UpdatedAt is the time of this write.
//
// Like every write, it returns once the write is durable, or with an error
// and nothing written: ErrInvalid (a *ValidationError naming the field),
// ErrClosed, or ctx's error when ctx was done before the write was queued.
func (s *Store) PutItem(ctx context.Context, it Item) (uint64, error) {
	return s.PutItems(ctx, []Item{it})
}

// CreateItem stores a new item and returns the write's sequence number, or
// ErrExists if an item with its id is already in the catalog; otherwise its
// errors are PutItem's.
func (s *Store) CreateItem(ctx context.Context, it Item) (uint64, error) {
	return s.putItems(ctx, []Item{it}, putCreate)
}

// How putItems treats existing items and times.
const (
	putReplace = iota // replace; keep CreatedAt, stamp UpdatedAt
	putCreate         // refuse an existing id
	putRestore        // replace; keep the item's own times
)

// PutItems stores items in one transaction: all of them or, if any is
// invalid, none. It returns the sequence number of the last write. Its
// errors are PutItem's.
func (s *Store) PutItems(ctx context.Context, items []Item) (uint64, error) {
	return s.putItems(ctx, items, putReplace)
}

func (s *Store) putItems(ctx context.Context, items []Item, mode int) (uint64, error) {
	for i := range items {
		if err := items[i].Validate(); err != nil {
			return 0, fmt.Errorf("item %d (%q): %w", i, clip(items[i].ID), err)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	last, err := s.e.putItems(ctx, items, mode, s.now())
	if err != nil {
		return 0, fmt.Errorf("put items: %w", err)
	}
	return last, nil
}

// DeleteItem removes an item and returns the write's sequence number, or
// ErrNotFound; otherwise its errors are PutItem's. The item's events stay
// in the log.
func (s *Store) DeleteItem(ctx context.Context, id string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := s.e.deleteItem(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("delete item %q: %w", clip(id), err)
	}
	return seq, nil
}

// Item returns the item with the given id, or ErrNotFound.
func (s *Store) Item(ctx context.Context, id string) (Item, error) {
	if err := ctx.Err(); err != nil {
		return Item{}, err
	}
	it, err := s.e.item(ctx, id)
	if err != nil {
		return Item{}, fmt.Errorf("item %q: %w", clip(id), unavailable(err))
	}
	return it, nil
}

// Items returns up to limit items in id order (byte order), starting
// after the id after ("" for the first page).
func (s *Store) Items(ctx context.Context, after string, limit int) ([]Item, error) {
	var out []Item
	err := s.e.forEachItemAfter(ctx, after, func(it Item) error {
		out = append(out, it)
		if len(out) == limit {
			return errStop
		}
		return nil
	})
	return out, err
}

// ForEachItem calls fn for every item in id order within one read
// transaction; an error from fn stops the walk and is returned.
func (s *Store) ForEachItem(ctx context.Context, fn func(Item) error) error {
	return s.e.forEachItemAfter(ctx, "", fn)
}

// errStop ends a walk early without an error.
var errStop = errors.New("stop")

// Change is one item write, as listed by ChangesSince.
type Change struct {
	Seq     uint64
	ItemID  string
	Deleted bool
}

// ChangesSince returns the item changes with a sequence number above seq, in
// order, at most limit of them (all if limit ≤ 0). A change is listed only
// once every write with a lower sequence number is visible too, so a reader
// that goes on from the last number it read never skips one.
func (s *Store) ChangesSince(ctx context.Context, seq uint64, limit int) ([]Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.e.changesSince(ctx, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("changes since %d: %w", seq, unavailable(err))
	}
	return out, nil
}

// AppendEvents validates events and appends them to the log in one
// transaction, all or none. Every event must name an item the catalog holds
// (ErrUnknownItem otherwise). An event that names an impression is
// attributed to it in the same transaction: a Click joins the feedback log.
// The impression must be in the log (ErrUnknownImpression), within the
// attribution window (ErrImpressionExpired), and have shown the event's
// item (ErrNotShown). It returns the sequence number of the last event.
// Its other errors are PutItem's.
func (s *Store) AppendEvents(ctx context.Context, events []Event) (uint64, error) {
	return s.appendEvents(ctx, events, true)
}

// appendEvents is AppendEvents; a restore turns the item check off, since
// the log keeps the events of items deleted since.
func (s *Store) appendEvents(ctx context.Context, events []Event, requireItems bool) (uint64, error) {
	for i := range events {
		if err := events[i].Validate(); err != nil {
			return 0, fmt.Errorf("event %d: %w", i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var att *attribution
	if requireItems { // a restore's events name no impressions
		att = &attribution{now: s.now(), window: time.Duration(s.window.Load())}
	}
	last, err := s.e.appendEvents(ctx, events, requireItems, att)
	if err != nil {
		return 0, fmt.Errorf("append events: %w", err)
	}
	return last, nil
}

// UserEvents returns the last n events of a user in time order (all of
// them if n ≤ 0). Events of unknown time sort first.
func (s *Store) UserEvents(ctx context.Context, userID string, n int) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.e.userEvents(ctx, userID, n)
	if err != nil {
		return nil, fmt.Errorf("events of user %q: %w", clip(userID), unavailable(err))
	}
	return out, nil
}

// ForEachEvent calls fn for every event, grouped by user and in time order
// within a user, in one read transaction.
func (s *Store) ForEachEvent(ctx context.Context, fn func(Event) error) error {
	return s.e.forEachEvent(ctx, fn)
}

// Changed returns a channel that receives, while ctx lasts, when another
// process may have written items or the vocabulary: a store in PostgreSQL
// relays the database's notifications (sent when such a write commits,
// and once more whenever the listening connection is made again, since
// some may have been missed meanwhile). Sends never block and coalesce.
// It is nil for the bbolt store, which no other process writes.
func (s *Store) Changed(ctx context.Context) <-chan struct{} { return s.e.changed(ctx) }

// VocabularySeq returns the vocabulary's sequence number
// (Vocabulary.Seq) without reading the vocabulary.
func (s *Store) VocabularySeq(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seq, err := s.e.vocabularySeq(ctx)
	return seq, unavailable(err)
}

// PublishedSnapshot is a snapshot a rebuild made known to the servers
// sharing its store: its directory name, the store sequence number it
// reflects, the SHA-256 of its manifest (through which every file is
// checked), and where to fetch it from (a directory holding it by name, or
// the http(s) URL of a server that has it).
type PublishedSnapshot struct {
	Name           string    `json:"name"`
	Seq            uint64    `json:"seq"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	Source         string    `json:"source"`
	PublishedAt    time.Time `json:"published_at"`
}

// PublishSnapshot records a snapshot for the servers sharing the store
// (PostgreSQL); the bbolt store has none (errors.ErrUnsupported).
func (s *Store) PublishSnapshot(ctx context.Context, p PublishedSnapshot) error {
	if p.Name == "" || p.ManifestSHA256 == "" || p.Source == "" {
		return fmt.Errorf("publish snapshot: %w", invalid("snapshot", "needs a name, a manifest checksum and a source"))
	}
	if p.PublishedAt.IsZero() {
		p.PublishedAt = s.now()
	}
	if err := s.e.publishSnapshot(ctx, p); err != nil {
		return fmt.Errorf("publish snapshot %s: %w", p.Name, unavailable(err))
	}
	return nil
}

// LatestSnapshot returns the snapshot published last, or ErrNotFound.
func (s *Store) LatestSnapshot(ctx context.Context) (PublishedSnapshot, error) {
	if err := ctx.Err(); err != nil {
		return PublishedSnapshot{}, err
	}
	p, err := s.e.publishedSnapshot(ctx)
	if err != nil {
		return PublishedSnapshot{}, fmt.Errorf("latest snapshot: %w", unavailable(err))
	}
	return p, nil
}

// Stats counts what the store holds.
type Stats struct {
	Items  int    `json:"items"`
	Events int    `json:"events"`
	Seq    uint64 `json:"seq"` // the last write's sequence number
}

// Stats returns the store's counts.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	st, err := s.e.stats(ctx)
	return st, unavailable(err)
}
