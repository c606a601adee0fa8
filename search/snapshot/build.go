package snapshot

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/internal/parallel"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
)

// BuildOptions tunes Build. The zero value builds an HNSW index with its
// defaults, silently.
type BuildOptions struct {
	ANN  index.Kind // default index.KindHNSW
	HNSW index.HNSWOptions
	// Meta is copied into the manifest (how the model was made, its
	// validation figures, build parameters).
	Meta map[string]string
	// Lists, when set, are the item-to-item lists of the collaborative
	// and sequence sources (FitLists), and Sources the weights of the
	// sources the served recommendations fuse; both are kept in the
	// snapshot.
	Lists        *Lists
	Sources      map[string]float64
	SourceFusion search.Fusion
	// Vectors, when set, are the model's vectors of the items
	// (tower.Model.ItemVectors), which Build otherwise computes: a
	// rebuild that validated the model on them need not embed the
	// catalogue again.
	Vectors []float32
	// Progress, when set, follows the vector and text indexing.
	Progress content.Progress
	// Timings, when set, is told the time each stage took. The vector
	// and text indexes are built side by side: their stages overlap.
	Timings func(stage string, took time.Duration)
	// Weaviate, when set, takes the vectors and text instead of the
	// snapshot's own files: Build creates a collection named after the
	// snapshot there, shaped by Collection, puts every item in it, and
	// names it in the manifest. ANN and HNSW are then unused.
	Weaviate   *weaviate.Client
	Collection weaviate.Options
}

// publishBatch is how many items one write to Weaviate carries, and
// publishWorkers how many writes are under way at once.
const (
	publishBatch   = 500
	publishWorkers = 4
)

// Build embeds every item with the model, builds the vector and text
// indexes, and writes them with the model, the catalogue and the
// popularity counts as a new snapshot reflecting the store at sequence
// number seq. It returns the snapshot's directory. On an error, or when
// ctx is done, nothing is left behind.
func (r *Root) Build(ctx context.Context, seq uint64, model *tower.Model, items []content.Item, popularity map[string]float64, opts BuildOptions) (string, error) {
	if opts.ANN == "" {
		opts.ANN = index.KindHNSW
	}
	meta := map[string]string{"ann": string(opts.ANN)}
	for k, v := range opts.Meta {
		meta[k] = v
	}
	if opts.Vectors != nil && len(opts.Vectors) != len(items)*model.Dim() {
		return "", fmt.Errorf("build snapshot: %d vector floats for %d items of %d dimensions", len(opts.Vectors), len(items), model.Dim())
	}
	m := Manifest{Seq: seq, Items: len(items), Dim: model.Dim(), Meta: meta, Sources: opts.Sources, SourceFusion: string(opts.SourceFusion), CreatedAt: time.Now().UTC()}
	if opts.Weaviate != nil {
		delete(meta, "ann")
		m.Collection = CollectionName(m)
	}
	var timingsMu sync.Mutex // the vectors and text stages end on their own goroutines
	stage := func(name string, fn func() error) error {
		t := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if opts.Timings != nil {
			timingsMu.Lock()
			opts.Timings(name, time.Since(t))
			timingsMu.Unlock()
		}
		return nil
	}
	dir, err := write(ctx, r.Dir(), m, func(dir string) error {
		if err := stage("save model", func() error {
			return durable.WriteFile(filepath.Join(dir, fileModel), model.Save)
		}); err != nil {
			return err
		}
		if opts.Weaviate != nil {
			stats := text.NewStats()
			if err := stage("publish", func() error { return publish(ctx, m.Collection, model, items, stats, opts) }); err != nil {
				return err
			}
			if err := stage("text statistics", func() error {
				return durable.WriteFile(filepath.Join(dir, fileTextStats), func(w io.Writer) error { _, err := stats.WriteTo(w); return err })
			}); err != nil {
				return err
			}
		} else {
			err := buildIndexes(ctx, opts.Progress, len(items),
				func(ctx context.Context, added func(int)) error {
					return stage("vectors", func() error {
						vecs, err := buildVectors(ctx, model, items, opts, added)
						if err != nil {
							return err
						}
						return durable.WriteFile(filepath.Join(dir, fileVectors), func(w io.Writer) error { return vecs.Save(ctx, w) })
					})
				},
				func(ctx context.Context, added func(int)) error {
					return stage("text (beside vectors)", func() error { return buildText(ctx, filepath.Join(dir, fileText), items, added) })
				})
			if err != nil {
				return err
			}
		}
		for _, l := range opts.Lists.files() {
			if err := stage("save "+strings.TrimSuffix(l.name, ".idx"), func() error {
				return durable.WriteFile(filepath.Join(dir, l.name), func(w io.Writer) error { return l.l.Save(ctx, w) })
			}); err != nil {
				return err
			}
		}
		return stage("catalog", func() error { return writeCatalog(dir, items, popularity) })
	})
	if err != nil {
		if m.Collection != "" {
			// No snapshot names it: it would never be used.
			opts.Weaviate.Drop(context.WithoutCancel(ctx), m.Collection)
		}
		return "", fmt.Errorf("build snapshot: %w", err)
	}
	return dir, nil
}

// CollectionName is the Weaviate collection of the snapshot m describes:
// named, like the snapshot, by sequence number and creation time.
func CollectionName(m Manifest) string {
	return fmt.Sprintf("%s%d_%d", weaviate.Prefix, m.Seq, m.CreatedAt.UnixNano())
}

// publish creates the collection name and puts every item in it with its
// vector, a batch at a time, several batches at once, and counts the
// items' text in stats.
func publish(ctx context.Context, name string, model *tower.Model, items []content.Item, stats *text.Stats, opts BuildOptions) error {
	col, err := opts.Weaviate.Create(ctx, name, items, opts.Collection)
	if err != nil {
		return err
	}
	if p := opts.Progress; p != nil {
		p.Start("publish to weaviate", int64(len(items)))
		defer p.Done()
	}
	return parallel.Range(ctx, len(items), publishWorkers, publishBatch, func(_, lo, hi int) error {
		objs := make([]weaviate.Object, hi-lo)
		for i := range objs {
			it := &items[lo+i]
			f, err := text.AnalyzeItem(it)
			if err != nil {
				return fmt.Errorf("item %q: %w", it.ID, err)
			}
			stats.Add(&f)
			var v []float32
			if opts.Vectors != nil {
				d := model.Dim()
				v = opts.Vectors[(lo+i)*d : (lo+i+1)*d : (lo+i+1)*d]
			} else {
				v = model.ItemVector(*it, nil)
			}
			objs[i] = weaviate.Object{Item: it, Vector: v, Text: &f}
		}
		if err := col.Put(ctx, objs); err != nil {
			return err
		}
		if opts.Progress != nil {
			opts.Progress.Add(int64(len(objs)))
		}
		return nil
	})
}

// buildIndexes runs the vector and the text index builds side by side, one
// progress bar counting the items each has taken: the graph keeps both
// cores busy, Bleve's indexing about one and a half, and they share
// nothing. The first to fail stops the other.
func buildIndexes(ctx context.Context, p content.Progress, items int, builds ...func(ctx context.Context, added func(int)) error) error {
	added := func(int) {}
	if p != nil {
		p.Start("index vectors and text", int64(len(builds)*items))
		defer p.Done()
		added = func(n int) { p.Add(int64(n)) }
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(builds))
	done := parallel.For(ctx, len(builds), len(builds), func(_, i int) error {
		if errs[i] = builds[i](ctx, added); errs[i] != nil {
			cancel()
		}
		return nil
	})
	if err := firstError(errs); err != nil {
		return err
	}
	return done // ctx's error when it ended before a build began
}

func buildVectors(ctx context.Context, model *tower.Model, items []content.Item, opts BuildOptions, added func(int)) (index.Vector, error) {
	vecs, err := index.New(opts.ANN, model.Dim(), opts.HNSW)
	if err != nil {
		return nil, err
	}
	// Every core embeds a block of items (unless opts.Vectors has them),
	// then links them into the graph (index.HNSW.UpsertAll); other indexes
	// take them in the items' order.
	d := model.Dim()
	var block []float32
	if opts.Vectors == nil {
		block = make([]float32, min(len(items), embedBlock)*d)
	}
	ids := make([]string, 0, min(len(items), embedBlock))
	bulk, _ := vecs.(interface {
		Grow(n int)
		UpsertAll(ctx context.Context, ids []string, vecs []float32, workers int) error
	})
	if bulk != nil {
		bulk.Grow(len(items))
	}
	for lo := 0; lo < len(items); lo += embedBlock {
		hi := min(lo+embedBlock, len(items))
		if opts.Vectors != nil {
			block = opts.Vectors[lo*d : hi*d]
		} else if _, err := model.ItemVectors(ctx, items[lo:hi], block); err != nil {
			return nil, err
		}
		if bulk != nil {
			ids = ids[:0]
			for i := lo; i < hi; i++ {
				ids = append(ids, items[i].ID)
			}
			if err := bulk.UpsertAll(ctx, ids, block[:(hi-lo)*d], 0); err != nil {
				return nil, err
			}
		} else {
			for i := lo; i < hi; i++ {
				if err := vecs.Upsert(items[i].ID, block[(i-lo)*d:(i-lo+1)*d]); err != nil {
					return nil, fmt.Errorf("item %q: %w", items[i].ID, err)
				}
			}
		}
		added(hi - lo)
	}
	return vecs, nil
}

// A build embeds embedBlock items at a time.
const embedBlock = 8192

func buildText(ctx context.Context, dir string, items []content.Item, added func(int)) error {
	t, err := text.Open(ctx, dir, &text.Options{Bulk: true})
	if err != nil {
		return err
	}
	const batch = 1000
	for i := 0; i < len(items); i += batch {
		end := min(i+batch, len(items))
		if err := t.IndexBatch(ctx, items[i:end]); err != nil {
			t.Close()
			return err
		}
		added(end - i)
	}
	// One segment: every query otherwise opens its postings in each of
	// the dozen segments a bulk load leaves, for the snapshot's lifetime.
	if err := t.Compact(ctx); err != nil {
		t.Close()
		return err
	}
	return t.Close()
}

// Lists are the item-to-item lists of a snapshot, for BuildOptions.
type Lists struct {
	Neighbours *index.Neighbours // the collaborative lists (cf.Fit)
	Method     string            // how Neighbours were made: cf.MethodEASE or cf.MethodCooccurrence
	Sequence   *index.Neighbours // what followed each item (cf.FitSequence)
	Nearby     *index.Neighbours // what was met close to each item (cf.FitNearby)
	// Factored, when cf.Fit kept it, scores the collaborative source
	// exactly (search.Parts.CF); nil otherwise.
	Factored *index.Factored
	Bytes    int64 // the lists' and factor's memory in the builder's arrays
}

// FitLists makes the item-to-item lists of the items ids (by index) from
// the training histories: train[u] is user u's distinct items, oldest
// first (tower.LatestOrder).
func FitLists(ctx context.Context, ids []string, train [][]int32, cfg cf.Config) (*Lists, error) {
	f, err := cf.Fit(ctx, len(ids), train, cfg)
	if err != nil {
		return nil, fmt.Errorf("neighbours: %w", err)
	}
	sl, err := cf.FitSequence(ctx, len(ids), train, cfg)
	if err != nil {
		return nil, fmt.Errorf("sequence lists: %w", err)
	}
	near, err := cf.FitNearby(ctx, len(ids), train, cfg)
	if err != nil {
		return nil, fmt.Errorf("nearby lists: %w", err)
	}
	nl := f.Lists
	l := &Lists{Method: f.Method, Bytes: nl.Bytes() + sl.Bytes() + near.Bytes()}
	if l.Neighbours, err = index.NewNeighbours(ids, nl.Offsets, nl.Items, nl.Weights); err != nil {
		return nil, fmt.Errorf("neighbours: %w", err)
	}
	if l.Sequence, err = index.NewNeighbours(ids, sl.Offsets, sl.Items, sl.Weights); err != nil {
		return nil, fmt.Errorf("sequence lists: %w", err)
	}
	if l.Nearby, err = index.NewNeighbours(ids, near.Offsets, near.Items, near.Weights); err != nil {
		return nil, fmt.Errorf("nearby lists: %w", err)
	}
	if f.Exact != nil {
		if l.Factored, err = index.NewFactored(ids, f.Exact); err != nil {
			return nil, fmt.Errorf("neighbours: %w", err)
		}
		l.Bytes += f.Exact.Bytes()
	}
	return l, nil
}
