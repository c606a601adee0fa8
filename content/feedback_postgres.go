package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func (e *pgEngine) logImpressions(ctx context.Context, imps []Impression) (uint64, error) {
	n := len(imps)
	ids, bodies, shown := make([]string, n), make([]string, n), make([]time.Time, n)
	for i := range imps {
		b, err := json.Marshal(&imps[i])
		if err != nil {
			return 0, err
		}
		ids[i], bodies[i], shown[i] = imps[i].ID, string(b), imps[i].Time
	}
	var last uint64
	err := e.write(ctx, func(w *pgTx) error {
		c, err := w.counters()
		if err != nil {
			return err
		}
		seqs := make([]int64, n)
		for i := range seqs {
			c.feedbackSeq++
			seqs[i] = c.feedbackSeq
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO duet_impressions (id, body) SELECT * FROM unnest($1::text[], $2::text[])
			ON CONFLICT (id) DO UPDATE SET body = excluded.body`, ids, bodies); err != nil {
			return err
		}
		if _, err := w.tx.Exec(w.ctx, `INSERT INTO duet_feedback (seq, shown, impression_id)
			SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[])`, seqs, shown, ids); err != nil {
			return err
		}
		last = uint64(c.feedbackSeq)
		return nil
	})
	return last, err
}

func (e *pgEngine) impression(ctx context.Context, id string) (Impression, error) {
	var body string
	err := e.pool.QueryRow(ctx, `SELECT body FROM duet_impressions WHERE id = $1`, id).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return Impression{}, ErrNotFound
	}
	if err != nil {
		return Impression{}, err
	}
	var im Impression
	if err := json.Unmarshal([]byte(body), &im); err != nil {
		return Impression{}, fmt.Errorf("corrupt impression: %w", err)
	}
	return im, nil
}

// attribute attributes the events that name an impression, logging their
// clicks and updating the impressions, which it locks.
func (w *pgTx) attribute(events []Event, att *attribution) error {
	var ids []string
	for i := range events {
		if id := events[i].ImpressionID; id != "" {
			ids = append(ids, id)
		}
	}
	rows, err := w.tx.Query(w.ctx, `SELECT id, body FROM duet_impressions WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return err
	}
	found := map[string]*Impression{}
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return err
		}
		im := new(Impression)
		if err := json.Unmarshal([]byte(body), im); err != nil {
			rows.Close()
			return fmt.Errorf("corrupt impression %q: %w", id, err)
		}
		found[id] = im
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var imps map[string]*Impression
	var seqs []int64
	var shown []time.Time
	var impIDs, clicks []string
	imps, err = att.attributeAll(events, func(id string) (*Impression, error) { return found[id], nil }, func(c *Click) error {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		w.c.feedbackSeq++
		seqs, shown, impIDs, clicks = append(seqs, w.c.feedbackSeq), append(shown, c.Shown), append(impIDs, c.ImpressionID), append(clicks, string(b))
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := w.tx.Exec(w.ctx, `INSERT INTO duet_feedback (seq, shown, impression_id, click)
		SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[])`, seqs, shown, impIDs, clicks); err != nil {
		return err
	}
	var upIDs, upBodies []string
	for id, im := range imps {
		b, err := json.Marshal(im)
		if err != nil {
			return err
		}
		upIDs, upBodies = append(upIDs, id), append(upBodies, string(b))
	}
	_, err = w.tx.Exec(w.ctx, `UPDATE duet_impressions i SET body = u.body FROM unnest($1::text[], $2::text[]) AS u(id, body) WHERE i.id = u.id`, upIDs, upBodies)
	return err
}

func (e *pgEngine) feedbackSince(ctx context.Context, seq uint64, limit int) ([]Feedback, error) {
	sql := `SELECT f.seq, f.click, i.body FROM duet_feedback f
		LEFT JOIN duet_impressions i ON f.click IS NULL AND i.id = f.impression_id
		WHERE f.seq > $1 ORDER BY f.seq`
	args := []any{int64(seq)}
	if limit > 0 {
		sql += ` LIMIT $2`
		args = append(args, limit)
	}
	rows, err := e.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Feedback
	for rows.Next() {
		var s int64
		var click, body *string
		if err := rows.Scan(&s, &click, &body); err != nil {
			return nil, err
		}
		f := Feedback{Seq: uint64(s)}
		switch {
		case click != nil:
			f.Click = new(Click)
			if err := json.Unmarshal([]byte(*click), f.Click); err != nil {
				return nil, fmt.Errorf("feedback %d: corrupt click: %w", s, err)
			}
		case body != nil:
			f.Impression = new(Impression)
			if err := json.Unmarshal([]byte(*body), f.Impression); err != nil {
				return nil, fmt.Errorf("feedback %d: corrupt impression: %w", s, err)
			}
		default:
			continue // an impression pruned under its record
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (e *pgEngine) pruneFeedback(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM duet_feedback WHERE seq IN
			(SELECT seq FROM duet_feedback WHERE shown < $1 ORDER BY seq LIMIT $2)
			RETURNING impression_id, click IS NULL`, before, limit)
		if err != nil {
			return err
		}
		var imps []string
		for rows.Next() {
			var id string
			var isImp bool
			if err := rows.Scan(&id, &isImp); err != nil {
				rows.Close()
				return err
			}
			n++
			if isImp {
				imps = append(imps, id)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM duet_impressions WHERE id = ANY($1)`, imps)
		return err
	})
	return n, err
}

func (e *pgEngine) putExperiment(ctx context.Context, id string, body []byte) error {
	_, err := e.pool.Exec(ctx, `INSERT INTO duet_experiments (id, body) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET body = excluded.body`, id, string(body))
	return err
}

func (e *pgEngine) experiments(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := e.pool.Query(ctx, `SELECT id, body FROM duet_experiments`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var id, body string
		if err := rows.Scan(&id, &body); err != nil {
			return nil, err
		}
		out[id] = json.RawMessage(body)
	}
	return out, rows.Err()
}
