package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/content"
)

// postEvents takes one event object or {"events": [...]}. Events without a
// timestamp are stamped with the time they arrive: live events happen now.
func (s *Server) postEvents(c echo.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return badRequest("bad_json", "malformed JSON: "+err.Error())
	}
	raws := []json.RawMessage{b}
	if batch, ok := probe["events"]; ok {
		if len(probe) != 1 {
			return badRequest("bad_json", `a batch is {"events": [...]} and nothing else`)
		}
		raws = nil
		if err := json.Unmarshal(batch, &raws); err != nil {
			return badRequest("bad_json", "events: "+err.Error())
		}
		if len(raws) == 0 {
			return badRequest("invalid_field", "events: is empty")
		}
		if len(raws) > s.cfg.MaxBatch {
			return badRequest("batch_too_large", fmt.Sprintf("events: %d entries, at most %d", len(raws), s.cfg.MaxBatch))
		}
	}
	now := time.Now().UTC()
	evs := make([]content.Event, len(raws))
	for i, raw := range raws {
		ev, err := content.ParseEventJSON(raw)
		if err != nil {
			if len(raws) > 1 {
				err = fmt.Errorf("events[%d]: %w", i, err)
			}
			return parseError(err)
		}
		if ev.Time.IsZero() {
			ev.Time = now
		}
		evs[i] = ev
	}
	seq, err := s.store.AppendEvents(c.Request().Context(), evs)
	if errors.Is(err, content.ErrUnknownImpression) && s.fb.rec != nil {
		// The impression may still wait in this server's queue: a click
		// can follow its answer within milliseconds.
		if ferr := s.fb.rec.Flush(c.Request().Context()); ferr == nil {
			seq, err = s.store.AppendEvents(c.Request().Context(), evs)
		}
	}
	if err != nil {
		return err
	}
	// The user vector reads the live history, so the next recommendation
	// already sees these; the backend only counts them towards popularity.
	if be, release, err := s.acquire(); err == nil {
		be.EventsAdded(evs)
		release()
	}
	return c.JSON(http.StatusOK, map[string]any{"accepted": len(evs), "seq": seq})
}

func (s *Server) userHistory(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 100, 1, s.cfg.MaxK)
	if err != nil {
		return err
	}
	evs, err := s.store.UserEvents(c.Request().Context(), id, limit)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []content.Event{}
	}
	return c.JSON(http.StatusOK, map[string]any{"user_id": id, "events": evs})
}
