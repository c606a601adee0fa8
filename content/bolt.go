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
	"slices"
	"strings"
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

// boltEngine keeps a store in one bbolt file. Writes go through the
// committer (group commit); a write returns only after its transaction is
// committed and fsync'd. Reads run concurrently with writes.
type boltEngine struct {
	db *bolt.DB
	c  *committer[*bolt.Tx]
}

func openBolt(path string, readOnly bool) (*boltEngine, error) {
	if !readOnly {
		readAhead(path)
	}
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
	e := &boltEngine{db: db}
	e.c = newCommitter(e.run)
	return e, nil
}

// run runs fns in one write transaction; a failed one rolls it back at no
// fsync's cost.
func (e *boltEngine) run(fns []func(*bolt.Tx) error) (failed int, ferr, err error) {
	failed = -1
	err = e.db.Update(func(tx *bolt.Tx) error {
		for i, fn := range fns {
			if err := fn(tx); err != nil {
				failed, ferr = i, err
				return err
			}
		}
		return nil
	})
	if failed >= 0 {
		return failed, ferr, nil
	}
	if err != nil {
		err = fmt.Errorf("commit: %w", err)
	}
	return -1, nil, err
}

func (e *boltEngine) write(ctx context.Context, fn func(*bolt.Tx) error) error {
	return e.c.write(ctx, fn)
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
		for _, b := range [][]byte{bucketItems, bucketChanges, bucketEvents, bucketVocabulary, bucketImpressions, bucketFeedback, bucketExperiments} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
}

func (e *boltEngine) backup(ctx context.Context, w io.Writer) (uint64, error) {
	var seq uint64
	err := e.db.View(func(tx *bolt.Tx) error {
		seq = getU64(tx.Bucket(bucketMeta), keySeq)
		_, err := tx.WriteTo(w)
		return err
	})
	return seq, err
}

func (e *boltEngine) close() error {
	e.c.close()
	return e.db.Close()
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

func (e *boltEngine) putItems(ctx context.Context, items []Item, mode int, now time.Time) (uint64, error) {
	var last uint64
	err := e.write(ctx, func(tx *bolt.Tx) error {
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
	return last, err
}

func (e *boltEngine) deleteItem(ctx context.Context, id string) (uint64, error) {
	var seq uint64
	err := e.write(ctx, func(tx *bolt.Tx) error {
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
	return seq, err
}

func (e *boltEngine) item(ctx context.Context, id string) (Item, error) {
	var it Item
	err := e.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketItems).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var err error
		it, err = decodeItem(v)
		return err
	})
	return it, err
}

func (e *boltEngine) hasItem(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := e.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketItems).Get([]byte(id)) != nil
		return nil
	})
	return ok, err
}

func (e *boltEngine) forEachItemAfter(ctx context.Context, after string, fn func(Item) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return forEachItemAfter(ctx, tx, after, fn) })
}

// forEachItemAfter calls fn for the items of tx after the id after, in id
// order, checking ctx now and then.
func forEachItemAfter(ctx context.Context, tx *bolt.Tx, after string, fn func(Item) error) error {
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
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (e *boltEngine) changesSince(ctx context.Context, seq uint64, limit int) ([]Change, error) {
	var out []Change
	err := e.db.View(func(tx *bolt.Tx) error {
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
	return out, err
}

func (e *boltEngine) appendEvents(ctx context.Context, events []Event, requireItems bool, att *attribution) (uint64, error) {
	var last uint64
	var key []byte
	err := e.write(ctx, func(tx *bolt.Tx) error {
		last = 0
		items := tx.Bucket(bucketItems)
		for i := range events {
			if requireItems && items.Get([]byte(events[i].ItemID)) == nil {
				return fmt.Errorf("event %d: item %q: %w", i, clip(events[i].ItemID), ErrUnknownItem)
			}
		}
		if att.needed(events) {
			if err := attributeBolt(tx, events, att); err != nil {
				return err
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
	return last, err
}

func (e *boltEngine) userEvents(ctx context.Context, userID string, n int) ([]Event, error) {
	prefix := userPrefix(nil, userID)
	var out []Event
	err := e.db.View(func(tx *bolt.Tx) error {
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
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

func (e *boltEngine) forEachEvent(ctx context.Context, fn func(Event) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return forEachEvent(ctx, tx, fn) })
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

func (e *boltEngine) stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := e.db.View(func(tx *bolt.Tx) error {
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

// view reads the whole store in one read transaction.
func (e *boltEngine) view(ctx context.Context, fn func(storeView) error) error {
	return e.db.View(func(tx *bolt.Tx) error { return fn(boltView{tx}) })
}

type boltView struct{ tx *bolt.Tx }

func (v boltView) seq() uint64                     { return getU64(v.tx.Bucket(bucketMeta), keySeq) }
func (v boltView) vocabulary() (Vocabulary, error) { return readVocabulary(v.tx) }
func (v boltView) forEachItem(ctx context.Context, fn func(Item) error) error {
	return forEachItemAfter(ctx, v.tx, "", fn)
}
func (v boltView) forEachEvent(ctx context.Context, fn func(Event) error) error {
	return forEachEvent(ctx, v.tx, fn)
}

// The vocabulary's bucket: its sequence number, the stop words and one
// record per synonym set.
var (
	bucketVocabulary = []byte("vocabulary")
	keyVocabSeq      = []byte("seq")          // 8 bytes
	keyStopWords     = []byte("stop")         // JSON list
	prefixSynonyms   = []byte("synonyms\x00") // + set id → JSON set
)

func readVocabulary(tx *bolt.Tx) (Vocabulary, error) {
	v := Vocabulary{Synonyms: []Synonyms{}, StopWords: []string{}}
	b := tx.Bucket(bucketVocabulary)
	if b == nil { // a read-only store written before the vocabulary
		return v, nil
	}
	v.Seq = getU64(b, keyVocabSeq)
	if raw := b.Get(keyStopWords); raw != nil {
		if err := json.Unmarshal(raw, &v.StopWords); err != nil {
			return Vocabulary{}, fmt.Errorf("corrupt stop words: %w", err)
		}
	}
	c := b.Cursor()
	for k, raw := c.Seek(prefixSynonyms); k != nil && strings.HasPrefix(string(k), string(prefixSynonyms)); k, raw = c.Next() {
		var set Synonyms
		if err := json.Unmarshal(raw, &set); err != nil {
			return Vocabulary{}, fmt.Errorf("corrupt synonym set %q: %w", k[len(prefixSynonyms):], err)
		}
		v.Synonyms = append(v.Synonyms, set)
	}
	return v, nil
}

func (e *boltEngine) putSynonyms(ctx context.Context, set Synonyms, base uint64) (uint64, error) {
	val, err := json.Marshal(set)
	if err != nil {
		return 0, err
	}
	key := append(slices.Clip(prefixSynonyms), set.ID...)
	var seq uint64
	err = e.write(ctx, func(tx *bolt.Tx) error {
		b, err := vocabularyAt(tx, base)
		if err != nil {
			return err
		}
		if b.Get(key) == nil && countPrefix(b, prefixSynonyms) >= MaxSynonymSets {
			return tooManySets()
		}
		if seq, err = vocabularyChanged(tx, b); err != nil {
			return err
		}
		return b.Put(key, val)
	})
	return seq, err
}

func (e *boltEngine) deleteSynonyms(ctx context.Context, id string) (uint64, error) {
	key := append(slices.Clip(prefixSynonyms), id...)
	var seq uint64
	err := e.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVocabulary)
		if b.Get(key) == nil {
			return ErrNotFound
		}
		var err error
		if seq, err = vocabularyChanged(tx, b); err != nil {
			return err
		}
		return b.Delete(key)
	})
	return seq, err
}

func (e *boltEngine) putStopWords(ctx context.Context, words []string) (uint64, error) {
	val, err := json.Marshal(words)
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = e.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVocabulary)
		var err error
		if seq, err = vocabularyChanged(tx, b); err != nil {
			return err
		}
		return b.Put(keyStopWords, val)
	})
	return seq, err
}

func (e *boltEngine) vocabularySeq(ctx context.Context) (uint64, error) {
	var seq uint64
	err := e.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketVocabulary); b != nil {
			seq = getU64(b, keyVocabSeq)
		}
		return nil
	})
	return seq, err
}

// A bbolt store has one server, which reads the snapshots of its own data
// directory: there is no one to publish to.
func (e *boltEngine) publishSnapshot(context.Context, PublishedSnapshot) error {
	return fmt.Errorf("a bbolt store has no other server to publish to: %w", errors.ErrUnsupported)
}

func (e *boltEngine) publishedSnapshot(context.Context) (PublishedSnapshot, error) {
	return PublishedSnapshot{}, ErrNotFound
}

// changed is nil: only this process writes a bbolt store.
func (e *boltEngine) changed(context.Context) <-chan struct{} { return nil }

func (e *boltEngine) vocabulary(ctx context.Context) (Vocabulary, error) {
	var v Vocabulary
	err := e.db.View(func(tx *bolt.Tx) (err error) {
		v, err = readVocabulary(tx)
		return err
	})
	return v, err
}

func (e *boltEngine) restoreVocabulary(ctx context.Context, v Vocabulary) error {
	stop, err := json.Marshal(v.StopWords)
	if err != nil {
		return err
	}
	return e.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketVocabulary)
		if _, err := vocabularyChanged(tx, b); err != nil {
			return err
		}
		for i := range v.Synonyms {
			val, err := json.Marshal(&v.Synonyms[i])
			if err != nil {
				return err
			}
			if err := b.Put(append(slices.Clip(prefixSynonyms), v.Synonyms[i].ID...), val); err != nil {
				return err
			}
		}
		return b.Put(keyStopWords, stop)
	})
}

// vocabularyAt returns the vocabulary's bucket if it is at sequence
// number base, else ErrConflict.
func vocabularyAt(tx *bolt.Tx, base uint64) (*bolt.Bucket, error) {
	b := tx.Bucket(bucketVocabulary)
	if now := getU64(b, keyVocabSeq); now != base {
		return nil, fmt.Errorf("%w: the vocabulary is at %d, not %d", ErrConflict, now, base)
	}
	return b, nil
}

// vocabularyChanged takes the next sequence number for a change of the
// vocabulary in b.
func vocabularyChanged(tx *bolt.Tx, b *bolt.Bucket) (uint64, error) {
	seq, err := nextSeq(tx)
	if err != nil {
		return 0, err
	}
	return seq, b.Put(keyVocabSeq, u64(seq))
}

func countPrefix(b *bolt.Bucket, prefix []byte) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, _ = c.Next() {
		n++
	}
	return n
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
