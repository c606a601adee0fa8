package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// auth requires "Authorization: Bearer <token>" with one of the tokens;
// the first is the route's own. When it is empty, open routes let everyone
// in and closed ones let no one in.
func (s *Server) auth(tokens func() []string, openWhenUnset bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			wants := tokens()
			if wants[0] == "" {
				if openWhenUnset {
					return next(c)
				}
				return newError(http.StatusUnauthorized, "unauthorized", "this route is disabled: no token is configured for it")
			}
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			got, ok := strings.CutPrefix(h, "Bearer ")
			match := false
			for _, want := range wants {
				// Every configured token is compared, so timing tells nothing.
				if want != "" && tokenEqual(got, want) {
					match = true
				}
			}
			if !ok || !match {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="duet"`)
				return newError(http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
			}
			return next(c)
		}
	}
}

// tokenEqual compares in constant time; hashing first hides the length.
func tokenEqual(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
