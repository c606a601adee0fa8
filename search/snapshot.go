package search

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/tower"
)

// ModelEncoder is the Encoder of a trained two-tower model.
type ModelEncoder struct{ Model *tower.Model }

// ItemVector embeds an item: a trained item by its id and content, a new
// one by content alone.
func (m ModelEncoder) ItemVector(it content.Item) []float32 { return m.Model.ItemVector(it, nil) }

// QueryVector embeds text through the item tower's content path.
func (m ModelEncoder) QueryVector(text string) ([]float32, bool) {
	v, ok := m.Model.QueryVector(text, nil)
	if !ok {
		return nil, false
	}
	return v, true
}

// UserVector embeds a history with the user tower.
func (m ModelEncoder) UserVector(history []content.Item) ([]float32, bool) {
	if len(history) == 0 {
		return nil, false
	}
	v := m.Model.UserVectorItems(history, nil)
	return v, v != nil && !isZero(v)
}

// The files of a snapshot, beside index's manifest.
const (
	fileModel      = "model.duet"         // the two-tower model
	fileVectors    = "vectors.idx"        // the vector index: ids, raw float32 vectors, graph
	fileText       = "text"               // the Bleve index (a directory)
	fileItems      = "items.jsonl.zst"    // the catalog, as the generic format
	filePopularity = "popularity.csv.zst" // item,count: the popularity fallback
)

// ANN names a vector index implementation.
type ANN string

const (
	ANNHNSW  ANN = "hnsw"
	ANNExact ANN = "exact"
	ANNCoder ANN = "coder"
)

// BuildOptions tunes BuildSnapshot.
type BuildOptions struct {
	ANN  ANN // default hnsw
	HNSW index.HNSWOptions
	// Meta is copied into the manifest (model metrics, build parameters).
	Meta map[string]string
	// Progress, when set, follows each stage.
	Progress content.Progress
	// Timings, when set, receives the time each stage took.
	Timings func(stage string, took time.Duration)
}

// BuildSnapshot embeds every item with the model, builds the vector and
// text indexes, and writes them with the model and the catalog as a new
// snapshot under root, reflecting the store at sequence number seq. It
// returns the snapshot's directory.
func BuildSnapshot(ctx context.Context, root string, seq uint64, model *tower.Model, items []content.Item, popularity map[string]float64, opts BuildOptions) (string, error) {
	if opts.ANN == "" {
		opts.ANN = ANNHNSW
	}
	meta := map[string]string{"ann": string(opts.ANN)}
	for k, v := range opts.Meta {
		meta[k] = v
	}
	m := index.Manifest{Seq: seq, Items: len(items), Dim: model.Dim(), Meta: meta}
	stage := func(name string, fn func() error) error {
		t := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if opts.Timings != nil {
			opts.Timings(name, time.Since(t))
		}
		return nil
	}
	dir, err := index.WriteSnapshot(ctx, root, m, func(dir string) error {
		if err := stage("save model", func() error {
			return writeFile(filepath.Join(dir, fileModel), func(w io.Writer) error { return model.Save(w) })
		}); err != nil {
			return err
		}
		var vecs index.Vector
		if err := stage("vectors", func() error {
			var err error
			vecs, err = buildVectors(ctx, model, items, opts)
			if err != nil {
				return err
			}
			return writeFile(filepath.Join(dir, fileVectors), func(w io.Writer) error { return vecs.Save(ctx, w) })
		}); err != nil {
			return err
		}
		if err := stage("text", func() error { return buildText(ctx, filepath.Join(dir, fileText), items, opts.Progress) }); err != nil {
			return err
		}
		return stage("catalog", func() error {
			if err := writeZstd(filepath.Join(dir, fileItems), func(w io.Writer) error { return writeItems(w, items) }); err != nil {
				return err
			}
			return writeZstd(filepath.Join(dir, filePopularity), func(w io.Writer) error { return writePopularity(w, popularity) })
		})
	})
	if err != nil {
		return "", fmt.Errorf("build snapshot: %w", err)
	}
	return dir, nil
}

func newVectors(kind ANN, dim int, o index.HNSWOptions) (index.Vector, error) {
	switch kind {
	case ANNHNSW:
		return index.NewHNSW(dim, o)
	case ANNExact:
		return index.NewExact(dim)
	case ANNCoder:
		return index.NewCoderHNSW(dim, index.CoderOptions{M: o.M, EfSearch: o.EfSearch, Seed: int64(o.Seed)})
	}
	return nil, fmt.Errorf("unknown vector index %q (want hnsw, exact or coder)", kind)
}

func buildVectors(ctx context.Context, model *tower.Model, items []content.Item, opts BuildOptions) (index.Vector, error) {
	vecs, err := newVectors(opts.ANN, model.Dim(), opts.HNSW)
	if err != nil {
		return nil, err
	}
	if p := opts.Progress; p != nil {
		p.Start("index vectors", int64(len(items)))
		defer p.Done()
	}
	v := make([]float32, model.Dim())
	for i := range items {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		v = model.ItemVector(items[i], v)
		if err := vecs.Upsert(items[i].ID, v); err != nil {
			return nil, fmt.Errorf("item %q: %w", items[i].ID, err)
		}
		if opts.Progress != nil {
			opts.Progress.Add(1)
		}
	}
	return vecs, nil
}

func buildText(ctx context.Context, dir string, items []content.Item, p content.Progress) error {
	t, err := text.Open(ctx, dir, nil)
	if err != nil {
		return err
	}
	if p != nil {
		p.Start("index text", int64(len(items)))
		defer p.Done()
	}
	const batch = 1000
	for i := 0; i < len(items); i += batch {
		end := min(i+batch, len(items))
		if err := t.IndexBatch(ctx, items[i:end]); err != nil {
			t.Close()
			return err
		}
		if p != nil {
			p.Add(int64(end - i))
		}
	}
	// One segment: every query otherwise opens its postings in each of
	// the dozen segments a bulk load leaves, for the snapshot's lifetime.
	if err := t.Compact(ctx); err != nil {
		t.Close()
		return err
	}
	return t.Close()
}

// Snapshot is a loaded snapshot: the engine over it and what it was built
// from.
type Snapshot struct {
	*Engine
	Dir      string
	Manifest index.Manifest
	Model    *tower.Model
	text     *text.Index
	vectors  index.Vector
	work     string
}

// Close releases the text index and removes the working copy.
func (s *Snapshot) Close() error {
	err := s.text.Close() // a second Close, after SaveAs, is harmless
	if rerr := os.RemoveAll(s.work); err == nil {
		err = rerr
	}
	return err
}

// SaveAs writes what the snapshot holds now, live edits included, as a new
// snapshot under root reflecting the store at seq: the model as it was,
// the vector index and catalog as they are, the text index copied from the
// working copy. It is how an incremental rebuild publishes: load, apply
// the store's changes, save. The text index is closed first, so the
// snapshot serves no more after it; Close it still.
func (s *Snapshot) SaveAs(ctx context.Context, root string, seq uint64, popularity map[string]float64, meta map[string]string) (string, error) {
	if err := s.text.Close(); err != nil {
		return "", fmt.Errorf("save snapshot: %w", err)
	}
	items := s.cat.Items()
	m := index.Manifest{Seq: seq, Items: len(items), Dim: s.Manifest.Dim, Meta: map[string]string{}}
	for k, v := range s.Manifest.Meta {
		m.Meta[k] = v
	}
	for k, v := range meta {
		m.Meta[k] = v
	}
	dir, err := index.WriteSnapshot(ctx, root, m, func(dir string) error {
		if err := copyFile(filepath.Join(s.Dir, fileModel), filepath.Join(dir, fileModel)); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, fileVectors), func(w io.Writer) error { return s.vectors.Save(ctx, w) }); err != nil {
			return err
		}
		if err := copyDir(filepath.Join(s.work, fileText), filepath.Join(dir, fileText)); err != nil {
			return err
		}
		if err := writeZstd(filepath.Join(dir, fileItems), func(w io.Writer) error { return writeItems(w, items) }); err != nil {
			return err
		}
		return writeZstd(filepath.Join(dir, filePopularity), func(w io.Writer) error { return writePopularity(w, popularity) })
	})
	if err != nil {
		return "", fmt.Errorf("save snapshot: %w", err)
	}
	return dir, nil
}

// LoadSnapshot verifies and loads the snapshot in dir. The snapshot stays
// as it was written: the text index, which live edits change and Bleve
// writes to even when only opened, is copied into work (a new directory)
// and served from there. hist gives users' live histories to the engine.
func LoadSnapshot(ctx context.Context, dir, work string, hist History, opts Options) (*Snapshot, error) {
	m, err := index.VerifySnapshot(ctx, dir)
	if err != nil {
		os.RemoveAll(work)
		return nil, err
	}
	fail := func(err error) (*Snapshot, error) {
		os.RemoveAll(work)
		return nil, fmt.Errorf("load snapshot %s: %w", dir, err)
	}
	var model *tower.Model
	if err := readFile(filepath.Join(dir, fileModel), func(r io.Reader) (err error) {
		model, err = tower.Load(r)
		return err
	}); err != nil {
		return fail(err)
	}
	var vecs index.Vector
	if err := readFile(filepath.Join(dir, fileVectors), func(r io.Reader) (err error) {
		vecs, err = loadVectors(ctx, ANN(m.Meta["ann"]), r)
		return err
	}); err != nil {
		return fail(err)
	}
	lookup, ok := vecs.(VectorIndex)
	if !ok {
		return fail(fmt.Errorf("vector index %q cannot look vectors up", m.Meta["ann"]))
	}
	cat := NewCatalog()
	if err := readZstd(filepath.Join(dir, fileItems), func(r io.Reader) error { return readItems(r, cat) }); err != nil {
		return fail(err)
	}
	if err := readZstd(filepath.Join(dir, filePopularity), func(r io.Reader) error { return readPopularity(r, cat) }); err != nil {
		return fail(err)
	}
	if err := checkConsistent(m, model, vecs, cat); err != nil {
		return fail(err)
	}
	textDir := filepath.Join(work, fileText)
	if err := copyDir(filepath.Join(dir, fileText), textDir); err != nil {
		return fail(err)
	}
	text, err := text.Open(ctx, textDir, nil)
	if err != nil {
		return fail(err)
	}
	e := New(lookup, text, ModelEncoder{model}, hist, cat, opts)
	return &Snapshot{Engine: e, Dir: dir, Manifest: m, Model: model, text: text, vectors: vecs, work: work}, nil
}

// checkConsistent refuses a snapshot whose parts disagree: each file may
// be sound on its own and still belong to another build, and a vector of
// the wrong dimension would only fail at query time.
func checkConsistent(m index.Manifest, model *tower.Model, vecs index.Vector, cat *Catalog) error {
	if cat.Len() != m.Items || vecs.Len() != m.Items {
		return fmt.Errorf("%w: manifest says %d items, catalog has %d, vectors %d", index.ErrBadSnapshot, m.Items, cat.Len(), vecs.Len())
	}
	if vecs.Dim() != model.Dim() || m.Dim != model.Dim() {
		return fmt.Errorf("%w: dimensions differ: manifest %d, model %d, vectors %d", index.ErrBadSnapshot, m.Dim, model.Dim(), vecs.Dim())
	}
	lookup := vecs.(VectorIndex)
	for _, it := range cat.Items() {
		if _, ok := lookup.Vector(it.ID); !ok {
			return fmt.Errorf("%w: item %q has no vector", index.ErrBadSnapshot, it.ID)
		}
	}
	return nil
}

// Every index a snapshot may hold serves the engine.
var (
	_ VectorIndex = (*index.HNSW)(nil)
	_ VectorIndex = (*index.Exact)(nil)
	_ VectorIndex = (*index.CoderHNSW)(nil)
)

func loadVectors(ctx context.Context, kind ANN, r io.Reader) (index.Vector, error) {
	switch kind {
	case ANNHNSW:
		return index.LoadHNSW(ctx, r)
	case ANNExact:
		return index.LoadExact(ctx, r)
	case ANNCoder:
		return index.LoadCoderHNSW(ctx, r)
	}
	return nil, fmt.Errorf("%w: unknown vector index %q", index.ErrBadSnapshot, kind)
}

func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := fn(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readFile(path string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(bufio.NewReaderSize(f, 1<<20))
}

func writeZstd(path string, fn func(io.Writer) error) error {
	return writeFile(path, func(w io.Writer) error {
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		if err := fn(zw); err != nil {
			zw.Close()
			return err
		}
		return zw.Close()
	})
}

func readZstd(path string, fn func(io.Reader) error) error {
	return readFile(path, func(r io.Reader) error {
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return err
		}
		defer zr.Close()
		return fn(zr)
	})
}

func writeItems(w io.Writer, items []content.Item) error {
	enc := json.NewEncoder(w)
	for i := range items {
		if err := enc.Encode(items[i]); err != nil {
			return err
		}
	}
	return nil
}

func readItems(r io.Reader, cat *Catalog) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var it content.Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return fmt.Errorf("%w: %s:%d: %w", index.ErrBadSnapshot, fileItems, line, err)
		}
		if err := it.Validate(); err != nil {
			return fmt.Errorf("%w: %s:%d: %w", index.ErrBadSnapshot, fileItems, line, err)
		}
		if _, dup := cat.Item(it.ID); dup {
			return fmt.Errorf("%w: %s:%d: item %q twice", index.ErrBadSnapshot, fileItems, line, it.ID)
		}
		cat.Put(it)
	}
	return sc.Err()
}

func writePopularity(w io.Writer, pop map[string]float64) error {
	cw := csv.NewWriter(w)
	for _, id := range sortedIDs(pop) {
		if err := cw.Write([]string{id, strconv.FormatFloat(pop[id], 'g', -1, 64)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func readPopularity(r io.Reader, cat *Catalog) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", index.ErrBadSnapshot, filePopularity, err)
		}
		n, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", index.ErrBadSnapshot, filePopularity, err)
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("%w: %s: popularity of %q is %v", index.ErrBadSnapshot, filePopularity, rec[0], n)
		}
		cat.AddPopularity(rec[0], n)
	}
}

func sortedIDs(m map[string]float64) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyDir copies the regular files below src into dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(path, target)
	})
}
