package bench

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/internal/vec"
)

// ANNData is what bench ann measures on: base vectors to index and query
// vectors to search with, all of one dimension. A base vector's id is its
// position.
type ANNData struct {
	dim      int
	base, qs []float32
	n, nq    int
	ids      []string
	// clusters are the generated base vectors' clusters, in [0, c); nil
	// for vectors read from files.
	clusters []int32
	c        int
}

// Dim is the vectors' dimension.
func (d *ANNData) Dim() int { return d.dim }

// Len is the number of base vectors.
func (d *ANNData) Len() int { return d.n }

// Queries is the number of query vectors.
func (d *ANNData) Queries() int { return d.nq }

// Base returns base vector i, sharing memory with d.
func (d *ANNData) Base(i int) []float32 { return d.row(d.base, i) }

// Query returns query vector i, sharing memory with d.
func (d *ANNData) Query(i int) []float32 { return d.row(d.qs, i) }

func (d *ANNData) row(v []float32, i int) []float32 { return v[i*d.dim : (i+1)*d.dim] }

// GenerateClustered draws n base and nq query vectors of dimension dim
// around c random unit centres, with Gaussian noise of expected length
// spread, normalised; the same seed draws the same vectors.
func GenerateClustered(n, nq, dim, c int, spread float64, seed uint64) (*ANNData, error) {
	if n < 1 || nq < 1 || dim < 1 || c < 1 {
		return nil, fmt.Errorf("generate vectors: want at least 1 base and query vector, dimension and cluster, got %d, %d, %d, %d", n, nq, dim, c)
	}
	rng := rand.New(rand.NewPCG(seed, 0x616e6e))
	centres := make([]float32, c*dim)
	for i := range c {
		ci := centres[i*dim : (i+1)*dim]
		for vec.Norm(ci) == 0 {
			for j := range ci {
				ci[j] = float32(rng.NormFloat64())
			}
		}
		vec.Normalize(ci)
	}
	sigma := spread / math.Sqrt(float64(dim))
	draw := func(m int, clusters []int32) []float32 {
		out := make([]float32, m*dim)
		for i := range m {
			v := out[i*dim : (i+1)*dim]
			ci := rng.IntN(c)
			if clusters != nil {
				clusters[i] = int32(ci)
			}
			for j := range v {
				v[j] = centres[ci*dim+j] + float32(rng.NormFloat64()*sigma)
			}
			vec.Normalize(v)
		}
		return out
	}
	d := &ANNData{dim: dim, n: n, nq: nq, clusters: make([]int32, n), c: c}
	d.base = draw(n, d.clusters)
	d.qs = draw(nq, nil)
	d.ids = positionIDs(n)
	return d, nil
}

func positionIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}

// ReadFvecs reads base and query vectors from two .fvecs files, the
// format of the ANN benchmarks: per vector a little-endian int32
// dimension followed by that many little-endian float32s. Every vector of
// both files must have the same dimension.
func ReadFvecs(base, queries string) (*ANNData, error) {
	b, bdim, err := readFvecs(base)
	if err != nil {
		return nil, err
	}
	q, qdim, err := readFvecs(queries)
	if err != nil {
		return nil, err
	}
	if bdim != qdim {
		return nil, fmt.Errorf("%s has dimension %d, %s has %d", base, bdim, queries, qdim)
	}
	d := &ANNData{dim: bdim, base: b, qs: q, n: len(b) / bdim, nq: len(q) / qdim}
	d.ids = positionIDs(d.n)
	return d, nil
}

func readFvecs(path string) ([]float32, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var (
		out []float32
		dim int
		hdr [4]byte
		buf []byte
	)
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, 0, fmt.Errorf("%s: vector %d: truncated header", path, n)
		}
		d := int(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d < 1 || d > 1<<16 {
			return nil, 0, fmt.Errorf("%s: vector %d: dimension %d out of range", path, n, d)
		}
		if n == 0 {
			dim = d
			buf = make([]byte, 4*d)
		} else if d != dim {
			return nil, 0, fmt.Errorf("%s: vector %d: dimension %d, earlier ones have %d", path, n, d, dim)
		}
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, 0, fmt.Errorf("%s: vector %d: truncated", path, n)
		}
		for i := range dim {
			out = append(out, math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		}
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("%s: no vectors", path)
	}
	return out, dim, nil
}

// writeUnitFvecs writes the rows of vs normalised, in .fvecs format.
func writeUnitFvecs(path string, vs []float32, dim int) error {
	return durable.WriteFile(path, func(w io.Writer) error {
		u := make([]float32, dim)
		rec := make([]byte, 4+4*dim)
		binary.LittleEndian.PutUint32(rec, uint32(dim))
		for i := 0; i+dim <= len(vs); i += dim {
			copy(u, vs[i:i+dim])
			vec.Normalize(u)
			for j, x := range u {
				binary.LittleEndian.PutUint32(rec[4+4*j:], math.Float32bits(x))
			}
			if _, err := w.Write(rec); err != nil {
				return err
			}
		}
		return nil
	})
}
