package search_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/duetrec/duet/search"
)

// A vector given with the request stands for the query text on the vector
// side; the text still drives the keyword side.
func TestEngine_VectorQuery(t *testing.T) {
	e, _ := newEngine(t)
	ctx := context.Background()
	target := world[len(world)-1]
	res, err := e.Search(ctx, search.Request{Vector: target.v, Mode: search.ModeVector, K: 1})
	if err != nil || len(res.Hits) != 1 || res.Hits[0].ID != target.item.ID || res.Source != "query" {
		t.Fatalf("vector search for %s: %+v %v", target.item.ID, res, err)
	}
	// Unnormalised, it means the same direction.
	scaled := make([]float32, len(target.v))
	for i, x := range target.v {
		scaled[i] = 7 * x
	}
	if res, err := e.Search(ctx, search.Request{Vector: scaled, Mode: search.ModeVector, K: 1}); err != nil || res.Hits[0].ID != target.item.ID {
		t.Fatalf("scaled vector: %+v %v", res, err)
	}
	bad := []struct {
		name string
		req  search.Request
	}{
		{"wrong dimension", search.Request{Vector: []float32{1, 0}}},
		{"too long", search.Request{Vector: make([]float32, search.MaxVectorDim+1)}},
		{"all zeros", search.Request{Vector: []float32{0, 0, 0}}},
		{"not finite", search.Request{Vector: []float32{1, float32(math.Inf(1)), 0}}},
		{"empty", search.Request{Vector: []float32{}}},
		{"with keyword mode", search.Request{Vector: []float32{1, 0, 0}, Query: "x", Mode: search.ModeKeyword}},
	}
	for _, c := range bad {
		if _, err := e.Search(ctx, c.req); !errors.Is(err, search.ErrInvalidRequest) {
			t.Errorf("%s: err %v, want ErrInvalidRequest", c.name, err)
		}
	}
}
