package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/content"
)

// readBody reads the request body, which BodyLimit has already bounded.
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, badRequest("bad_body", "cannot read the body: "+err.Error())
	}
	if len(b) == 0 {
		return nil, badRequest("bad_json", "the body is empty")
	}
	// encoding/json would quietly turn invalid bytes into U+FFFD and store them.
	if !utf8.Valid(b) {
		return nil, badRequest("bad_json", "the body is not valid UTF-8")
	}
	return b, nil
}

// decodeStrict decodes one JSON value, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("bad_json", "malformed JSON: "+err.Error())
	}
	if dec.More() {
		return badRequest("bad_json", "malformed JSON: more than one value")
	}
	return nil
}

// parseRowError turns a content parse error into the API's error.
func parseError(err error) error {
	if errors.Is(err, content.ErrInvalid) {
		return badRequest("invalid_field", err.Error())
	}
	return badRequest("bad_json", err.Error())
}

// pathID returns a path parameter checked as an id.
func pathID(c echo.Context, name string) (string, error) {
	id := c.Param(name)
	if id == "" || len(id) > content.MaxIDBytes || !utf8.ValidString(id) {
		return "", badRequest("invalid_id", fmt.Sprintf("%s must be 1 to %d bytes of UTF-8", name, content.MaxIDBytes))
	}
	return id, nil
}

func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("invalid_parameter", fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi))
	}
	return n, nil
}

type itemsPage struct {
	Items []content.Item `json:"items"`
	// Next is the cursor for the following page; empty on the last one.
	Next string `json:"next,omitempty"`
}

func (s *Server) listItems(c echo.Context) error {
	limit, err := intParam(c, "limit", 50, 1, s.cfg.MaxK)
	if err != nil {
		return err
	}
	after := c.QueryParam("after")
	items, err := s.store.Items(c.Request().Context(), after, limit+1)
	if err != nil {
		return err
	}
	page := itemsPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.Next = items[limit-1].ID
	}
	if page.Items == nil {
		page.Items = []content.Item{}
	}
	return c.JSON(http.StatusOK, page)
}

func (s *Server) getItem(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	it, err := s.store.Item(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, it)
}

type itemWritten struct {
	Item content.Item `json:"item"`
	Seq  uint64       `json:"seq"`
}

func (s *Server) createItem(c echo.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	it, err := content.ParseItemJSON(b, "")
	if err != nil {
		return parseError(err)
	}
	ctx := c.Request().Context()
	seq, err := s.store.CreateItem(ctx, it)
	if err != nil {
		return err
	}
	return s.itemDone(c, http.StatusCreated, it.ID, seq)
}

func (s *Server) putItem(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	it, err := content.ParseItemJSON(b, id)
	if err != nil {
		return parseError(err)
	}
	seq, err := s.store.PutItem(c.Request().Context(), it)
	if err != nil {
		return err
	}
	return s.itemDone(c, http.StatusOK, id, seq)
}

// itemDone hands a durable item to the live indexes and answers with it as
// stored (with its times). The write has happened: the rest runs to the end
// even if the client has gone or the request's time is up.
func (s *Server) itemDone(c echo.Context, status int, id string, seq uint64) error {
	ctx := context.WithoutCancel(c.Request().Context())
	s.live(ctx, seq, id)
	it, err := s.store.Item(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(status, itemWritten{Item: it, Seq: seq})
}

type batchBody struct {
	Items []json.RawMessage `json:"items"`
}

func (s *Server) batchItems(c echo.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var body batchBody
	if err := decodeStrict(b, &body); err != nil {
		return err
	}
	if len(body.Items) == 0 {
		return badRequest("invalid_field", "items: is empty")
	}
	if len(body.Items) > s.cfg.MaxBatch {
		return badRequest("batch_too_large", fmt.Sprintf("items: %d entries, at most %d", len(body.Items), s.cfg.MaxBatch))
	}
	items := make([]content.Item, len(body.Items))
	for i, raw := range body.Items {
		it, err := content.ParseItemJSON(raw, "")
		if err != nil {
			return parseError(fmt.Errorf("items[%d]: %w", i, err))
		}
		items[i] = it
	}
	ctx := c.Request().Context()
	seq, err := s.store.PutItems(ctx, items)
	if err != nil {
		return err
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	s.live(context.WithoutCancel(ctx), seq, ids...)
	return c.JSON(http.StatusOK, map[string]any{"count": len(items), "seq": seq})
}

func (s *Server) deleteItem(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	seq, err := s.store.DeleteItem(ctx, id)
	if err != nil {
		return err
	}
	s.live(context.WithoutCancel(ctx), seq, id)
	return c.JSON(http.StatusOK, map[string]any{"deleted": id, "seq": seq})
}
