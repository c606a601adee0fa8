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
	"sync"

	"github.com/duetrec/duet/index/weaviate"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/internal/parallel"
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

// LoadLatest loads the newest snapshot that loads, as Load does, and
// returns the errors of newer ones that were damaged (failed their
// checksums or their files' own checks), so that they can be reported. It
// returns an error matching ErrBadSnapshot when no snapshot is left. Each
// snapshot is verified once, as it loads: Latest and then Load would
// checksum the one loaded twice, seconds at a million items.
func (r *Root) LoadLatest(ctx context.Context, hist search.History, opts search.Options) (*Snapshot, []error, error) {
	dirs, err := r.List()
	if err != nil {
		return nil, nil, fmt.Errorf("list snapshots in %s: %w", r.Dir(), err)
	}
	var skipped []error
	for _, dir := range dirs {
		snap, err := r.Load(ctx, dir, hist, opts)
		if err == nil {
			return snap, skipped, nil
		}
		if ctx.Err() != nil {
			return nil, skipped, ctx.Err()
		}
		if !damaged(err) {
			return nil, skipped, err
		}
		skipped = append(skipped, err)
	}
	return nil, skipped, fmt.Errorf("no complete snapshot in %s: %w", r.Dir(), ErrBadSnapshot)
}

// damaged reports whether a load failed on the snapshot's own files, so
// that an older snapshot may serve instead, rather than on something
// outside it (a newer model format, a cluster to reach).
func damaged(err error) bool {
	return errors.Is(err, ErrBadSnapshot) || errors.Is(err, index.ErrCorrupt) || errors.Is(err, tower.ErrBadModel)
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
// it has one. The manifest is read first; the checksums, the model, the
// vectors, the lists, the catalogue and the text index are then read at
// once, each on its own goroutine, and a checksum that fails is the error
// whatever else failed with it: the parts are only trusted once all of
// them are verified, before the engine is made.
func load(ctx context.Context, dir, work string, hist search.History, opts search.Options, remote *weaviate.Client, holder string) (_ *Snapshot, err error) {
	var (
		model     *tower.Model
		vecs      index.Vector
		lists     Lists
		cat       *search.Catalog
		chunks    [][]content.Item // cat's items
		tx        *text.Index
		remoteIdx *weaviate.Index
	)
	defer func() {
		if err != nil {
			if tx != nil {
				tx.Close()
			}
			if c, ok := vecs.(io.Closer); ok {
				c.Close()
			}
			lists.close()
			os.RemoveAll(work)
		}
	}()
	m, err := readManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w: %v", dir, ErrBadSnapshot, err)
	}
	// A stage that fails stops the others but for the checksums, whose
	// verdict explains the others' failures when a file is damaged.
	verifyCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stages := []func() error{
		func() error { _, err := verify(verifyCtx, dir, sumCRC32C); return err },
		func() error {
			return readFile(filepath.Join(dir, fileModel), func(r io.Reader) (err error) {
				model, err = tower.Load(r)
				return err
			})
		},
		func() (err error) {
			if cat, chunks, err = readCatalog(ctx, dir, m); err != nil && !errors.Is(err, ErrBadSnapshot) && ctx.Err() == nil {
				err = fmt.Errorf("%w: %w", ErrBadSnapshot, err)
			}
			return err
		},
		func() error { return readLists(ctx, dir, m, &lists) },
	}
	var stats *text.Stats
	if _, ok := m.Files[fileTextStats]; ok {
		stages = append(stages, func() error {
			return readFile(filepath.Join(dir, fileTextStats), func(r io.Reader) (err error) {
				stats, err = text.ReadStats(r)
				return err
			})
		})
	}
	if m.Collection == "" {
		stages = append(stages,
			func() (err error) {
				vecs, err = index.LoadFile(ctx, index.Kind(m.Meta["ann"]), filepath.Join(dir, fileVectors))
				return err
			},
			func() error {
				textDir := filepath.Join(work, fileText)
				if err := copyDir(filepath.Join(dir, fileText), textDir, isSegment); err != nil {
					return err
				}
				var err error
				tx, err = text.Open(ctx, textDir, nil)
				return err
			})
	}
	errs := make([]error, len(stages))
	var wg sync.WaitGroup
	for i, stage := range stages {
		wg.Go(func() {
			if errs[i] = stage(); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if errs[0] != nil {
		return nil, errs[0]
	}
	if err := firstError(errs[1:]); err != nil {
		return nil, fmt.Errorf("load snapshot %s: %w", dir, err)
	}
	fail := func(err error) (*Snapshot, error) {
		return nil, fmt.Errorf("load snapshot %s: %w", dir, err)
	}
	var lookup search.VectorIndex
	if m.Collection != "" {
		if remoteIdx, err = openCollection(ctx, m, model, remote, holder); err != nil {
			return fail(err)
		}
		if stats == nil {
			// Snapshots published before the statistics were kept.
			if stats, err = textStats(cat); err != nil {
				return fail(err)
			}
		}
		if stats.Items() != m.Items {
			return fail(fmt.Errorf("%w: manifest says %d items, text statistics count %d", ErrBadSnapshot, m.Items, stats.Items()))
		}
		remoteIdx.ScoreWith(stats)
		lookup = remoteIdx.Vectors()
	} else {
		var ok bool
		if lookup, ok = vecs.(search.VectorIndex); !ok {
			return fail(fmt.Errorf("%w: vector index %q cannot look vectors up", ErrBadSnapshot, m.Meta["ann"]))
		}
	}
	if err := checkSources(m); err != nil {
		return fail(err)
	}
	if cat.Len() != m.Items {
		return fail(fmt.Errorf("%w: manifest says %d items, catalog has %d", ErrBadSnapshot, m.Items, cat.Len()))
	}
	parts := search.Parts{Vectors: lookup, Encoder: search.ModelEncoder{Model: model}, History: hist, Catalog: cat}
	if remoteIdx != nil {
		parts.Text = remoteIdx.Text()
	} else {
		if err := checkConsistent(ctx, m, model, vecs, cat, chunks); err != nil {
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
	if lists.Nearby != nil {
		parts.Nearby = lists.Nearby
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

// textStats counts the text of the catalogue's items.
func textStats(cat *search.Catalog) (*text.Stats, error) {
	s := text.NewStats()
	for it := range cat.All() {
		if err := s.Replace(nil, it); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readLists reads the item-to-item files the snapshot has into l.
func readLists(ctx context.Context, dir string, m Manifest, l *Lists) error {
	for _, f := range []struct {
		file string
		load func(r io.Reader) error
	}{
		{fileNeighbours, func(r io.Reader) (err error) { l.Neighbours, err = index.LoadNeighbours(ctx, r); return err }},
		{fileSequence, func(r io.Reader) (err error) { l.Sequence, err = index.LoadNeighbours(ctx, r); return err }},
		{fileNearby, func(r io.Reader) (err error) { l.Nearby, err = index.LoadNeighbours(ctx, r); return err }},
		{fileFactored, func(r io.Reader) (err error) { l.Factored, err = index.LoadFactored(ctx, r); return err }},
	} {
		if _, ok := m.Files[f.file]; !ok {
			continue
		}
		if err := readFile(filepath.Join(dir, f.file), f.load); err != nil {
			return err
		}
	}
	if l.Neighbours != nil {
		for _, o := range []*index.Neighbours{l.Sequence, l.Nearby} {
			if o != nil {
				o.ShareItems(l.Neighbours)
			}
		}
	}
	return nil
}

// close releases the memory the lists map from their files.
func (l *Lists) close() error {
	var err error
	for _, n := range []*index.Neighbours{l.Neighbours, l.Sequence, l.Nearby} {
		if n == nil {
			continue
		}
		if cerr := n.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// firstError returns the first error of errs that is not nil, the first
// that is not context.Canceled if there is one: a stage that failed stops
// the others, whose cancellation is not the story.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		switch {
		case err == nil:
		case !errors.Is(err, context.Canceled):
			return err
		case first == nil:
			first = err
		}
	}
	return first
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
func checkConsistent(ctx context.Context, m Manifest, model *tower.Model, vecs index.Vector, cat *search.Catalog, chunks [][]content.Item) error {
	if cat.Len() != m.Items || vecs.Len() != m.Items {
		return fmt.Errorf("%w: manifest says %d items, catalog has %d, vectors %d", ErrBadSnapshot, m.Items, cat.Len(), vecs.Len())
	}
	if vecs.Dim() != model.Dim() || m.Dim != model.Dim() {
		return fmt.Errorf("%w: dimensions differ: manifest %d, model %d, vectors %d", ErrBadSnapshot, m.Dim, model.Dim(), vecs.Dim())
	}
	has := func(id string) bool { _, ok := vecs.(search.VectorIndex).Vector(id); return ok }
	if h, ok := vecs.(interface{ Has(string) bool }); ok {
		has = h.Has // without reading a million vectors
	}
	// The chunks hold the catalogue's items (readCatalog checked that no
	// id repeats): checked side by side, a million look-ups take half the
	// time.
	return parallel.For(ctx, len(chunks), 0, func(_, i int) error {
		for j := range chunks[i] {
			if id := chunks[i][j].ID; !has(id) {
				return fmt.Errorf("%w: item %q has no vector", ErrBadSnapshot, id)
			}
		}
		return nil
	})
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

// Close releases the text index and the memory the vector index and the
// lists map from their files, and removes the working copy. Nothing may
// search the snapshot after it.
func (s *Snapshot) Close() error {
	var err error
	if s.text != nil {
		err = s.text.Close() // a second Close, after SaveAs, is harmless
	}
	if c, ok := s.vectors.(io.Closer); ok {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := s.lists.close(); err == nil {
		err = cerr
	}
	if rerr := os.RemoveAll(s.work); err == nil {
		err = rerr
	}
	return err
}

// SaveAs writes what the snapshot holds now, live edits included, as a new
// snapshot under root reflecting the store at seq: the model as it was,
// the vector index and catalogue as they are, the text index from the
// working copy (its segments linked), and the given popularity counts; meta is added to the
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
		if err := copyDir(filepath.Join(s.work, fileText), filepath.Join(dir, fileText), isSegment); err != nil {
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

// copyDir copies the regular files below src into dst; those link
// accepts (link may be nil) it hard-links instead, or copies where src and
// dst are on different file systems.
func copyDir(src, dst string, link func(path string) bool) error {
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
		if link != nil && link(path) && os.Link(path, target) == nil {
			return nil
		}
		return copyFile(path, target)
	})
}

// isSegment reports whether path is one of Bleve's segment files, which
// it writes once and then only reads and removes: a working copy of a text
// index links them (a 1M snapshot's are more than a gigabyte) and copies
// the rest, which Bleve writes in place.
func isSegment(path string) bool { return filepath.Ext(path) == ".zap" }

// ReadModel reads the model of the snapshot in dir, without verifying the
// snapshot or loading the rest: for scoring the model in service against a
// new one.
func ReadModel(dir string) (*tower.Model, error) {
	return tower.LoadFile(filepath.Join(dir, fileModel))
}
