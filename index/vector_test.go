package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/duetrec/duet/internal/vec"
)

// dataset is n unit vectors of dimension dim, row-major, with ids "v0"….
type dataset struct {
	dim  int
	ids  []string
	vecs []float32
}

func (d dataset) row(i int) []float32 { return d.vecs[i*d.dim : (i+1)*d.dim] }
func (d dataset) len() int            { return len(d.ids) }

func randomUnit(rng *rand.Rand, dim int, dst []float32) []float32 {
	for {
		start := len(dst)
		for range dim {
			dst = append(dst, float32(rng.NormFloat64()))
		}
		if vec.Normalize(dst[start:]) > 0 {
			return dst
		}
		dst = dst[:start]
	}
}

// randomData is n vectors uniform on the sphere: no structure to exploit,
// the hard case for a graph index.
func randomData(n, dim int, seed uint64) dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := dataset{dim: dim}
	for i := range n {
		d.ids = append(d.ids, fmt.Sprintf("v%d", i))
		d.vecs = randomUnit(rng, dim, d.vecs)
	}
	return d
}

// clusteredData is n vectors around c random centres with Gaussian spread,
// normalised: closer to what item embeddings look like. Queries for it come
// from clusteredQueries with the same c and seed, which draws around the
// same centres.
func clusteredData(n, dim, c int, seed uint64) dataset {
	return clustered(n, dim, c, seed, 0)
}

func clusteredQueries(n, dim, c int, seed uint64) dataset {
	return clustered(n, dim, c, seed, 1)
}

// clusterSpread is the expected distance of a point from its centre before
// normalisation (the centres are unit vectors): at 1.5 a point is farther
// from its centre than the centre is from the origin, so clusters overlap
// enough that the graph has to work.
var clusterSpread = 1.5

func clustered(n, dim, c int, seed, stream uint64) dataset {
	rng := rand.New(rand.NewPCG(seed, 2))
	centres := make([]float32, 0, c*dim)
	for range c {
		centres = randomUnit(rng, dim, centres)
	}
	rng = rand.New(rand.NewPCG(seed, 3+stream))
	d := dataset{dim: dim}
	sigma := clusterSpread / math.Sqrt(float64(dim))
	for i := range n {
		d.ids = append(d.ids, fmt.Sprintf("v%d", i))
		ci := rng.IntN(c)
		start := len(d.vecs)
		for j := range dim {
			d.vecs = append(d.vecs, centres[ci*dim+j]+float32(rng.NormFloat64()*sigma))
		}
		vec.Normalize(d.vecs[start:])
	}
	return d
}

func build(t testing.TB, idx Vector, d dataset) {
	t.Helper()
	if err := addParallel(context.Background(), idx, d.ids, d.vecs, d.dim, 2); err != nil {
		t.Fatal(err)
	}
}

// recallAt returns the mean share of truth's top k that got found, over
// queries.
func recallAt(t testing.TB, got, truth Vector, q dataset, k int, filter Filter) float64 {
	t.Helper()
	ctx := context.Background()
	var sum float64
	for i := range q.len() {
		want, err := truth.Search(ctx, q.row(i), k, filter)
		if err != nil {
			t.Fatal(err)
		}
		res, err := got.Search(ctx, q.row(i), k, filter)
		if err != nil {
			t.Fatal(err)
		}
		checkSorted(t, res)
		if len(want) == 0 {
			sum++
			continue
		}
		in := make(map[string]bool, len(want))
		for _, r := range want {
			in[r.ID] = true
		}
		hit := 0
		for _, r := range res {
			if in[r.ID] {
				hit++
			}
			if filter != nil && !filter.Allow(r.ID) {
				t.Fatalf("result %q not allowed by the filter", r.ID)
			}
		}
		sum += float64(hit) / float64(len(want))
	}
	return sum / float64(q.len())
}

func checkSorted(t testing.TB, res []Result) {
	t.Helper()
	seen := make(map[string]bool, len(res))
	for i, r := range res {
		if i > 0 && r.Score > res[i-1].Score {
			t.Fatalf("results not sorted at %d: %v", i, res)
		}
		if seen[r.ID] {
			t.Fatalf("duplicate result %q", r.ID)
		}
		seen[r.ID] = true
	}
}

// implementations returns a fresh index of each kind.
func implementations(t testing.TB, dim int) map[string]Vector {
	t.Helper()
	e, err := NewExact(dim)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHNSW(dim, HNSWOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCoderHNSW(dim, CoderOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Vector{"exact": e, "hnsw": h, "coder": c}
}

func TestVector_InvalidInput(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := []struct {
		name string
		v    []float32
		want error
	}{
		{"short", []float32{1, 2, 3}, ErrDimension},
		{"long", []float32{1, 2, 3, 4, 5}, ErrDimension},
		{"empty", nil, ErrDimension},
		{"zero", []float32{0, 0, 0, 0}, ErrZeroVector},
		{"nan", []float32{1, nan, 0, 0}, ErrInvalidVector},
		{"inf", []float32{1, 0, inf, 0}, ErrInvalidVector},
		{"-inf", []float32{-inf, 0, 0, 0}, ErrInvalidVector},
	}
	ctx := context.Background()
	for name, idx := range implementations(t, 4) {
		if err := idx.Add("ok", []float32{1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				if err := idx.Add("x", c.v); !errors.Is(err, c.want) {
					t.Errorf("Add: %v, want %v", err, c.want)
				}
				if err := idx.Upsert("ok", c.v); !errors.Is(err, c.want) {
					t.Errorf("Upsert: %v, want %v", err, c.want)
				}
				if _, err := idx.Search(ctx, c.v, 3, nil); !errors.Is(err, c.want) {
					t.Errorf("Search: %v, want %v", err, c.want)
				}
			})
		}
		// A tiny vector still has a direction: normalising in float64 finds it.
		if err := idx.Add("tiny", []float32{1e-45, 0, 0, 0}); err != nil {
			t.Errorf("%s: tiny vector: %v", name, err)
		}
		if idx.Len() != 2 {
			t.Errorf("%s: Len %d after refused adds, want 2", name, idx.Len())
		}
	}
	for _, dim := range []int{0, -1, maxDim + 1} {
		if _, err := NewExact(dim); !errors.Is(err, ErrDimension) {
			t.Errorf("NewExact(%d): %v", dim, err)
		}
		if _, err := NewHNSW(dim, HNSWOptions{}); !errors.Is(err, ErrDimension) {
			t.Errorf("NewHNSW(%d): %v", dim, err)
		}
		if _, err := NewCoderHNSW(dim, CoderOptions{}); !errors.Is(err, ErrDimension) {
			t.Errorf("NewCoderHNSW(%d): %v", dim, err)
		}
	}
}

// TestVector_Contract runs the same edit sequence on every implementation
// and checks each answer against what the contract promises.
func TestVector_Contract(t *testing.T) {
	ctx := context.Background()
	d := clusteredData(300, 8, 5, 7)
	for name, idx := range implementations(t, 8) {
		t.Run(name, func(t *testing.T) {
			if res, err := idx.Search(ctx, d.row(0), 5, nil); err != nil || len(res) != 0 {
				t.Fatalf("empty index: %v %v", res, err)
			}
			for i := range d.len() {
				if err := idx.Add(d.ids[i], d.row(i)); err != nil {
					t.Fatal(err)
				}
			}
			if idx.Len() != 300 || idx.Dim() != 8 {
				t.Fatalf("Len %d Dim %d", idx.Len(), idx.Dim())
			}
			if err := idx.Add("v3", d.row(3)); !errors.Is(err, ErrExists) {
				t.Fatalf("duplicate Add: %v", err)
			}
			// coder/hnsw v0.6.1 misses near neighbours (see coder.go), so
			// for it only the shape of the answers is checked.
			approx := name == "coder"
			// A vector is its own nearest neighbour, with score 1.
			res, err := idx.Search(ctx, d.row(10), 3, nil)
			if err != nil || len(res) != 3 || !approx && (res[0].ID != "v10" || math.Abs(float64(res[0].Score)-1) > 1e-5) {
				t.Fatalf("self search: %v %v", res, err)
			}
			if err := idx.Delete("v10"); err != nil {
				t.Fatal(err)
			}
			if err := idx.Delete("v10"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second Delete: %v", err)
			}
			res, _ = idx.Search(ctx, d.row(10), 300, nil)
			if len(res) == 0 || slices.ContainsFunc(res, func(r Result) bool { return r.ID == "v10" }) {
				t.Fatalf("deleted item returned or nothing found: %d results", len(res))
			}
			// Upsert moves v11 onto v20's vector; re-adding a deleted id works.
			if err := idx.Upsert("v11", d.row(20)); err != nil {
				t.Fatal(err)
			}
			if err := idx.Add("v10", d.row(10)); err != nil {
				t.Fatalf("re-add after delete: %v", err)
			}
			if idx.Len() != 300 {
				t.Fatalf("Len %d after edits", idx.Len())
			}
			res, _ = idx.Search(ctx, d.row(20), 2, nil)
			if !approx && (len(res) != 2 || !slices.ContainsFunc(res, func(r Result) bool { return r.ID == "v11" })) {
				t.Fatalf("upserted vector not found: %v", res)
			}
			// Scores are cosines: a scaled query scores the same.
			scaled := slices.Clone(d.row(5))
			vec.Scale(7, scaled)
			res, _ = idx.Search(ctx, scaled, 1, nil)
			if len(res) != 1 || !approx && (res[0].ID != "v5" || math.Abs(float64(res[0].Score)-1) > 1e-5) {
				t.Fatalf("scaled query: %v", res)
			}
			res, _ = idx.Search(ctx, d.row(5), 10, NewAllowSet("v1", "v2", "v10", "nope"))
			if len(res) != 3 {
				t.Fatalf("allow-set search: %v", res)
			}
			res, _ = idx.Search(ctx, d.row(5), 0, nil)
			if len(res) != 0 {
				t.Fatalf("k=0: %v", res)
			}
			res, err = idx.Search(ctx, d.row(5), math.MaxInt, nil)
			if err != nil || len(res) > idx.Len() || len(res) == 0 {
				t.Fatalf("k=MaxInt: %d results, %v", len(res), err)
			}
			checkSorted(t, res)
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := idx.Search(cctx, d.row(5), 5, nil); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled search: %v", err)
			}
			// Save and load give an index that answers the same.
			var buf bytes.Buffer
			if err := idx.Save(ctx, &buf); err != nil {
				t.Fatal(err)
			}
			var loaded Vector
			switch name {
			case "exact":
				loaded, err = LoadExact(ctx, bytes.NewReader(buf.Bytes()))
			case "hnsw":
				loaded, err = LoadHNSW(ctx, bytes.NewReader(buf.Bytes()))
			case "coder":
				loaded, err = LoadCoderHNSW(ctx, bytes.NewReader(buf.Bytes()))
			}
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Len() != idx.Len() || loaded.Dim() != idx.Dim() {
				t.Fatalf("loaded Len %d Dim %d", loaded.Len(), loaded.Dim())
			}
			for i := 0; i < d.len(); i += 17 {
				a, _ := idx.Search(ctx, d.row(i), 5, nil)
				b, _ := loaded.Search(ctx, d.row(i), 5, nil)
				if name != "coder" && !slices.Equal(a, b) {
					t.Fatalf("query %d: loaded index answers %v, want %v", i, b, a)
				}
				if len(a) != len(b) {
					t.Fatalf("query %d: %d results after load, want %d", i, len(b), len(a))
				}
			}
			for cut := 0; cut < buf.Len(); cut += 1 + buf.Len()/50 {
				var err error
				r := bytes.NewReader(buf.Bytes()[:cut])
				switch name {
				case "exact":
					_, err = LoadExact(ctx, r)
				case "hnsw":
					_, err = LoadHNSW(ctx, r)
				case "coder":
					_, err = LoadCoderHNSW(ctx, r)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated at %d of %d: %v", cut, buf.Len(), err)
				}
			}
		})
	}
}

// TestVector_ConcurrentUse has every implementation serve searches while
// items are added, upserted and deleted; run it with -race.
func TestVector_ConcurrentUse(t *testing.T) {
	n := sized(3000, 600)
	d := clusteredData(n, 16, 10, 11)
	ctx := context.Background()
	for name, idx := range implementations(t, 16) {
		t.Run(name, func(t *testing.T) {
			half := n / 2
			for i := range half {
				if err := idx.Add(d.ids[i], d.row(i)); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 2 {
				wg.Go(func() {
					for i := w; ; i += 2 {
						select {
						case <-stop:
							return
						default:
						}
						res, err := idx.Search(ctx, d.row(i%n), 10, nil)
						if err != nil {
							t.Error(err)
							return
						}
						checkSorted(t, res)
						if _, err := idx.Search(ctx, d.row(i%n), 5, FilterFunc(func(id string) bool { return len(id)%2 == 0 })); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			var writers sync.WaitGroup
			for w := range 2 {
				writers.Go(func() {
					for i := half + w; i < n; i += 2 {
						if err := idx.Add(d.ids[i], d.row(i)); err != nil {
							t.Error(err)
							return
						}
						if i%7 == 0 {
							if err := idx.Delete(d.ids[i-half]); err != nil {
								t.Error(err)
								return
							}
						}
						if i%11 == 0 {
							if err := idx.Upsert(d.ids[i], d.row(i-1)); err != nil {
								t.Error(err)
								return
							}
						}
					}
				})
			}
			writers.Wait()
			close(stop)
			wg.Wait()
			want := n
			for i := half; i < n; i++ {
				if i%7 == 0 {
					want--
				}
			}
			if idx.Len() != want {
				t.Fatalf("Len %d, want %d", idx.Len(), want)
			}
		})
	}
}

// Every implementation gives back the unit vector it stores, and nothing
// for a deleted or unknown id.
func TestVector_Lookup(t *testing.T) {
	type lookup interface {
		Vector
		Vector(string) ([]float32, bool)
		Similarity(string, []float32) (float32, bool)
	}
	makers := map[string]func() (lookup, error){
		"exact": func() (lookup, error) { return NewExact(3) },
		"hnsw":  func() (lookup, error) { return NewHNSW(3, HNSWOptions{}) },
		"coder": func() (lookup, error) { return NewCoderHNSW(3, CoderOptions{}) },
	}
	for name, mk := range makers {
		t.Run(name, func(t *testing.T) {
			v, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Add("a", []float32{3, 0, 4}); err != nil {
				t.Fatal(err)
			}
			got, ok := v.Vector("a")
			if !ok || len(got) != 3 || math.Abs(float64(got[0])-0.6) > 1e-6 || math.Abs(float64(got[2])-0.8) > 1e-6 {
				t.Fatalf("Vector(a) = %v, %v", got, ok)
			}
			if sim, ok := v.Similarity("a", []float32{0, 0, 1}); !ok || math.Abs(float64(sim)-0.8) > 1e-6 {
				t.Fatalf("Similarity(a, z) = %v, %v", sim, ok)
			}
			if _, ok := v.Similarity("a", []float32{0, 1}); ok {
				t.Fatal("similarity with a vector of the wrong dimension")
			}
			got[0] = 99 // a copy: the index is unchanged
			if again, _ := v.Vector("a"); again[0] == 99 {
				t.Fatal("Vector returned the index's own storage")
			}
			if _, ok := v.Vector("zz"); ok {
				t.Fatal("unknown id found")
			}
			if _, ok := v.Similarity("zz", []float32{0, 0, 1}); ok {
				t.Fatal("similarity of an unknown id")
			}
			if err := v.Delete("a"); err != nil {
				t.Fatal(err)
			}
			if _, ok := v.Vector("a"); ok {
				t.Fatal("deleted id found")
			}
		})
	}
}
