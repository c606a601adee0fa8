package server_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/duetrec/duet/server"
)

// Whatever the query string or body, a search answers 200 or a 4xx with
// an API error, never a 5xx.
func FuzzSearchRequest(f *testing.F) {
	for _, s := range []string{
		"q=space&k=5", "q=a&mode=vector&fusion=relative&alpha=0.3", "attr=year:1990..2000&attr=lang:en",
		"k=-1", "k=99999999999999999999", "alpha=NaN", "q=%ff", "mmr=2", "attr=:", "attr=a:..", "category=",
		`{"q":"x","filters":{"attributes":[{"key":"y","min":1,"max":0}]}}`, `{"k":1e400}`, `{"diversity":{"mmr_lambda":-0}}`,
	} {
		f.Add(s)
	}
	fx := newFixture(f, func(c *server.Config) { c.SearchRate = -1 })
	f.Fuzz(func(t *testing.T, s string) {
		req := httptest.NewRequest("GET", "/v1/search", nil)
		req.URL.RawQuery = s // as sent, even what a client library would refuse
		rec := httptest.NewRecorder()
		fx.srv.Handler().ServeHTTP(rec, req)
		check(t, rec.Code, rec.Body.String())
		req = httptest.NewRequest("POST", "/v1/search", strings.NewReader(s))
		rec = httptest.NewRecorder()
		fx.srv.Handler().ServeHTTP(rec, req)
		check(t, rec.Code, rec.Body.String())
	})
}

func check(t *testing.T, code int, body string) {
	t.Helper()
	if code >= 500 || (code != 200 && !strings.Contains(body, `"error":{"code":`)) {
		t.Fatalf("status %d, body %s", code, body)
	}
}
