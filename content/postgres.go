package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations make the newest schema this binary knows: migrations[i] takes a
// database from version i to i+1. A database at a newer version is
// refused (ErrSchemaNewer) rather than misread.
var migrations = []string{
	// 1: the catalogue, the change feed, the event log, the vocabulary, and
	// one row of counters whose lock orders every write (see pgEngine).
	`CREATE TABLE duet_counters (
		id int PRIMARY KEY CHECK (id = 1),
		seq bigint NOT NULL,
		items bigint NOT NULL,
		events bigint NOT NULL,
		vocabulary_seq bigint NOT NULL,
		stop_words text NOT NULL
	);
	INSERT INTO duet_counters VALUES (1, 0, 0, 0, 0, '[]');
	CREATE TABLE duet_items (
		id text COLLATE "C" PRIMARY KEY,
		seq bigint NOT NULL,
		body text NOT NULL
	);
	CREATE TABLE duet_changes (
		seq bigint PRIMARY KEY,
		deleted boolean NOT NULL,
		item_id text COLLATE "C" NOT NULL
	);
	CREATE TABLE duet_events (
		user_id text COLLATE "C" NOT NULL,
		t_sec bigint NOT NULL,
		t_nsec int NOT NULL,
		seq bigint NOT NULL,
		item_id text COLLATE "C" NOT NULL,
		kind text NOT NULL,
		value double precision NOT NULL,
		PRIMARY KEY (user_id, t_sec, t_nsec, seq)
	);
	CREATE TABLE duet_synonyms (
		id text COLLATE "C" PRIMARY KEY,
		body text NOT NULL
	);`,
	// 2: the snapshots rebuilds publish for the servers sharing the store.
	`CREATE TABLE duet_snapshots (
		name text COLLATE "C" PRIMARY KEY,
		seq bigint NOT NULL,
		manifest_sha256 text NOT NULL,
		source text NOT NULL,
		published_at timestamptz NOT NULL
	);`,
	// 3: the feedback log (impressions and the clicks attributed to them,
	// numbered by a counter of its own in the counters row, whose lock
	// orders them like every write) and the experiments.
	`ALTER TABLE duet_counters ADD COLUMN feedback_seq bigint NOT NULL DEFAULT 0;
	CREATE TABLE duet_impressions (
		id text COLLATE "C" PRIMARY KEY,
		body text NOT NULL
	);
	CREATE TABLE duet_feedback (
		seq bigint PRIMARY KEY,
		shown timestamptz NOT NULL,
		impression_id text COLLATE "C" NOT NULL,
		click text
	);
	CREATE INDEX duet_feedback_shown ON duet_feedback (shown);
	CREATE TABLE duet_experiments (
		id text COLLATE "C" PRIMARY KEY,
		body text NOT NULL
	);`,
}

// pgMigrateLock is the advisory lock under which a process migrates the
// schema, so that replicas starting together migrate once.
const pgMigrateLock = 0x64756574 // "duet"

// pgCopyFrom is the batch of events from which COPY, a few round trips,
// beats one INSERT of arrays.
const pgCopyFrom = 1000

// pgWriteTimeout bounds one group's transaction: a write waits no longer
// for an unreachable database.
const pgWriteTimeout = 30 * time.Second

// pgEngine keeps a store in PostgreSQL, which several processes share.
//
// Every write transaction first locks the one row of duet_counters and
// takes its sequence numbers from it, so transactions that write hand out
// numbers in the order they commit: the lock is held to the commit, and a
// rolled-back write gives its numbers back. A reader of duet_changes that
// sees number n committed therefore sees every number below it, and a
// replica tailing the feed by number never skips a write. The price is
// that writers commit one at a time across processes; each process gathers
// its waiting writes into one transaction (the committer), so the lock is
// taken once per group, not per write.
type pgEngine struct {
	pool *pgxpool.Pool
	cfg  *pgx.ConnConfig // for the listening connection
	c    *committer[*pgTx]
}

// pgChannel is the notification channel a commit that changed items or
// the vocabulary notifies.
const pgChannel = "duet_changes"

// pgTx is a write transaction as a committer's writes see it. The first
// write to need the counters locks them; they are written back once, before
// the commit.
type pgTx struct {
	ctx     context.Context
	tx      pgx.Tx
	c       *pgCounters
	changed bool // items or the vocabulary: others are notified at the commit
}

// OpenURL opens the store in the PostgreSQL database at url (a
// postgres:// URL, as pgx takes it), creating or migrating its tables. dir
// is the local data directory (snapshots live there), created if need be;
// it may be "". It fails with ErrSchemaNewer if the database was written
// by a newer Duet, and with a clear error for a malformed or unreachable
// URL, changing nothing.
func OpenURL(ctx context.Context, url, dir string) (*Store, error) {
	e, err := openPostgres(ctx, url)
	if err != nil {
		return nil, err
	}
	return newStore(e, dir), nil
}

func openPostgres(ctx context.Context, url string) (*pgEngine, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// An acknowledged write is on disk, whatever the server's default.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	e := &pgEngine{pool: pool, cfg: cfg.ConnConfig}
	e.c = newCommitter(e.run)
	return e, nil
}

// migrate brings the schema to the newest version, under an advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrateLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS duet_schema (version int NOT NULL)`); err != nil {
			return err
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM duet_schema`).Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `INSERT INTO duet_schema VALUES (0)`); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("%w: the database's schema is version %d, this binary knows up to %d", ErrSchemaNewer, version, len(migrations))
		}
		for v := version; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("schema version %d: %w", v+1, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE duet_schema SET version = $1`, len(migrations))
		return err
	})
}

// run runs fns in one transaction. A failed write rolls it back.
func (e *pgEngine) run(fns []func(*pgTx) error) (failed int, ferr, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), pgWriteTimeout)
	defer cancel()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return -1, nil, fmt.Errorf("begin: %w", unavailable(err))
	}
	w := &pgTx{ctx: ctx, tx: tx}
	for i, fn := range fns {
		if err := fn(w); err != nil {
			tx.Rollback(ctx)
			return i, unavailable(err), nil
		}
	}
	if w.c != nil {
		if _, err := tx.Exec(ctx, `UPDATE duet_counters SET seq = $1, items = $2, events = $3, vocabulary_seq = $4, feedback_seq = $5 WHERE id = 1`,
			w.c.seq, w.c.items, w.c.events, w.c.vocabularySeq, w.c.feedbackSeq); err != nil {
			tx.Rollback(ctx)
			return -1, nil, err
		}
	}
	if w.changed {
		// Delivered when the transaction commits, not before.
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, pgChannel, strconv.FormatInt(w.c.seq, 10)); err != nil {
			tx.Rollback(ctx)
			return -1, nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return -1, nil, fmt.Errorf("commit: %w", unavailable(err))
	}
	return -1, nil, nil
}

// unavailable marks err as ErrUnavailable when it says the database could
// not be reached: a failed connection, a network error, a timeout, or a
// server shutting down.
func unavailable(err error) error {
	var ce *pgconn.ConnectError
	var ne net.Error
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err),
		errors.As(err, &pe) && (pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"): // admin shutdown, crash shutdown, cannot connect now
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func (e *pgEngine) write(ctx context.Context, fn func(*pgTx) error) error {
	return e.c.write(ctx, fn)
}

// pgCounters are the counters row: the last sequence number, the counts,
// the vocabulary's sequence number, the feedback log's last number.
type pgCounters struct {
	seq, items, events, vocabularySeq, feedbackSeq int64
}

// vocabularyChanged takes the next sequence number for a change of the
// vocabulary.
func (w *pgTx) vocabularyChanged() uint64 {
	w.changed = true
	w.c.seq++
	w.c.vocabularySeq = w.c.seq
	return uint64(w.c.seq)
}

// deleteByID deletes the row of id from table (one of Duet's), or fails
// with ErrNotFound.
func (w *pgTx) deleteByID(table, id string) error {
	tag, err := w.tx.Exec(w.ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// counters locks the counters row for the rest of w's transaction and
// returns it, for the write to change; run writes it back. A write that
// fails leaves it changed, but its transaction is rolled back.
func (w *pgTx) counters() (*pgCounters, error) {
	if w.c != nil {
		return w.c, nil
	}
	c := &pgCounters{}
	err := w.tx.QueryRow(w.ctx, `SELECT seq, items, events, vocabulary_seq, feedback_seq FROM duet_counters WHERE id = 1 FOR UPDATE`).
		Scan(&c.seq, &c.items, &c.events, &c.vocabularySeq, &c.feedbackSeq)
	if err != nil {
		return nil, err
	}
	w.c = c
	return c, nil
}

func (e *pgEngine) putItems(ctx context.Context, items []Item, mode int, now time.Time) (uint64, error) {
	ids := make([]string, len(items))
	for i := range items {
		ids[i] = items[i].ID
	}
	var last uint64
	err := e.write(ctx, func(w *pgTx) error {
		c, err := w.counters()
		if err != nil {
			return err
		}
		created := map[string]time.Time{} // the stored items' CreatedAt
		rows, err := w.tx.Query(w.ctx, `SELECT id, body FROM duet_items WHERE id = ANY($1)`, ids)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, body string
			if err := rows.Scan(&id, &body); err != nil {
				rows.Close()
				return err
			}
			var old Item
			if err := json.Unmarshal([]byte(body), &old); err != nil {
				rows.Close()
				return fmt.Errorf("item %q: corrupt record: %w", id, err)
			}
			created[id] = old.CreatedAt
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		latest := map[string]int{} // id → index in the rows below
		var rowIDs, bodies, changeIDs []string
		var rowSeqs, changeSeqs []int64
		for _, it := range items {
			if mode != putRestore {
				it.CreatedAt, it.UpdatedAt = now, now
			}
			if at, ok := created[it.ID]; ok {
				if mode == putCreate {
					return fmt.Errorf("item %q: %w", clip(it.ID), ErrExists)
				}
				if mode == putReplace {
					it.CreatedAt = at
				}
			} else {
				c.items++
				created[it.ID] = it.CreatedAt
			}
			c.seq++
			body, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if i, ok := latest[it.ID]; ok {
				rowSeqs[i], bodies[i] = c.seq, string(body)
			} else {
				latest[it.ID] = len(rowIDs)
				rowIDs, rowSeqs, bodies = append(rowIDs, it.ID), append(rowSeqs, c.seq), append(bodies, string(body))
			}
			changeSeqs, changeIDs = append(changeSeqs, c.seq), append(changeIDs, it.ID)
		}
		// Both statements in one round trip.
		var b pgx.Batch
		b.Queue(`INSERT INTO duet_items (id, seq, body)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, body = excluded.body`, rowIDs, rowSeqs, bodies)
		b.Queue(`INSERT INTO duet_changes SELECT s, false, id FROM unnest($1::bigint[], $2::text[]) AS t(s, id)`, changeSeqs, changeIDs)
		if err := w.tx.SendBatch(w.ctx, &b).Close(); err != nil {
			return err
		}
		last = uint64(c.seq)
		w.changed = true
		return nil
	})
	return last, err
}

func (e *pgEngine) deleteItem(ctx context.Context, id string) (uint64, error) {
	var seq uint64
	err := e.write(ctx, func(w *pgTx) error {
		c, err := w.counters()
		if err != nil {
			return err
		}
		if err := w.deleteByID("duet_items", id); err != nil {
			return err
		}
		c.seq++
		c.items--
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO duet_changes VALUES ($1, true, $2)`, c.seq, id); err != nil {
			return err
		}
		w.changed = true
		seq = uint64(c.seq)
		return nil
	})
	return seq, err
}

func (e *pgEngine) appendEvents(ctx context.Context, events []Event, requireItems bool, att *attribution) (uint64, error) {
	var last uint64
	err := e.write(ctx, func(w *pgTx) error {
		c, err := w.counters()
		if err != nil {
			return err
		}
		if requireItems {
			if err := w.checkItems(events); err != nil {
				return err
			}
		}
		if att.needed(events) {
			if err := w.attribute(events, att); err != nil {
				return err
			}
		}
		if len(events) >= pgCopyFrom {
			rows := make([][]any, len(events))
			for i := range events {
				ev := &events[i]
				c.seq++
				sec, nsec := eventTime(ev.Time)
				rows[i] = []any{ev.UserID, sec, nsec, c.seq, ev.ItemID, ev.Kind, ev.Value}
			}
			if _, err := w.tx.CopyFrom(w.ctx, pgx.Identifier{"duet_events"},
				[]string{"user_id", "t_sec", "t_nsec", "seq", "item_id", "kind", "value"}, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		} else {
			n := len(events)
			users, items, kinds := make([]string, n), make([]string, n), make([]string, n)
			secs, seqs := make([]int64, n), make([]int64, n)
			nsecs, values := make([]int32, n), make([]float64, n)
			for i := range events {
				ev := &events[i]
				c.seq++
				users[i], items[i], kinds[i], values[i], seqs[i] = ev.UserID, ev.ItemID, ev.Kind, ev.Value, c.seq
				secs[i], nsecs[i] = eventTime(ev.Time)
			}
			if _, err := w.tx.Exec(w.ctx, `INSERT INTO duet_events (user_id, t_sec, t_nsec, seq, item_id, kind, value)
				SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::float8[])`,
				users, secs, nsecs, seqs, items, kinds, values); err != nil {
				return err
			}
		}
		c.events += int64(len(events))
		last = uint64(c.seq)
		return nil
	})
	return last, err
}

// checkItems fails with ErrUnknownItem, naming the first event whose item
// the catalogue does not hold.
func (w *pgTx) checkItems(events []Event) error {
	var ids []string
	for i := range events {
		ids = append(ids, events[i].ItemID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := w.tx.Query(w.ctx, `SELECT id FROM duet_items WHERE id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(known) == len(ids) {
		return nil
	}
	have := make(map[string]bool, len(known))
	for _, id := range known {
		have[id] = true
	}
	for i := range events {
		if !have[events[i].ItemID] {
			return fmt.Errorf("event %d: item %q: %w", i, clip(events[i].ItemID), ErrUnknownItem)
		}
	}
	return nil
}

// eventTime splits an event's time as the log orders it: seconds since
// year 1 and nanoseconds, the zero time (unknown) first.
func eventTime(t time.Time) (sec int64, nsec int32) {
	if t.IsZero() {
		return 0, 0
	}
	return t.Unix() + unixToYear1, int32(t.Nanosecond())
}

func eventFromRow(user string, sec int64, nsec int32, item, kind string, value float64) Event {
	ev := Event{UserID: user, ItemID: item, Kind: kind, Value: value}
	if sec != 0 {
		ev.Time = time.Unix(sec-unixToYear1, int64(nsec)).UTC()
	}
	return ev
}

func (e *pgEngine) putSynonyms(ctx context.Context, set Synonyms, base uint64) (uint64, error) {
	body, err := json.Marshal(set)
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = e.write(ctx, func(w *pgTx) error {
		c, err := w.counters()
		if err != nil {
			return err
		}
		if uint64(c.vocabularySeq) != base {
			return fmt.Errorf("%w: the vocabulary is at %d, not %d", ErrConflict, c.vocabularySeq, base)
		}
		var n int
		var exists bool
		if err := w.tx.QueryRow(w.ctx, `SELECT count(*), bool_or(id = $1) IS TRUE FROM duet_synonyms`, set.ID).Scan(&n, &exists); err != nil {
			return err
		}
		if !exists && n >= MaxSynonymSets {
			return tooManySets()
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO duet_synonyms VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body`, set.ID, string(body)); err != nil {
			return err
		}
		seq = w.vocabularyChanged()
		return nil
	})
	return seq, err
}

func (e *pgEngine) deleteSynonyms(ctx context.Context, id string) (uint64, error) {
	var seq uint64
	err := e.write(ctx, func(w *pgTx) error {
		if _, err := w.counters(); err != nil {
			return err
		}
		if err := w.deleteByID("duet_synonyms", id); err != nil {
			return err
		}
		seq = w.vocabularyChanged()
		return nil
	})
	return seq, err
}

func (e *pgEngine) putStopWords(ctx context.Context, words []string) (uint64, error) {
	body, err := json.Marshal(words)
	if err != nil {
		return 0, err
	}
	var seq uint64
	err = e.write(ctx, func(w *pgTx) error {
		if _, err := w.counters(); err != nil {
			return err
		}
		seq = w.vocabularyChanged()
		if _, err := w.tx.Exec(w.ctx, `UPDATE duet_counters SET stop_words = $1 WHERE id = 1`, string(body)); err != nil {
			return err
		}
		return nil
	})
	return seq, err
}

func (e *pgEngine) restoreVocabulary(ctx context.Context, v Vocabulary) error {
	return e.write(ctx, func(w *pgTx) error {
		if _, err := w.counters(); err != nil {
			return err
		}
		rows := make([][]any, len(v.Synonyms))
		for i := range v.Synonyms {
			body, err := json.Marshal(&v.Synonyms[i])
			if err != nil {
				return err
			}
			rows[i] = []any{v.Synonyms[i].ID, string(body)}
		}
		if _, err := w.tx.CopyFrom(w.ctx, pgx.Identifier{"duet_synonyms"}, []string{"id", "body"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		stop, err := json.Marshal(v.StopWords)
		if err != nil {
			return err
		}
		if _, err := w.tx.Exec(w.ctx, `UPDATE duet_counters SET stop_words = $1 WHERE id = 1`, string(stop)); err != nil {
			return err
		}
		w.vocabularyChanged()
		return nil
	})
}

// pgQuerier is what reads run on: the pool, or a read-only transaction.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (e *pgEngine) item(ctx context.Context, id string) (Item, error) {
	var body string
	err := e.pool.QueryRow(ctx, `SELECT body FROM duet_items WHERE id = $1`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, ErrNotFound
	}
	if err != nil {
		return Item{}, err
	}
	var it Item
	if err := json.Unmarshal([]byte(body), &it); err != nil {
		return Item{}, fmt.Errorf("corrupt item record: %w", err)
	}
	return it, nil
}

func (e *pgEngine) hasItem(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := e.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM duet_items WHERE id = $1)`, id).Scan(&ok)
	return ok, err
}

func (e *pgEngine) forEachItemAfter(ctx context.Context, after string, fn func(Item) error) error {
	return pgForEachItem(ctx, e.pool, after, fn)
}

// pgForEachItem calls fn for the items after the id after, in id order.
func pgForEachItem(ctx context.Context, q pgQuerier, after string, fn func(Item) error) error {
	rows, err := q.Query(ctx, `SELECT id, body FROM duet_items WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return err
		}
		var it Item
		if err := json.Unmarshal([]byte(body), &it); err != nil {
			return fmt.Errorf("item %q: corrupt record: %w", id, err)
		}
		if err := fn(it); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
	return rows.Err()
}

func (e *pgEngine) changesSince(ctx context.Context, seq uint64, limit int) ([]Change, error) {
	sql := `SELECT seq, deleted, item_id FROM duet_changes WHERE seq > $1 ORDER BY seq`
	args := []any{int64(seq)}
	if limit > 0 {
		sql += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := e.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Change, error) {
		var c Change
		var s int64
		err := r.Scan(&s, &c.Deleted, &c.ItemID)
		c.Seq = uint64(s)
		return c, err
	})
}

const pgEventColumns = `user_id, t_sec, t_nsec, item_id, kind, value`

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var user, item, kind string
	var sec int64
	var nsec int32
	var value float64
	if err := r.Scan(&user, &sec, &nsec, &item, &kind, &value); err != nil {
		return Event{}, err
	}
	return eventFromRow(user, sec, nsec, item, kind, value), nil
}

func (e *pgEngine) userEvents(ctx context.Context, user string, n int) ([]Event, error) {
	if n <= 0 {
		rows, err := e.pool.Query(ctx, `SELECT `+pgEventColumns+` FROM duet_events WHERE user_id = $1 ORDER BY t_sec, t_nsec, seq`, user)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, scanEvent)
	}
	rows, err := e.pool.Query(ctx, `SELECT `+pgEventColumns+` FROM duet_events WHERE user_id = $1
		ORDER BY t_sec DESC, t_nsec DESC, seq DESC LIMIT $2`, user, n)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	slices.Reverse(out)
	return out, err
}

func (e *pgEngine) forEachEvent(ctx context.Context, fn func(Event) error) error {
	return pgForEachEvent(ctx, e.pool, fn)
}

// pgForEachEvent calls fn for every event, by user, then time.
func pgForEachEvent(ctx context.Context, q pgQuerier, fn func(Event) error) error {
	rows, err := q.Query(ctx, `SELECT `+pgEventColumns+` FROM duet_events ORDER BY user_id, t_sec, t_nsec, seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (e *pgEngine) stats(ctx context.Context) (Stats, error) {
	var st Stats
	var seq, items, events int64
	err := e.pool.QueryRow(ctx, `SELECT seq, items, events FROM duet_counters WHERE id = 1`).Scan(&seq, &items, &events)
	st.Seq, st.Items, st.Events = uint64(seq), int(items), int(events)
	return st, err
}

func (e *pgEngine) vocabularySeq(ctx context.Context) (uint64, error) {
	var seq int64
	err := e.pool.QueryRow(ctx, `SELECT vocabulary_seq FROM duet_counters WHERE id = 1`).Scan(&seq)
	return uint64(seq), err
}

// changed listens on its own connection, made again a second after it
// fails; each time it is made, it sends once, for what it may have missed.
func (e *pgEngine) changed(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	send := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	go func() {
		for ctx.Err() == nil {
			conn, err := pgx.ConnectConfig(ctx, e.cfg)
			if err == nil {
				if _, err = conn.Exec(ctx, "LISTEN "+pgChannel); err == nil {
					send()
					for err == nil {
						if _, err = conn.WaitForNotification(ctx); err == nil {
							send()
						}
					}
				}
				closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
				conn.Close(closeCtx)
				cancel()
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}

func (e *pgEngine) publishSnapshot(ctx context.Context, p PublishedSnapshot) error {
	_, err := e.pool.Exec(ctx, `INSERT INTO duet_snapshots VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, manifest_sha256 = excluded.manifest_sha256,
			source = excluded.source, published_at = excluded.published_at`,
		p.Name, int64(p.Seq), p.ManifestSHA256, p.Source, p.PublishedAt)
	return err
}

func (e *pgEngine) publishedSnapshot(ctx context.Context) (PublishedSnapshot, error) {
	var p PublishedSnapshot
	var seq int64
	err := e.pool.QueryRow(ctx, `SELECT name, seq, manifest_sha256, source, published_at FROM duet_snapshots
		ORDER BY published_at DESC, name DESC LIMIT 1`).Scan(&p.Name, &seq, &p.ManifestSHA256, &p.Source, &p.PublishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return PublishedSnapshot{}, ErrNotFound
	}
	p.Seq = uint64(seq)
	p.PublishedAt = p.PublishedAt.UTC()
	return p, err
}

func (e *pgEngine) vocabulary(ctx context.Context) (Vocabulary, error) {
	return pgVocabulary(ctx, e.pool)
}

func pgVocabulary(ctx context.Context, q pgQuerier) (Vocabulary, error) {
	v := Vocabulary{Synonyms: []Synonyms{}, StopWords: []string{}}
	var seq int64
	var stop string
	if err := q.QueryRow(ctx, `SELECT vocabulary_seq, stop_words FROM duet_counters WHERE id = 1`).Scan(&seq, &stop); err != nil {
		return Vocabulary{}, err
	}
	v.Seq = uint64(seq)
	if err := json.Unmarshal([]byte(stop), &v.StopWords); err != nil {
		return Vocabulary{}, fmt.Errorf("corrupt stop words: %w", err)
	}
	rows, err := q.Query(ctx, `SELECT id, body FROM duet_synonyms ORDER BY id`)
	if err != nil {
		return Vocabulary{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return Vocabulary{}, err
		}
		var set Synonyms
		if err := json.Unmarshal([]byte(body), &set); err != nil {
			return Vocabulary{}, fmt.Errorf("corrupt synonym set %q: %w", id, err)
		}
		v.Synonyms = append(v.Synonyms, set)
	}
	return v, rows.Err()
}

// view reads the whole store in one repeatable-read transaction: every
// query in it sees the same snapshot.
func (e *pgEngine) view(ctx context.Context, fn func(storeView) error) error {
	return pgx.BeginTxFunc(ctx, e.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var seq int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM duet_counters WHERE id = 1`).Scan(&seq); err != nil {
			return err
		}
		return fn(pgView{tx: tx, ctx: ctx, at: uint64(seq)})
	})
}

type pgView struct {
	tx  pgx.Tx
	ctx context.Context
	at  uint64
}

func (v pgView) seq() uint64                     { return v.at }
func (v pgView) vocabulary() (Vocabulary, error) { return pgVocabulary(v.ctx, v.tx) }
func (v pgView) forEachItem(ctx context.Context, fn func(Item) error) error {
	return pgForEachItem(ctx, v.tx, "", fn)
}
func (v pgView) forEachEvent(ctx context.Context, fn func(Event) error) error {
	return pgForEachEvent(ctx, v.tx, fn)
}

// backup has no file to copy: PostgreSQL's own tools (pg_dump) or Dump
// back the store up.
func (e *pgEngine) backup(context.Context, io.Writer) (uint64, error) {
	return 0, fmt.Errorf("a store in PostgreSQL: use pg_dump or duet dump: %w", errors.ErrUnsupported)
}

func (e *pgEngine) close() error {
	e.c.close()
	e.pool.Close()
	return nil
}
