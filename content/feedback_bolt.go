package content

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The feedback log's buckets in a bbolt store.
var (
	bucketImpressions = []byte("impressions") // impression id → JSON impression
	bucketFeedback    = []byte("feedback")    // seq (8) → 'i' + impression id, or 'c' + JSON click
	bucketExperiments = []byte("experiments") // experiment id → JSON definition
)

const (
	recImpression = 'i'
	recClick      = 'c'
)

// appendFill is the fill of pages of buckets written in key order: bbolt
// splits at half by default, which leaves appended-to pages half empty.
const appendFill = 0.95

// keyFeedbackSeq is the feedback log's last number, in the meta bucket:
// the log is numbered apart from the store's writes, so that recording
// what was shown does not move the store's sequence.
var keyFeedbackSeq = []byte("feedback_seq")

func nextFeedbackSeq(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	seq := getU64(meta, keyFeedbackSeq) + 1
	return seq, meta.Put(keyFeedbackSeq, u64(seq))
}

func (e *boltEngine) logImpressions(ctx context.Context, imps []Impression) (uint64, error) {
	vals := make([][]byte, len(imps))
	for i := range imps {
		var err error
		if vals[i], err = json.Marshal(&imps[i]); err != nil {
			return 0, err
		}
	}
	var last uint64
	err := e.write(ctx, func(tx *bolt.Tx) error {
		b, log := tx.Bucket(bucketImpressions), tx.Bucket(bucketFeedback)
		// Both grow at their end (ids sort by time): full pages.
		b.FillPercent, log.FillPercent = appendFill, appendFill
		for i := range imps {
			seq, err := nextFeedbackSeq(tx)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(imps[i].ID), vals[i]); err != nil {
				return err
			}
			if err := log.Put(u64(seq), append([]byte{recImpression}, imps[i].ID...)); err != nil {
				return err
			}
			last = seq
		}
		return nil
	})
	return last, err
}

func (e *boltEngine) impression(ctx context.Context, id string) (Impression, error) {
	var im Impression
	err := e.db.View(func(tx *bolt.Tx) error {
		var err error
		im, err = boltImpression(tx, id)
		return err
	})
	return im, err
}

func boltImpression(tx *bolt.Tx, id string) (Impression, error) {
	b := tx.Bucket(bucketImpressions)
	if b == nil {
		return Impression{}, ErrNotFound
	}
	v := b.Get([]byte(id))
	if v == nil {
		return Impression{}, ErrNotFound
	}
	var im Impression
	if err := json.Unmarshal(v, &im); err != nil {
		return Impression{}, fmt.Errorf("corrupt impression: %w", err)
	}
	return im, nil
}

// attributeBolt attributes the events that name an impression, logging
// their clicks and updating the impressions, in tx.
func attributeBolt(tx *bolt.Tx, events []Event, att *attribution) error {
	imps, err := att.attributeAll(events, func(id string) (*Impression, error) {
		im, err := boltImpression(tx, id)
		if err == ErrNotFound {
			return nil, nil
		}
		return &im, err
	}, func(c *Click) error {
		val, err := json.Marshal(c)
		if err != nil {
			return err
		}
		seq, err := nextFeedbackSeq(tx)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketFeedback).Put(u64(seq), append([]byte{recClick}, val...))
	})
	if err != nil {
		return err
	}
	for id, im := range imps {
		val, err := json.Marshal(im)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketImpressions).Put([]byte(id), val); err != nil {
			return err
		}
	}
	return nil
}

func (e *boltEngine) feedbackSince(ctx context.Context, seq uint64, limit int) ([]Feedback, error) {
	var out []Feedback
	err := e.db.View(func(tx *bolt.Tx) error {
		log := tx.Bucket(bucketFeedback)
		if log == nil {
			return nil
		}
		c := log.Cursor()
		for k, v := c.Seek(u64(seq + 1)); k != nil; k, v = c.Next() {
			f, err := boltFeedback(tx, k, v)
			if err != nil {
				return err
			}
			if f.Impression == nil && f.Click == nil {
				continue // an impression pruned under its record
			}
			out = append(out, f)
			if limit > 0 && len(out) == limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// boltFeedback decodes one record of the feedback log.
func boltFeedback(tx *bolt.Tx, k, v []byte) (Feedback, error) {
	f := Feedback{Seq: binary.BigEndian.Uint64(k)}
	if len(v) < 1 {
		return f, fmt.Errorf("feedback %d: empty record", f.Seq)
	}
	switch v[0] {
	case recImpression:
		im, err := boltImpression(tx, string(v[1:]))
		if err == ErrNotFound {
			return f, nil
		} else if err != nil {
			return f, fmt.Errorf("feedback %d: %w", f.Seq, err)
		}
		f.Impression = &im
	case recClick:
		f.Click = new(Click)
		if err := json.Unmarshal(v[1:], f.Click); err != nil {
			return f, fmt.Errorf("feedback %d: corrupt click: %w", f.Seq, err)
		}
	default:
		return f, fmt.Errorf("feedback %d: unknown record %q", f.Seq, v[0])
	}
	return f, nil
}

func (e *boltEngine) pruneFeedback(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := e.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		log := tx.Bucket(bucketFeedback)
		c := log.Cursor()
		for k, v := c.First(); k != nil && n < limit; k, v = c.First() {
			f, err := boltFeedback(tx, k, v)
			if err != nil {
				return err
			}
			if (f.Impression != nil || f.Click != nil) && !f.time().Before(before) {
				return nil
			}
			if f.Impression != nil {
				if err := tx.Bucket(bucketImpressions).Delete([]byte(f.Impression.ID)); err != nil {
					return err
				}
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (e *boltEngine) putExperiment(ctx context.Context, id string, body []byte) error {
	return e.write(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketExperiments).Put([]byte(id), body)
	})
}

func (e *boltEngine) experiments(ctx context.Context) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := e.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketExperiments)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = append(json.RawMessage(nil), v...)
			return nil
		})
	})
	return out, err
}
