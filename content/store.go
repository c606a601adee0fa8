package content

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// storeFile is the name of the store's file inside its data directory.
const storeFile = "catalog.db"

// storeVersion is the layout of the buckets and records below; a store
// written with another layout is refused rather than misread.
const storeVersion = 1

var (
	bucketMeta    = []byte("meta")
	bucketItems   = []byte("items")   // item id → seq (8) + item JSON
	bucketChanges = []byte("changes") // seq (8) → op (1) + item id
	bucketEvents  = []byte("events")  // eventKey → eventValue
	// bucketVocabulary (vocabulary.go) came later; a read-only store
	// without it has an empty vocabulary.

	keyVersion = []byte("version")
	keySeq     = []byte("seq")
	keyNItems  = []byte("items")
	keyNEvents = []byte("events")
)

const (
	opPut    = 'p'
	opDelete = 'd'
)

// Store is the durable catalog and event log, kept in one bbolt file.
//
// Writes go through a single committer goroutine that gathers whatever
// writes are waiting into one transaction (group commit): while one fsync
// runs, the next batch forms, so concurrent writers share fsyncs without an
// artificial delay. A write method returns only after its transaction is
// committed and fsync'd. Reads run concurrently with writes.
type Store struct {
	db     *bolt.DB
	dir    string
	reqs   chan *writeReq
	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	done   chan struct{}
	now    func() time.Time
}

type writeReq struct {
	fn  func(tx *bolt.Tx) error
	err chan error
}

// maxGroup bounds how many waiting writes one transaction takes.
const maxGroup = 256

// Open opens the store in dir, creating dir and the store if they do not
// exist. It fails with ErrLocked if another process has it open.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return openFile(filepath.Join(dir, storeFile), false)
}

// OpenFile opens a store file read-only, such as a backup written by
// Backup. Writes to it fail.
func OpenFile(ctx context.Context, path string) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return openFile(path, true)
}

func openFile(path string, readOnly bool) (*Store, error) {
	dir := filepath.Dir(path)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		ReadOnly: readOnly,
		Timeout:  500 * time.Millisecond,
		// The freelist is rebuilt on open instead of written on every commit.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Reserve address space up front so growth rarely remaps, since a
		// remap waits for every open read transaction.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if readOnly {
		err = checkVersion(db)
	} else {
		err = initBuckets(db)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{
		db:   db,
		dir:  dir,
		reqs: make(chan *writeReq, maxGroup),
		done: make(chan struct{}),
		now:  func() time.Time { return time.Now().UTC() },
	}
	go s.commitLoop()
	return s, nil
}

func checkVersion(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return errors.New("not a store: no meta bucket")
		}
		if v := meta.Get(keyVersion); len(v) != 8 || binary.BigEndian.Uint64(v) != storeVersion {
			return fmt.Errorf("store format version %x, want %d", v, storeVersion)
		}
		for _, b := range [][]byte{bucketItems, bucketChanges, bucketEvents} {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("not a store: no %s bucket", b)
			}
		}
		return nil
	})
}

func initBuckets(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keyVersion, u64(storeVersion)); err != nil {
				return err
			}
		}
		if v := meta.Get(keyVersion); len(v) != 8 || binary.BigEndian.Uint64(v) != storeVersion {
			return fmt.Errorf("store format version %x, want %d", v, storeVersion)
		}
		for _, b := range [][]byte{bucketItems, bucketChanges, bucketEvents, bucketVocabulary} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// Dir returns the directory the store's file is in.
func (s *Store) Dir() string { return s.dir }

// Backup writes a consistent copy of the whole store file to w while
// reads and writes go on, and returns the sequence number it reflects. The
// copy opens with OpenFile.
func (s *Store) Backup(ctx context.Context, w io.Writer) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var seq uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		seq = getU64(tx.Bucket(bucketMeta), keySeq)
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	return seq, nil
}

// Close waits for pending writes and closes the store.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	return s.db.Close()
}

// write runs fn in a write transaction shared with other waiting writes and
// returns once that transaction is durable. fn may run more than once (see
// commit), so it sets its results afresh each time.
func (s *Store) write(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{fn: fn, err: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.reqs <- req
	s.mu.RUnlock()
	// Once queued the write is not abandoned on cancellation: the caller
	// must learn whether it happened.
	return <-req.err
}

func (s *Store) commitLoop() {
	defer close(s.done)
	group := make([]*writeReq, 0, maxGroup)
	for first := range s.reqs {
		group = append(group[:0], first)
	gather:
		for len(group) < maxGroup {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break gather
				}
				group = append(group, r)
			default:
				break gather
			}
		}
		s.commit(group)
	}
}

// commit runs a group of writes in one transaction. A write that fails is
// answered with its error and the transaction is rolled back and run again
// without it, so one bad write never leaves half its changes behind or fails
// the others; the rollback costs no fsync.
func (s *Store) commit(group []*writeReq) {
	for len(group) > 0 {
		failed, ferr := -1, error(nil)
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, r := range group {
				if err := r.fn(tx); err != nil {
					failed, ferr = i, err
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			group[failed].err <- ferr
			group = append(group[:failed], group[failed+1:]...)
			continue
		}
		if err != nil {
			err = fmt.Errorf("commit: %w", err)
		}
		for _, r := range group {
			r.err <- err
		}
		return
	}
}

func nextSeq(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	seq := getU64(meta, keySeq) + 1
	return seq, meta.Put(keySeq, u64(seq))
}

func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	meta := tx.Bucket(bucketMeta)
	return meta.Put(key, u64(uint64(int64(getU64(meta, key))+delta)))
}

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
	now := s.now()
	var last uint64
	err := s.write(ctx, func(tx *bolt.Tx) error {
		last = 0
		b := tx.Bucket(bucketItems)
		var added int64
		for _, it := range items {
			if mode != putRestore {
				it.CreatedAt, it.UpdatedAt = now, now
			}
			if old := b.Get([]byte(it.ID)); old != nil {
				if mode == putCreate {
					return fmt.Errorf("item %q: %w", clip(it.ID), ErrExists)
				}
				if mode == putReplace {
					prev, err := decodeItem(old)
					if err != nil {
						return fmt.Errorf("item %q: %w", it.ID, err)
					}
					it.CreatedAt = prev.CreatedAt
				}
			} else {
				added++
			}
			seq, err := nextSeq(tx)
			if err != nil {
				return err
			}
			val, err := encodeItem(seq, it)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(it.ID), val); err != nil {
				return err
			}
			if err := tx.Bucket(bucketChanges).Put(u64(seq), append([]byte{opPut}, it.ID...)); err != nil {
				return err
			}
			last = seq
		}
		return addCount(tx, keyNItems, added)
	})
	if err != nil {
		return 0, fmt.Errorf("put items: %w", err)
	}
	return last, nil
}

// DeleteItem removes an item and returns the write's sequence number, or
// ErrNotFound; otherwise its errors are PutItem's. The item's events stay
// in the log.
func (s *Store) DeleteItem(ctx context.Context, id string) (uint64, error) {
	var seq uint64
	err := s.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		var err error
		if seq, err = nextSeq(tx); err != nil {
			return err
		}
		if err := b.Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketChanges).Put(u64(seq), append([]byte{opDelete}, id...)); err != nil {
			return err
		}
		return addCount(tx, keyNItems, -1)
	})
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
	var it Item
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketItems).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var err error
		it, err = decodeItem(v)
		return err
	})
	if err != nil {
		return Item{}, fmt.Errorf("item %q: %w", clip(id), err)
	}
	return it, nil
}

// Items returns up to limit items in id order, starting after the id
// after ("" for the first page).
func (s *Store) Items(ctx context.Context, after string, limit int) ([]Item, error) {
	var out []Item
	err := s.forEachItemAfter(ctx, after, func(it Item) error {
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
	return s.forEachItemAfter(ctx, "", fn)
}

// forEachItemAfter is ForEachItem starting after the id after.
func (s *Store) forEachItemAfter(ctx context.Context, after string, fn func(Item) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, v = c.Next()
		}
		for n := 0; k != nil; k, v = c.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			it, err := decodeItem(v)
			if err != nil {
				return fmt.Errorf("item %q: %w", k, err)
			}
			if err := fn(it); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

var errStop = errors.New("stop")

// Change is one item write, as listed by ChangesSince.
type Change struct {
	Seq     uint64
	ItemID  string
	Deleted bool
}

// ChangesSince returns the item changes with a sequence number above seq, in
// order, at most limit of them (all if limit ≤ 0).
func (s *Store) ChangesSince(ctx context.Context, seq uint64, limit int) ([]Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Change
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChanges).Cursor()
		for k, v := c.Seek(u64(seq + 1)); k != nil; k, v = c.Next() {
			if len(v) < 1 {
				return fmt.Errorf("change %x: empty record", k)
			}
			out = append(out, Change{Seq: binary.BigEndian.Uint64(k), ItemID: string(v[1:]), Deleted: v[0] == opDelete})
			if limit > 0 && len(out) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes since %d: %w", seq, err)
	}
	return out, nil
}

// AppendEvents validates events and appends them to the log in one
// transaction, all or none. Every event must name an item the catalog holds
// (ErrUnknownItem otherwise). It returns the sequence number of the last.
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
	var last uint64
	var key []byte
	err := s.write(ctx, func(tx *bolt.Tx) error {
		last = 0
		items := tx.Bucket(bucketItems)
		for i := range events {
			if requireItems && items.Get([]byte(events[i].ItemID)) == nil {
				return fmt.Errorf("event %d: item %q: %w", i, clip(events[i].ItemID), ErrUnknownItem)
			}
		}
		b := tx.Bucket(bucketEvents)
		meta := tx.Bucket(bucketMeta)
		seq := getU64(meta, keySeq)
		for i := range events {
			seq++
			key = eventKey(key[:0], &events[i], seq)
			if err := b.Put(key, encodeEventValue(&events[i])); err != nil {
				return err
			}
		}
		if err := meta.Put(keySeq, u64(seq)); err != nil {
			return err
		}
		last = seq
		return addCount(tx, keyNEvents, int64(len(events)))
	})
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
	prefix := userPrefix(nil, userID)
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		// Walk back from the end of the user's range.
		k, v := c.Seek(prefixEnd(prefix))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			ev, err := decodeEvent(k, v)
			if err != nil {
				return err
			}
			out = append(out, ev)
			if n > 0 && len(out) == n {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events of user %q: %w", clip(userID), err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// ForEachEvent calls fn for every event, grouped by user and in time order
// within a user, in one read transaction.
func (s *Store) ForEachEvent(ctx context.Context, fn func(Event) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return forEachEvent(ctx, tx, fn) })
}

// forEachEvent calls fn for every event of tx, checking ctx now and then.
func forEachEvent(ctx context.Context, tx *bolt.Tx, fn func(Event) error) error {
	c := tx.Bucket(bucketEvents).Cursor()
	n := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ev, err := decodeEvent(k, v)
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
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
	var st Stats
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st = Stats{
			Items:  int(getU64(meta, keyNItems)),
			Events: int(getU64(meta, keyNEvents)),
			Seq:    getU64(meta, keySeq),
		}
		return nil
	})
	return st, err
}

// Record encodings.

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b *bolt.Bucket, key []byte) uint64 {
	v := b.Get(key)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func encodeItem(seq uint64, it Item) ([]byte, error) {
	js, err := json.Marshal(it)
	if err != nil {
		return nil, err
	}
	return append(u64(seq), js...), nil
}

func decodeItem(v []byte) (Item, error) {
	if len(v) < 8 {
		return Item{}, errors.New("corrupt item record")
	}
	var it Item
	if err := json.Unmarshal(v[8:], &it); err != nil {
		return Item{}, fmt.Errorf("corrupt item record: %w", err)
	}
	return it, nil
}

// An event's key orders the log by user, then time, then sequence number:
// user length (2) + user + seconds since year 1 (8) + nanoseconds (4) + seq (8).
// The zero time (unknown) has seconds 0 and so sorts first.
const unixToYear1 = 62135596800

func userPrefix(dst []byte, user string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(user)))
	return append(dst, user...)
}

func prefixEnd(prefix []byte) []byte {
	// Every key of the user is prefix + 20 bytes; prefix + 0xff… sorts after all.
	return append(append([]byte{}, prefix...), bytes.Repeat([]byte{0xff}, 21)...)
}

func eventKey(dst []byte, ev *Event, seq uint64) []byte {
	dst = userPrefix(dst, ev.UserID)
	var sec uint64
	var nsec uint32
	if !ev.Time.IsZero() {
		sec = uint64(ev.Time.Unix() + unixToYear1)
		nsec = uint32(ev.Time.Nanosecond())
	}
	dst = binary.BigEndian.AppendUint64(dst, sec)
	dst = binary.BigEndian.AppendUint32(dst, nsec)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// An event's value: item id length (2) + item id + kind length (1) + kind +
// value (float64 bits, 8).
func encodeEventValue(ev *Event) []byte {
	b := make([]byte, 0, 2+len(ev.ItemID)+1+len(ev.Kind)+8)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ev.ItemID)))
	b = append(b, ev.ItemID...)
	b = append(b, byte(len(ev.Kind)))
	b = append(b, ev.Kind...)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(ev.Value))
}

var errCorruptEvent = errors.New("corrupt event record")

func decodeEvent(k, v []byte) (Event, error) {
	if len(k) < 2 {
		return Event{}, errCorruptEvent
	}
	ul := int(binary.BigEndian.Uint16(k))
	if len(k) != 2+ul+20 || len(v) < 2 {
		return Event{}, errCorruptEvent
	}
	ev := Event{UserID: string(k[2 : 2+ul])}
	t := k[2+ul:]
	if sec := binary.BigEndian.Uint64(t); sec != 0 {
		ev.Time = time.Unix(int64(sec)-unixToYear1, int64(binary.BigEndian.Uint32(t[8:]))).UTC()
	}
	il := int(binary.BigEndian.Uint16(v))
	if len(v) < 2+il+1 {
		return Event{}, errCorruptEvent
	}
	ev.ItemID = string(v[2 : 2+il])
	v = v[2+il:]
	kl := int(v[0])
	if len(v) != 1+kl+8 {
		return Event{}, errCorruptEvent
	}
	ev.Kind = string(v[1 : 1+kl])
	ev.Value = math.Float64frombits(binary.BigEndian.Uint64(v[1+kl:]))
	return ev, nil
}
