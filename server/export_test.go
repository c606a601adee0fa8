package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// Routes lists the server's routes for tests.
func Routes(s *Server) []*echo.Route { return s.echo.Routes() }

// ClientIP is the address the server takes as the client's.
func ClientIP(s *Server, r *http.Request) string { return s.echo.IPExtractor(r) }

// RateClients is how many clients the search rate limiter tracks.
func RateClients(s *Server) int {
	if s.limits == nil {
		return 0
	}
	return s.limits.len()
}
