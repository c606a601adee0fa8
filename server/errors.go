package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search/online"
)

// apiError is the one error shape of the API:
// {"error": {"code": "...", "message": "..."}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func newError(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

func badRequest(code, msg string) *apiError { return newError(http.StatusBadRequest, code, msg) }

// errorHandler maps every error a handler or middleware returns to the API
// error shape, in one place.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := s.toAPIError(err)
	if ae.Status >= 500 {
		id := c.Response().Header().Get(echo.HeaderXRequestID)
		s.log.ErrorContext(c.Request().Context(), "request failed", "err", err, "request_id", id)
		if ae.Code == "internal" {
			ae = newError(ae.Status, ae.Code, "internal error; request id "+id)
		}
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(ae.Status)
		return
	}
	c.JSON(ae.Status, map[string]*apiError{"error": ae})
}

func (s *Server) toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			msg = m
		}
		code := map[int]string{
			http.StatusNotFound:              "not_found",
			http.StatusMethodNotAllowed:      "method_not_allowed",
			http.StatusRequestEntityTooLarge: "body_too_large",
			http.StatusTooManyRequests:       "rate_limited",
			http.StatusUnauthorized:          "unauthorized",
			http.StatusForbidden:             "forbidden",
			http.StatusServiceUnavailable:    "unavailable",
		}[he.Code]
		if code == "" {
			code = "bad_request"
			if he.Code >= 500 {
				code = "internal"
			}
		}
		return newError(he.Code, code, msg)
	}
	switch {
	case errors.Is(err, content.ErrInvalid):
		return badRequest("invalid_field", err.Error())
	case errors.Is(err, content.ErrNotFound):
		return newError(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, content.ErrExists):
		return newError(http.StatusConflict, "exists", err.Error())
	case errors.Is(err, content.ErrUnknownItem):
		return newError(http.StatusUnprocessableEntity, "unknown_item", err.Error())
	case errors.Is(err, content.ErrUnknownImpression):
		return newError(http.StatusUnprocessableEntity, "unknown_impression", err.Error())
	case errors.Is(err, content.ErrImpressionExpired):
		return newError(http.StatusUnprocessableEntity, "impression_expired", err.Error())
	case errors.Is(err, content.ErrNotShown):
		return newError(http.StatusUnprocessableEntity, "not_shown", err.Error())
	case errors.Is(err, online.ErrInvalid):
		return badRequest("invalid_experiment", err.Error())
	case errors.Is(err, online.ErrNotFound):
		return newError(http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, online.ErrConflict):
		return newError(http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusServiceUnavailable, "timeout", "the request took too long")
	case errors.Is(err, context.Canceled):
		return newError(499, "canceled", "the client went away")
	case errors.Is(err, content.ErrUnavailable):
		return newError(http.StatusServiceUnavailable, "store_unavailable", "the store cannot be reached; nothing was written, try again")
	case errors.Is(err, content.ErrClosed):
		return newError(http.StatusServiceUnavailable, "unavailable", "the server is shutting down")
	}
	return newError(http.StatusInternalServerError, "internal", "internal error")
}
