package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/search"
)

// TestLoad_PartsDisagree: a catalogue from another build, sound on its own
// and sealed into the manifest, is refused when one of its items has no
// vector, whichever index holds the vectors.
func TestLoad_PartsDisagree(t *testing.T) {
	ctx := context.Background()
	for _, ann := range []index.Kind{index.KindHNSW, index.KindExact} {
		t.Run(string(ann), func(t *testing.T) {
			dir := tinySnapshot(t, ann)
			chunks, err := readItemsBin(ctx, filepath.Join(dir, fileItemsBin))
			if err != nil {
				t.Fatal(err)
			}
			items := chunks[0]
			items[len(items)/2].ID = "stranger"
			if err := durable.WriteFile(filepath.Join(dir, fileItemsBin), func(w io.Writer) error { return writeItemsBin(w, items) }); err != nil {
				t.Fatal(err)
			}
			if err := reseal(dir); err != nil {
				t.Fatal(err)
			}
			_, err = Load(ctx, dir, filepath.Join(t.TempDir(), "work"), search.StaticHistory{}, search.Options{})
			if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), `"stranger" has no vector`) {
				t.Fatalf("err %v, want the item without a vector named", err)
			}
		})
	}
}

// TestBuild_EveryItemItsVector: the items are embedded and indexed on
// every core, or taken from BuildOptions.Vectors; each must still end up
// with its own vector.
func TestBuild_EveryItemItsVector(t *testing.T) {
	ctx := context.Background()
	model, items := tinyModel(t)
	// Items the model was not trained on are embedded by their content:
	// enough of them that several workers take chunks of 256
	// (tower.Model.ItemVectors).
	for i := range 3 * 256 {
		id := fmt.Sprintf("new-%d", i)
		items = append(items, content.Item{ID: id, Title: "title " + id, Tags: []string{fmt.Sprint("t", i%7)}, Categories: []string{fmt.Sprint("c", i%3)}})
	}
	d := model.Dim()
	// Given vectors that are not the model's (each item gets the next
	// one's) show that the build uses them rather than embedding.
	given := make([]float32, 0, len(items)*d)
	for i := range items {
		given = append(given, model.ItemVector(items[(i+1)%len(items)], nil)...)
	}
	for _, ann := range []index.Kind{index.KindHNSW, index.KindExact} {
		for _, tc := range []struct {
			name string
			vecs []float32
			want func(i int) []float32
		}{
			{"embedded", nil, func(i int) []float32 { return model.ItemVector(items[i], nil) }},
			{"given", given, func(i int) []float32 { return given[i*d : (i+1)*d] }},
		} {
			t.Run(string(ann)+"/"+tc.name, func(t *testing.T) {
				dir, err := NewRoot(t.TempDir()).Build(ctx, 1, model, items, nil, BuildOptions{ANN: ann, Vectors: tc.vecs})
				if err != nil {
					t.Fatal(err)
				}
				snap, err := Load(ctx, dir, filepath.Join(t.TempDir(), "work"), search.StaticHistory{}, search.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer snap.Close()
				if snap.vectors.Len() != len(items) {
					t.Fatalf("%d vectors for %d items", snap.vectors.Len(), len(items))
				}
				for i, it := range items {
					want := tc.want(i)
					got, ok := snap.vectors.(search.VectorIndex).Vector(it.ID)
					if !ok || len(got) != len(want) {
						t.Fatalf("%s: no vector (%v) or %d components", it.ID, ok, len(got))
					}
					for c := range want {
						if d := got[c] - want[c]; d > 1e-5 || d < -1e-5 {
							t.Fatalf("%s: component %d is %v, want %v", it.ID, c, got[c], want[c])
						}
					}
				}
			})
		}
	}
	t.Run("wrong length", func(t *testing.T) {
		root := NewRoot(t.TempDir())
		if _, err := root.Build(ctx, 1, model, items, nil, BuildOptions{Vectors: given[:len(given)-1]}); err == nil {
			t.Fatal("a build with one float short succeeded")
		}
		if dirs, _ := root.List(); len(dirs) != 0 {
			t.Fatalf("a refused build left %v", dirs)
		}
	})
}

func TestCheckSources(t *testing.T) {
	tests := []struct {
		name string
		m    Manifest
		ok   bool
	}{
		{"none", Manifest{}, true},
		{"chosen", Manifest{Sources: map[string]float64{search.SourceCF: 1, search.SourceTower: 0.5}, SourceFusion: "relative"}, true},
		{"unknown fusion", Manifest{SourceFusion: "weighted"}, false},
		{"unknown source", Manifest{Sources: map[string]float64{"psychic": 1}}, false},
		{"negative weight", Manifest{Sources: map[string]float64{search.SourceCF: -1}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSources(tc.m)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadSnapshot)) {
				t.Fatalf("checkSources: %v", err)
			}
		})
	}
}
