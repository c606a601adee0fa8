package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/duetrec/duet/content"
)

// The API's item view writes exactly what content.Item writes itself.
func TestItemView_SameJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 30, 1, 123456789, time.UTC)
	items := []content.Item{
		{ID: "bare"},
		{ID: "full", Title: "A <b>title</b> & more", Description: "Line one\nline \"two\"", Tags: []string{"x", "y"}, Categories: []string{"c"},
			Attributes: map[string]content.Value{
				"year": content.Number(1999), "price": content.Number(0.1), "tiny": content.Number(1e-7), "huge": content.Number(1e21),
				"neg": content.Number(-3.5), "lang": content.String("en"), "empty": content.String(""), "é": content.String("ü\u2028"),
			},
			CreatedAt: at, UpdatedAt: at.Add(time.Hour).In(time.FixedZone("x", 3600))},
	}
	for _, it := range items {
		want, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(newItemView(&it))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("item %s:\n got %s\nwant %s", it.ID, got, want)
		}
	}
}

// The answers' serializer writes the bytes encoding/json writes, and fails
// where it fails.
func TestJSONSerializer_SameAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 30, 1, 123456789, time.UTC)
	it := content.Item{ID: "i1", Title: "<script>alert(1)</script> & \"quotes\"", Description: "bad \xff byte, \u2028 separator, tab\t, nul \x00",
		Tags: []string{"é", ""}, Categories: []string{"c"},
		Attributes: map[string]content.Value{"year": content.Number(1999), "tiny": content.Number(1e-7), "huge": content.Number(1e21),
			"b": content.String("x"), "a": content.String("y")},
		CreatedAt: at}
	page := searchResponse{Hits: []hitView{{ID: "i1", Score: 0.25, Item: newItemView(&it)}, {ID: "i2", Score: -1e-300}},
		Mode: "hybrid", Fusion: "rrf", Source: "blend", TookMS: 1.5}
	for _, c := range []struct {
		name   string
		v      any
		indent string
	}{
		{"page", page, ""},
		{"page indented", page, "  "},
		{"error", map[string]any{"error": map[string]string{"code": "invalid_request", "message": "k must be 1 to 1000, got 0"}}, ""},
		{"empty hits", searchResponse{Hits: []hitView{}}, ""},
		{"nil", nil, ""},
		{"not a number", map[string]float64{"x": math.NaN()}, ""},
		{"infinite", []float64{math.Inf(1)}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", c.indent)
			wantErr := enc.Encode(c.v)

			rec := httptest.NewRecorder()
			ctx := echo.New().NewContext(httptest.NewRequest("GET", "/", nil), rec)
			gotErr := jsonSerializer{}.Serialize(ctx, c.v, c.indent)
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("error %v, want %v", gotErr, wantErr)
			}
			if wantErr == nil && rec.Body.String() != want.String() {
				t.Fatalf("wrote\n%s\nwant\n%s", rec.Body, want.String())
			}
		})
	}
}

// BenchmarkJSONSerializer writes a page of ten generated items with
// encoding/json and with the answers' serializer.
func BenchmarkJSONSerializer(b *testing.B) {
	var src bytes.Buffer
	if _, err := content.Generate(context.Background(), content.GenOptions{Items: 10, Users: 2, Seed: 1}, &src, io.Discard); err != nil {
		b.Fatal(err)
	}
	page := searchResponse{Mode: "hybrid", Fusion: "rrf", Source: "blend", TookMS: 1.5}
	for line := range bytes.Lines(src.Bytes()) {
		it, err := content.ParseItemLine(line)
		if err != nil {
			b.Fatal(err)
		}
		page.Hits = append(page.Hits, hitView{ID: it.ID, Score: 0.5, Item: newItemView(&it)})
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if err := json.NewEncoder(io.Discard).Encode(page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serializer", func(b *testing.B) {
		ctx := echo.New().NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
		for b.Loop() {
			ctx.Response().Writer = discardWriter{httptest.NewRecorder()}
			if err := (jsonSerializer{}).Serialize(ctx, page, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// discardWriter is a ResponseWriter whose body goes nowhere.
type discardWriter struct{ *httptest.ResponseRecorder }

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
