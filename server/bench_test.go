package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/server"
)

// BenchmarkSearch compares a hybrid search through the HTTP handler (auth,
// limiter, logging, metrics, JSON) with the same search made on the engine
// directly: the difference is what the server adds to each request.
func BenchmarkSearch(b *testing.B) {
	f := newEngineFixture(b, func(c *server.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
		c.SearchRate = 1e9
	})
	word := strings.Fields(f.items[1].Title)[0]
	user := f.users[0]
	b.Run("engine", func(b *testing.B) {
		be, err := f.loadBackend()
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		for b.Loop() {
			if _, err := be.Search(context.Background(), search.Request{Query: word, UserID: user}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		target := "/v1/search?q=" + url.QueryEscape(word) + "&user=" + user
		h := f.srv.Handler()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
}
