package index_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/duetrec/duet/index"
)

// smallNeighbours: a → b (0.9), c (0.2); b → c (0.5); c → nothing; d → a (1).
func smallNeighbours(t *testing.T) *index.Neighbours {
	t.Helper()
	n, err := index.NewNeighbours([]string{"a", "b", "c", "d"}, []int64{0, 2, 3, 3, 4}, []int32{1, 2, 2, 0}, []float32{0.9, 0.2, 0.5, 1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ids(rs []index.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestNeighbours_Recommend(t *testing.T) {
	ctx := context.Background()
	n := smallNeighbours(t)
	tests := []struct {
		name    string
		history []string
		k       int
		filter  index.Filter
		want    []string
		top     float32
	}{
		{"one item", []string{"a"}, 5, nil, []string{"b", "c"}, 0.9},
		{"weights add up", []string{"a", "b"}, 5, nil, []string{"b", "c"}, 0.9},
		{"c gains from two", []string{"a", "b", "d"}, 1, nil, []string{"a"}, 1},
		{"filter", []string{"a"}, 5, index.NewAllowSet("c"), []string{"c"}, 0.2},
		{"unknown history", []string{"new", "zz"}, 5, nil, nil, 0},
		{"k zero", []string{"a"}, 0, nil, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := n.Recommend(ctx, tc.history, tc.k, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Fatalf("got %v, want %v", ids(got), tc.want)
			}
			if len(got) > 0 && got[0].Score != tc.top {
				t.Fatalf("top score %v, want %v", got[0].Score, tc.top)
			}
		})
	}
	// c's score from a and b together.
	got, _ := n.Recommend(ctx, []string{"a", "b"}, 5, index.NewAllowSet("c"))
	if len(got) != 1 || got[0].Score != 0.7 {
		t.Fatalf("c from a and b: %+v", got)
	}
}

func TestNeighbours_RecommendWeighted(t *testing.T) {
	ctx := context.Background()
	n := smallNeighbours(t)
	// b's list (c 0.5) at 2 outweighs a's (b 0.9, c 0.2) at 0.5: c 1.1, b 0.45.
	got, err := n.RecommendWeighted(ctx, []string{"a", "b"}, []float32{0.5, 2}, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), []string{"c", "b"}) || got[0].Score != 1.1 || got[1].Score != 0.45 {
		t.Fatalf("got %+v", got)
	}
	if _, err := n.RecommendWeighted(ctx, []string{"a", "b"}, []float32{1}, 5, nil); err == nil {
		t.Fatal("one weight for two history items accepted")
	}
}

func TestNeighbours_SaveLoad(t *testing.T) {
	ctx := context.Background()
	n := smallNeighbours(t)
	var buf bytes.Buffer
	if err := n.Save(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	m, err := index.LoadNeighbours(ctx, bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 4 || m.Entries() != 4 {
		t.Fatalf("loaded %d items, %d entries", m.Len(), m.Entries())
	}
	for _, h := range [][]string{{"a"}, {"a", "b", "d"}} {
		want, _ := n.Recommend(ctx, h, 3, nil)
		got, _ := m.Recommend(ctx, h, 3, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("history %v: loaded %v, saved %v", h, got, want)
		}
	}
	refusesDamaged(t, buf.Bytes(), func(r io.Reader) error {
		_, err := index.LoadNeighbours(ctx, r)
		return err
	})
	// From a file, the lists are mapped: the same answers, and the same
	// refusals.
	path := filepath.Join(t.TempDir(), "neighbours.idx")
	load := func(b []byte) (*index.Neighbours, error) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return index.LoadNeighbours(ctx, f)
	}
	mapped, err := load(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]string{{"a"}, {"a", "b", "d"}} {
		want, _ := n.Recommend(ctx, h, 3, nil)
		got, _ := mapped.Recommend(ctx, h, 3, nil)
		if !slices.Equal(got, want) {
			t.Fatalf("history %v: mapped %v, saved %v", h, got, want)
		}
	}
	if err := mapped.Close(); err != nil {
		t.Fatal(err)
	}
	refusesDamaged(t, buf.Bytes(), func(r io.Reader) error {
		b, _ := io.ReadAll(r)
		_, err := load(b)
		return err
	})
}

// refusesDamaged checks that load refuses damaged copies of the file b
// with ErrCorrupt: cut short, a byte flipped, another format, empty.
func refusesDamaged(t *testing.T, b []byte, load func(io.Reader) error) {
	t.Helper()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", b[:len(b)/2]},
		{"flipped byte", func() []byte { c := slices.Clone(b); c[len(c)/2] ^= 1; return c }()},
		{"other file", []byte("DUETHNSW and then something else entirely")},
		{"empty", nil},
	} {
		if err := load(bytes.NewReader(tc.data)); !errors.Is(err, index.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
}

func TestNewNeighbours_Refuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ids     []string
		offsets []int64
		items   []int32
		weights []float32
	}{
		{"offsets short", []string{"a", "b"}, []int64{0, 1}, []int32{1}, []float32{1}},
		{"item out of range", []string{"a"}, []int64{0, 1}, []int32{3}, []float32{1}},
		{"weights short", []string{"a", "b"}, []int64{0, 1, 1}, []int32{1}, nil},
		{"duplicate id", []string{"a", "a"}, []int64{0, 0, 0}, nil, nil},
		{"offsets go back", []string{"a", "b"}, []int64{0, 1, 0}, []int32{1}, []float32{1}},
	} {
		if _, err := index.NewNeighbours(tc.ids, tc.offsets, tc.items, tc.weights); !errors.Is(err, index.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", tc.name, err)
		}
	}
}

func TestNeighbours_ShareItems(t *testing.T) {
	ctx := context.Background()
	a := smallNeighbours(t)
	tests := []struct {
		name  string
		ids   []string
		share bool
	}{
		{"the same items", []string{"a", "b", "c", "d"}, true},
		{"another order", []string{"b", "a", "c", "d"}, false},
		{"fewer items", []string{"a", "b", "c"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each item's list: the next item, weight 1; the last none.
			offsets := make([]int64, len(tt.ids)+1)
			var items []int32
			var weights []float32
			for i := range tt.ids {
				if i+1 < len(tt.ids) {
					items, weights = append(items, int32(i+1)), append(weights, 1)
				}
				offsets[i+1] = int64(len(items))
			}
			b, err := index.NewNeighbours(slices.Clone(tt.ids), offsets, items, weights)
			if err != nil {
				t.Fatal(err)
			}
			want, err := b.Recommend(ctx, []string{"a"}, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.ShareItems(a); got != tt.share {
				t.Fatalf("ShareItems = %v, want %v", got, tt.share)
			}
			got, err := b.Recommend(ctx, []string{"a"}, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), ids(want)) || len(want) == 0 && tt.share {
				t.Fatalf("after sharing %v, before %v", ids(got), ids(want))
			}
			if b.Len() != len(tt.ids) {
				t.Fatalf("Len %d, want %d", b.Len(), len(tt.ids))
			}
		})
	}
}
