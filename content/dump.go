package content

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"

	"github.com/duetrec/duet/internal/durable"
)

// The files of a dump. Text compresses well, so both are zstd streams.
const (
	dumpItems    = "items.jsonl.zst"
	dumpEvents   = "events.csv.zst"
	dumpManifest = "dump.json"
	// dumpVocabulary is small and read whole; a dump without it (made
	// before the vocabulary) has none.
	dumpVocabulary = "vocabulary.json"
	dumpFormat     = 1
)

// dumpMeta is a dump's manifest; it has no time in it, so dumping the same
// store twice gives the same bytes.
type dumpMeta struct {
	Format int    `json:"format"`
	Seq    uint64 `json:"seq"`
	Items  int    `json:"items"`
	Events int    `json:"events"`
	// Synonyms and StopWords count the vocabulary's sets and words.
	Synonyms  int `json:"synonyms,omitempty"`
	StopWords int `json:"stop_words,omitempty"`
}

// dumpedVocabulary is vocabulary.json: the vocabulary without its
// sequence number, which the manifest's covers.
type dumpedVocabulary struct {
	Synonyms  []Synonyms `json:"synonyms"`
	StopWords []string   `json:"stop_words"`
}

// Dump writes the whole catalog (items with their times, in id order),
// event log (by user, then time) and vocabulary to dir, as zstd-compressed
// items.jsonl and events.csv and a vocabulary.json, from one consistent
// read of the store.
func Dump(ctx context.Context, s *Store, dir string) (Stats, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("dump: %w", err)
	}
	var m dumpMeta
	err := s.e.view(ctx, func(v storeView) error {
		m = dumpMeta{Format: dumpFormat, Seq: v.seq()}
		voc, err := v.vocabulary()
		if err != nil {
			return err
		}
		m.Synonyms, m.StopWords = len(voc.Synonyms), len(voc.StopWords)
		if err := durable.WriteJSON(filepath.Join(dir, dumpVocabulary), dumpedVocabulary{voc.Synonyms, voc.StopWords}); err != nil {
			return err
		}
		if err := durable.WriteZstd(filepath.Join(dir, dumpItems), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			return v.forEachItem(ctx, func(it Item) error {
				m.Items++
				return enc.Encode(it)
			})
		}); err != nil {
			return err
		}
		return durable.WriteZstd(filepath.Join(dir, dumpEvents), func(w io.Writer) error {
			ew := newEventWriter(w)
			err := v.forEachEvent(ctx, func(ev Event) error {
				m.Events++
				return ew.Write(ev)
			})
			if err != nil {
				return err
			}
			return ew.Flush()
		})
	})
	if err != nil {
		return Stats{}, fmt.Errorf("dump: %w", err)
	}
	if err := durable.WriteJSON(filepath.Join(dir, dumpManifest), m); err != nil {
		return Stats{}, fmt.Errorf("dump: %w", err)
	}
	return Stats{Items: m.Items, Events: m.Events, Seq: m.Seq}, nil
}

// Restore reads a dump into an empty store, keeping items' times, the
// order of events and the vocabulary. It fails with ErrNotEmpty on a store
// that holds anything. The dump is read and checked whole (rows, the
// vocabulary's shape and the manifest's counts) before anything is
// written, so a damaged dump changes nothing.
func Restore(ctx context.Context, s *Store, dir string, p Progress) (Stats, error) {
	st, err := s.Stats(ctx)
	if err != nil {
		return Stats{}, err
	}
	have, err := s.Vocabulary(ctx)
	if err != nil {
		return Stats{}, err
	}
	if st.Items != 0 || st.Events != 0 || len(have.Synonyms) != 0 || len(have.StopWords) != 0 {
		return Stats{}, fmt.Errorf("restore: %w (%d items, %d events, %d synonym sets, %d stop words)",
			ErrNotEmpty, st.Items, st.Events, len(have.Synonyms), len(have.StopWords))
	}
	mb, err := os.ReadFile(filepath.Join(dir, dumpManifest))
	if err != nil {
		return Stats{}, fmt.Errorf("restore: %w", err)
	}
	var m dumpMeta
	if err := json.Unmarshal(mb, &m); err != nil || m.Format != dumpFormat {
		return Stats{}, fmt.Errorf("restore: %s is not a dump of format %d", dumpManifest, dumpFormat)
	}
	var voc Vocabulary
	switch b, err := os.ReadFile(filepath.Join(dir, dumpVocabulary)); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Stats{}, fmt.Errorf("restore: %w", err)
	default:
		if err := json.Unmarshal(b, &voc); err != nil {
			return Stats{}, fmt.Errorf("restore: %s: %w", dumpVocabulary, err)
		}
		if err := checkVocabulary(&voc); err != nil {
			return Stats{}, fmt.Errorf("restore: %s: %w", dumpVocabulary, err)
		}
	}
	if len(voc.Synonyms) != m.Synonyms || len(voc.StopWords) != m.StopWords {
		return Stats{}, fmt.Errorf("restore: the dump holds %d synonym sets and %d stop words, its manifest says %d and %d",
			len(voc.Synonyms), len(voc.StopWords), m.Synonyms, m.StopWords)
	}
	var n Stats
	err = scanDump(dir, p, "check", func([]Item) error { return nil }, func([]Event) error { return nil }, &n)
	if err != nil {
		return Stats{}, fmt.Errorf("restore: %w", err)
	}
	if n.Items != m.Items || n.Events != m.Events {
		return Stats{}, fmt.Errorf("restore: the dump holds %d items and %d events, its manifest says %d and %d", n.Items, n.Events, m.Items, m.Events)
	}
	var got Stats
	err = scanDump(dir, p, "restore", func(items []Item) error {
		_, err := s.putItems(ctx, items, putRestore)
		return err
	}, func(evs []Event) error {
		_, err := s.appendEvents(ctx, evs, false)
		return err
	}, &got)
	if err == nil {
		err = s.restoreVocabulary(ctx, voc)
	}
	if err != nil {
		return got, fmt.Errorf("restore: %w", err)
	}
	st, err = s.Stats(ctx)
	got.Seq = st.Seq
	return got, err
}

// scanDump reads a dump's items and events in batches, counting them in n.
func scanDump(dir string, p Progress, stage string, items func([]Item) error, events func([]Event) error, n *Stats) error {
	batch := make([]Item, 0, 1000)
	flushItems := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := items(batch); err != nil {
			return err
		}
		n.Items += len(batch)
		batch = batch[:0]
		return nil
	}
	err := readZstdFile(filepath.Join(dir, dumpItems), p, stage+" items", func(r io.Reader) error {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for line := 1; sc.Scan(); line++ {
			var it Item
			if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
				return &RowError{File: dumpItems, Line: line, Err: err}
			}
			if err := it.Validate(); err != nil {
				return &RowError{File: dumpItems, Line: line, Err: err}
			}
			batch = append(batch, it)
			if len(batch) == cap(batch) {
				if err := flushItems(); err != nil {
					return err
				}
			}
		}
		if err := sc.Err(); err != nil {
			return err
		}
		return flushItems()
	})
	if err != nil {
		return err
	}
	evs := make([]Event, 0, 10000)
	flushEvents := func() error {
		if len(evs) == 0 {
			return nil
		}
		if err := events(evs); err != nil {
			return err
		}
		n.Events += len(evs)
		evs = evs[:0]
		return nil
	}
	return readZstdFile(filepath.Join(dir, dumpEvents), p, stage+" events", func(r io.Reader) error {
		cr := csv.NewReader(bufio.NewReader(r))
		cr.ReuseRecord = true
		if _, err := cr.Read(); err != nil {
			return &RowError{File: dumpEvents, Line: 1, Err: err}
		}
		for {
			rec, err := cr.Read()
			if err == io.EOF {
				return flushEvents()
			}
			line, _ := cr.FieldPos(0)
			if err != nil {
				return &RowError{File: dumpEvents, Line: line, Err: err}
			}
			ev, err := ParseEventRecord(rec)
			if err != nil {
				return &RowError{File: dumpEvents, Line: line, Err: err}
			}
			evs = append(evs, ev)
			if len(evs) == cap(evs) {
				if err := flushEvents(); err != nil {
					return err
				}
			}
		}
	})
}

func readZstdFile(path string, p Progress, stage string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	defer progressDone(p)
	zr, err := zstd.NewReader(bufio.NewReader(progressReader(f, p, stage)), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	return fn(zr)
}
