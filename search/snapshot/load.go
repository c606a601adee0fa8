package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/duetrec/duet/index/weaviate"

	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/tower"
)

// Snapshot is a loaded snapshot: the search engine over it, and what it
// was built from. Live edits go to the engine (ItemPut, ItemDeleted,
// EventsAdded), never to the snapshot's files.
type Snapshot struct {
	*search.Engine
	Dir      string
	Manifest Manifest
	Model    *tower.Model
	text     *text.Index
	vectors  index.Vector
	lists    Lists // the item-to-item files the snapshot has
	work     string
}

// Load verifies and loads the snapshot in dir, with a working copy of its
// text index in a new directory under the data directory. hist gives users'
// live histories to the engine.
func (r *Root) Load(ctx context.Context, dir string, hist search.History, opts search.Options) (*Snapshot, error) {
	if err := os.MkdirAll(r.data, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(r.data, workPrefix)
	if err != nil {
		return nil, err
	}
	return load(ctx, dir, work, hist, opts, r.remote, r.holder)
}

// Load verifies and loads the snapshot in dir. The text index, which live
// edits change and Bleve writes to even when only opened, is copied into
// work and served from there; work is removed on Close, or at once when
// the load fails. Its errors match ErrBadSnapshot when the snapshot is
// bad, index.ErrCorrupt, tower.ErrBadModel or tower.ErrModelVersion when
// one of its files is.
func Load(ctx context.Context, dir, work string, hist search.History, opts search.Options) (*Snapshot, error) {
	return load(ctx, dir, work, hist, opts, nil, "")
}

// load is Load, with the cluster holding the snapshot's collection when
// it has one.
func load(ctx context.Context, dir, work string, hist search.History, opts search.Options, remote *weaviate.Client, holder string) (*Snapshot, error) {
	m, err := Verify(ctx, dir)
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
	var lookup search.VectorIndex
	var remoteIdx *weaviate.Index
	if m.Collection != "" {
		if remoteIdx, err = openCollection(ctx, m, model, remote, holder); err != nil {
			return fail(err)
		}
		lookup = remoteIdx.Vectors()
	} else {
		if err := readFile(filepath.Join(dir, fileVectors), func(r io.Reader) (err error) {
			vecs, err = index.Load(ctx, index.Kind(m.Meta["ann"]), r)
			return err
		}); err != nil {
			return fail(err)
		}
		var ok bool
		if lookup, ok = vecs.(search.VectorIndex); !ok {
			return fail(fmt.Errorf("%w: vector index %q cannot look vectors up", ErrBadSnapshot, m.Meta["ann"]))
		}
	}
	var lists Lists
	for _, l := range []struct {
		file string
		load func(r io.Reader) error
	}{
		{fileNeighbours, func(r io.Reader) (err error) { lists.Neighbours, err = index.LoadNeighbours(ctx, r); return err }},
		{fileSequence, func(r io.Reader) (err error) { lists.Sequence, err = index.LoadNeighbours(ctx, r); return err }},
		{fileFactored, func(r io.Reader) (err error) { lists.Factored, err = index.LoadFactored(ctx, r); return err }},
	} {
		if _, ok := m.Files[l.file]; !ok {
			continue
		}
		if err := readFile(filepath.Join(dir, l.file), l.load); err != nil {
			return fail(err)
		}
	}
	cat, err := readCatalog(dir)
	if err != nil {
		if !errors.Is(err, ErrBadSnapshot) {
			err = fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		return fail(err)
	}
	if err := checkSources(m); err != nil {
		return fail(err)
	}
	if cat.Len() != m.Items {
		return fail(fmt.Errorf("%w: manifest says %d items, catalog has %d", ErrBadSnapshot, m.Items, cat.Len()))
	}
	parts := search.Parts{Vectors: lookup, Encoder: search.ModelEncoder{Model: model}, History: hist, Catalog: cat}
	var tx *text.Index
	if remoteIdx != nil {
		parts.Text = remoteIdx.Text()
	} else {
		if err := checkConsistent(m, model, vecs, cat); err != nil {
			return fail(err)
		}
		textDir := filepath.Join(work, fileText)
		if err := copyDir(filepath.Join(dir, fileText), textDir); err != nil {
			return fail(err)
		}
		if tx, err = text.Open(ctx, textDir, nil); err != nil {
			return fail(err)
		}
		parts.Text = tx
	}
	// A nil pointer in an interface would not be nil.
	if lists.Neighbours != nil {
		parts.Neighbours = lists.Neighbours
	}
	if lists.Sequence != nil {
		parts.Sequence = lists.Sequence
	}
	if lists.Factored != nil {
		parts.CF = lists.Factored
	}
	if opts.Sources == nil && m.Sources != nil {
		opts.Sources = m.Sources
	}
	if opts.SourceFusion == "" {
		opts.SourceFusion = search.Fusion(m.SourceFusion)
	}
	e := search.New(parts, opts)
	return &Snapshot{Engine: e, Dir: dir, Manifest: m, Model: model, text: tx, vectors: vecs, lists: lists, work: work}, nil
}

// openCollection opens the Weaviate collection a snapshot names, leased
// to holder when there is one. Its
// object count is not checked against the manifest: servers already using
// the collection change it with their live edits.
func openCollection(ctx context.Context, m Manifest, model *tower.Model, remote *weaviate.Client, holder string) (*weaviate.Index, error) {
	if remote == nil {
		return nil, fmt.Errorf("%w: the snapshot's vectors and text are in Weaviate collection %s (give the cluster with --index weaviate://…)", ErrNeedsIndex, m.Collection)
	}
	if m.Dim != model.Dim() {
		return nil, fmt.Errorf("%w: dimensions differ: manifest %d, model %d", ErrBadSnapshot, m.Dim, model.Dim())
	}
	col, err := remote.Collection(ctx, m.Collection)
	if err != nil {
		return nil, err
	}
	if holder != "" {
		if err := remote.Lease(ctx, holder, []string{m.Collection}, leaseTTL); err != nil {
			return nil, err
		}
	}
	return weaviate.NewIndex(col, m.Dim, 0), nil
}

// checkConsistent refuses a snapshot whose parts disagree: each file may
// be sound on its own and still belong to another build, and a vector of
// the wrong dimension would only fail at query time.
func checkConsistent(m Manifest, model *tower.Model, vecs index.Vector, cat *search.Catalog) error {
	if cat.Len() != m.Items || vecs.Len() != m.Items {
		return fmt.Errorf("%w: manifest says %d items, catalog has %d, vectors %d", ErrBadSnapshot, m.Items, cat.Len(), vecs.Len())
	}
	if vecs.Dim() != model.Dim() || m.Dim != model.Dim() {
		return fmt.Errorf("%w: dimensions differ: manifest %d, model %d, vectors %d", ErrBadSnapshot, m.Dim, model.Dim(), vecs.Dim())
	}
	lookup := vecs.(search.VectorIndex)
	for _, it := range cat.Items() {
		if _, ok := lookup.Vector(it.ID); !ok {
			return fmt.Errorf("%w: item %q has no vector", ErrBadSnapshot, it.ID)
		}
	}
	return nil
}

// checkSources refuses a manifest whose served configuration the engine
// cannot take.
func checkSources(m Manifest) error {
	switch search.Fusion(m.SourceFusion) {
	case "", search.FusionRRF, search.FusionRelative:
	default:
		return fmt.Errorf("%w: source fusion %q", ErrBadSnapshot, m.SourceFusion)
	}
	for name, w := range m.Sources {
		if !slices.Contains(search.Sources, name) || math.IsNaN(w) || w < 0 || math.IsInf(w, 0) {
			return fmt.Errorf("%w: source %q weighed %v", ErrBadSnapshot, name, w)
		}
	}
	return nil
}

// Close releases the text index and removes the working copy.
func (s *Snapshot) Close() error {
	var err error
	if s.text != nil {
		err = s.text.Close() // a second Close, after SaveAs, is harmless
	}
	if rerr := os.RemoveAll(s.work); err == nil {
		err = rerr
	}
	return err
}

// SaveAs writes what the snapshot holds now, live edits included, as a new
// snapshot under root reflecting the store at seq: the model as it was,
// the vector index and catalogue as they are, the text index copied from
// the working copy, and the given popularity counts; meta is added to the
// manifest's. It is how an incremental rebuild publishes: load, apply the
// store's changes, save. The text index is closed first, so the snapshot
// serves no more after it; Close it still.
func (s *Snapshot) SaveAs(ctx context.Context, root *Root, seq uint64, popularity map[string]float64, meta map[string]string) (string, error) {
	if s.Manifest.Collection != "" {
		return "", fmt.Errorf("save snapshot: %w: its collection %s is live already; rebuild it whole", ErrRemote, s.Manifest.Collection)
	}
	if err := s.text.Close(); err != nil {
		return "", fmt.Errorf("save snapshot: %w", err)
	}
	items := s.Catalog().Items()
	m := Manifest{Seq: seq, Items: len(items), Dim: s.Manifest.Dim, Meta: map[string]string{}, Sources: s.Manifest.Sources, SourceFusion: s.Manifest.SourceFusion}
	for k, v := range s.Manifest.Meta {
		m.Meta[k] = v
	}
	for k, v := range meta {
		m.Meta[k] = v
	}
	dir, err := write(ctx, root.Dir(), m, func(dir string) error {
		if err := copyFile(filepath.Join(s.Dir, fileModel), filepath.Join(dir, fileModel)); err != nil {
			return err
		}
		if err := durable.WriteFile(filepath.Join(dir, fileVectors), func(w io.Writer) error { return s.vectors.Save(ctx, w) }); err != nil {
			return err
		}
		if err := copyDir(filepath.Join(s.work, fileText), filepath.Join(dir, fileText)); err != nil {
			return err
		}
		// The lists are read-only: they are the snapshot's as built.
		for _, l := range s.lists.files() {
			if err := copyFile(filepath.Join(s.Dir, l.name), filepath.Join(dir, l.name)); err != nil {
				return err
			}
		}
		return writeCatalog(dir, items, popularity)
	})
	if err != nil {
		return "", fmt.Errorf("save snapshot: %w", err)
	}
	return dir, nil
}

// copyFile copies a file. The copy is fsync'd with the rest of the
// snapshot it belongs to, or is a working copy that needs no fsync.
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

// ReadModel reads the model of the snapshot in dir, without verifying the
// snapshot or loading the rest: for scoring the model in service against a
// new one.
func ReadModel(dir string) (*tower.Model, error) {
	return tower.LoadFile(filepath.Join(dir, fileModel))
}
