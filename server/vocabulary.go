package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

// vocabulary is the editors' vocabulary as searches read it. The store
// holds it; the server reads it at start and again after each write of
// it, so a change applies to the next search, whatever snapshot serves.
type vocabulary struct {
	mu  sync.Mutex // one refresh at a time, so an older read never lands last
	cur atomic.Pointer[text.Vocabulary]
	// err is why the store's vocabulary could not be read as queries
	// read it, "" when it could; the last good one stays in service.
	err atomic.Pointer[string]
	// failed is the sequence number of the store's vocabulary that failed
	// the checks (guarded by mu): not read again until it changes.
	failed uint64
}

// forSearch returns the vocabulary searches read their words with, nil
// when it holds nothing.
func (v *vocabulary) forSearch() *text.Vocabulary {
	cur := v.cur.Load()
	if sets, stop := cur.Sizes(); sets == 0 && stop == 0 {
		return nil
	}
	return cur
}

// refreshVocabulary reads the store's vocabulary into service, unless the
// one in service is as new.
func (s *Server) refreshVocabulary(ctx context.Context) error {
	v := &s.vocab
	v.mu.Lock()
	defer v.mu.Unlock()
	// The number first: a follower asks several times a second.
	seq, err := s.store.VocabularySeq(ctx)
	if err != nil {
		return err
	}
	if cur := v.cur.Load(); cur != nil && cur.Seq() == seq || seq != 0 && seq == v.failed {
		return nil
	}
	stored, err := s.store.Vocabulary(ctx)
	if err != nil {
		return err
	}
	read, err := text.NewVocabulary(stored)
	if err != nil {
		msg := err.Error()
		v.err.Store(&msg)
		v.failed = stored.Seq
		return err
	}
	v.cur.Store(read)
	v.err.Store(nil)
	return nil
}

// maxVocabularyTries bounds how often a synonym write is checked again
// when another editor's write lands between its read and its write.
const maxVocabularyTries = 5

// synonymsList is the answer of GET /v1/synonyms.
type synonymsList struct {
	Synonyms []content.Synonyms `json:"synonyms"`
	Seq      uint64             `json:"seq"`
}

// synonymsWritten is the answer of a synonym set's write.
type synonymsWritten struct {
	Synonyms *content.Synonyms `json:"synonyms,omitempty"`
	Deleted  string            `json:"deleted,omitempty"`
	Seq      uint64            `json:"seq"`
}

// stopWords is the body and answer of the stop words' routes.
type stopWords struct {
	StopWords []string `json:"stop_words"`
	Seq       uint64   `json:"seq,omitempty"`
}

func (s *Server) listSynonyms(c echo.Context) error {
	v, err := s.store.Vocabulary(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, synonymsList{Synonyms: v.Synonyms, Seq: v.Seq})
}

func (s *Server) getSynonyms(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	v, err := s.store.Vocabulary(c.Request().Context())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(v.Synonyms, func(set content.Synonyms) bool { return set.ID == id })
	if i < 0 {
		return newError(http.StatusNotFound, "not_found", "no synonym set "+clipString(id))
	}
	return c.JSON(http.StatusOK, v.Synonyms[i])
}

// putSynonyms checks the vocabulary the set makes (text.NewVocabulary)
// and writes the set only if the vocabulary checked is still the
// store's: bad input changes nothing, and two editors' writes cannot
// together make what neither would be let make alone.
func (s *Server) putSynonyms(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var set content.Synonyms
	if err := decodeStrict(b, &set); err != nil {
		return err
	}
	if set.ID != "" && set.ID != id {
		return badRequest("invalid_field", "id: the body names "+clipString(set.ID)+", the path "+clipString(id))
	}
	set.ID = id
	if err := set.Validate(); err != nil {
		return badRequest("invalid_field", err.Error())
	}
	ctx := c.Request().Context()
	for range maxVocabularyTries {
		v, err := s.store.Vocabulary(ctx)
		if err != nil {
			return err
		}
		next := v
		next.Synonyms = slices.DeleteFunc(slices.Clone(v.Synonyms), func(o content.Synonyms) bool { return o.ID == id })
		next.Synonyms = append(next.Synonyms, set)
		if _, err := text.NewVocabulary(next); err != nil {
			return badRequest("invalid_vocabulary", err.Error())
		}
		seq, err := s.store.PutSynonyms(ctx, set, v.Seq)
		if errors.Is(err, content.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		s.vocabularyChanged(ctx)
		return c.JSON(http.StatusOK, synonymsWritten{Synonyms: &set, Seq: seq})
	}
	return newError(http.StatusConflict, "conflict", "the vocabulary kept changing while this set was checked; send it again")
}

func (s *Server) deleteSynonyms(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	seq, err := s.store.DeleteSynonyms(ctx, id)
	if err != nil {
		return err
	}
	s.vocabularyChanged(ctx)
	return c.JSON(http.StatusOK, synonymsWritten{Deleted: id, Seq: seq})
}

func (s *Server) getStopWords(c echo.Context) error {
	v, err := s.store.Vocabulary(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, stopWords{StopWords: v.StopWords, Seq: v.Seq})
}

func (s *Server) putStopWords(c echo.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var body stopWords
	if err := decodeStrict(b, &body); err != nil {
		return err
	}
	if body.StopWords == nil {
		return badRequest("invalid_field", "stop_words: missing; send [] to have none")
	}
	ctx := c.Request().Context()
	words, seq, err := s.store.PutStopWords(ctx, body.StopWords)
	if err != nil {
		return err
	}
	s.vocabularyChanged(ctx)
	return c.JSON(http.StatusOK, stopWords{StopWords: words, Seq: seq})
}

// vocabularyChanged puts a durable vocabulary write into service. The
// write is acknowledged whatever happens here: a failure is logged, and
// the next write or restart reads it again.
func (s *Server) vocabularyChanged(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if err := s.refreshVocabulary(ctx); err != nil {
		s.log.ErrorContext(ctx, "the vocabulary written is not in service", "err", err)
	}
}
