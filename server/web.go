package server

import (
	"embed"
	"mime"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"
)

// The web pages: a search playground, an editor and a dashboard, plain HTML, CSS and
// JavaScript embedded in the binary, so there is no build step and no CDN.
//
//go:embed web
var webFS embed.FS

func (s *Server) page(name string) echo.HandlerFunc {
	return func(c echo.Context) error {
		b, err := webFS.ReadFile("web/" + name)
		if err != nil {
			return err
		}
		c.Response().Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'")
		return c.HTMLBlob(http.StatusOK, b)
	}
}

func (s *Server) asset(c echo.Context) error {
	name := path.Base(c.Param("file"))
	if name == "index.html" || name == "editor.html" || name == "dashboard.html" {
		return echo.ErrNotFound
	}
	b, err := webFS.ReadFile("web/" + name)
	if err != nil {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, mime.TypeByExtension(path.Ext(name)), b)
}
