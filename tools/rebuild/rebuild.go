// Package rebuild is Duet's index rebuild: from the store, a new snapshot
// for the servers to load.
//
// A full rebuild reads the store (or, while a server holds it, a
// consistent copy through the server's admin API), trains the two-tower
// model or reuses a model file, scores it on each user's last item beside
// the model in service, refuses to publish below a floor, builds the
// vector and text indexes into a new snapshot, prunes old snapshots and
// asks the server to swap. An incremental rebuild loads the newest
// snapshot instead, replays the store's item changes into it (the replay
// a server makes on load, content.Replay) and saves the result.
//
// One rebuild runs at a time per data directory (the snapshot root's
// lock); it first removes what killed rebuilds left behind.
package rebuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/duetrec/duet/index/weaviate"
	searcheval "github.com/duetrec/duet/search/eval"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/internal/dirsize"
	"github.com/duetrec/duet/internal/procstat"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/cf"
	"github.com/duetrec/duet/tower/eval"
)

// Options is what a rebuild does. Data is required; the zero value of the
// rest trains with the default settings and keeps 3 snapshots.
type Options struct {
	// Data is the data directory holding the store and the snapshots.
	Data string
	// Store, when set, is the store in PostgreSQL (a postgres:// URL) in
	// place of the one in Data; several processes share it, so it is
	// read directly even while servers use it.
	Store string
	// Publish is where the servers sharing Store fetch the snapshot from:
	// a directory holding the snapshots by name as they see it, or the
	// http(s) URL of a server that has it; default this data directory's
	// snapshots, as an absolute path (servers on the same machine, or a
	// file system mounted at the same path).
	Publish string
	// Model, when set, is a model file used instead of training.
	Model string
	// Train is the training configuration; its Progress is called as
	// tower.Train calls it.
	Train tower.Config
	// CF makes the collaborative lists of the recommendations.
	CF cf.Config
	// Tune chooses the served configuration (the sources' weights and
	// fusion) on validation held out of the store's data in both shapes
	// (searcheval.ChooseSources), spending at most TuneBudget (default
	// 10 minutes) on it; without it, or when it fails, the snapshot serves
	// search.DefaultSources. A model trained after choosing trains for as
	// many epochs as the best of the model fitted to choose, at most
	// Train.Epochs.
	Tune       bool
	TuneBudget time.Duration
	// Incremental reuses the newest snapshot's model and indexes, and
	// embeds and indexes only the items changed since.
	Incremental bool
	// MinNDCG refuses to publish a model whose validation NDCG@10 is
	// below it.
	MinNDCG float64
	// MaxDrop refuses to publish a model whose validation NDCG@10 is more
	// than this share below the model in service's on the same users (0.05:
	// 5%); 0 turns the check off. A guard against a broken training, for
	// rebuilds nobody watches.
	MaxDrop float64
	// ANN is the vector index; default index.KindHNSW.
	ANN  index.Kind
	HNSW index.HNSWOptions
	// Keep is how many snapshots are kept; default 3.
	Keep int
	// Index, when set, is a Weaviate cluster (weaviate://host:port,…)
	// that takes the snapshot's vectors and text: a new collection, with
	// Collection's shards and replicas. Once the snapshots are pruned,
	// the collections no snapshot names and no server holds are dropped.
	Index      string
	Collection weaviate.Options
	// Notify is the base URL of a running server, which holds the store:
	// the store is read through it, and it is asked to reload the new
	// snapshot, both with AdminToken.
	Notify     string
	AdminToken string
	// Progress, when set, follows the indexing.
	Progress content.Progress
	// Validated, when set, is told the validation figures as soon as they
	// are known, before the indexes are built.
	Validated func(Validation)
}

// Validation is how the new model, and the one it replaces, rank each
// user's last item.
type Validation struct {
	New eval.HoldoutScore
	// Previous is the model in service's score on the same pairs; nil
	// without a snapshot whose model could be read.
	Previous *eval.HoldoutScore
}

// Stage is how long a stage of a full rebuild took, and the process's
// peak resident memory after it.
type Stage struct {
	Name    string
	Took    time.Duration
	PeakRSS string
}

// Report is what a rebuild did.
type Report struct {
	Snapshot string // the new snapshot's directory
	Items    int
	Seq      uint64
	Bytes    int64
	Took     time.Duration
	// Stages of a full rebuild, in the order they ended. The vectors and
	// text stages overlap (snapshot.BuildOptions.Timings).
	Stages []Stage
	// Validation of a full rebuild's model.
	Validation *Validation
	// Served is the configuration the snapshot serves: chosen on
	// validation (Tuning set), or the defaults (TuneError says why, when
	// tuning was asked for).
	Served    searcheval.Choice
	Tuning    *searcheval.Choosing
	TuneError error
	// Neighbours is how the collaborative lists were made, and their size.
	Neighbours string
	// From is the snapshot an incremental rebuild started from, and
	// Changed how many items it applied.
	From    string
	Changed int
	// Reloaded reports that the server at Options.Notify swapped to the
	// new snapshot.
	Reloaded bool
	// Published is where the servers sharing the store fetch the new
	// snapshot from, when it was published.
	Published string
	// Collection is the Weaviate collection the snapshot's index is in,
	// and Dropped the older ones no longer used, with Options.Index.
	Collection string
	Dropped    []string
}

// errNoItems is returned for a store with nothing to index.
var errNoItems = errors.New("rebuild: the store holds no items")

// backupPrefix names the store copies read through a server, in the data
// directory.
const backupPrefix = ".backup-"

// Run rebuilds. The report is returned as far as the rebuild got, with
// its error: a model refused by MinNDCG still has its Validation, a
// snapshot the server did not reload its Snapshot.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Data == "" {
		return nil, errors.New("rebuild: no data directory")
	}
	if opts.Keep == 0 {
		opts.Keep = 3
	}
	start := time.Now()
	root := snapshot.NewRoot(opts.Data)
	var remote *weaviate.Client
	if opts.Index != "" {
		if opts.Incremental {
			return nil, errors.New("rebuild: an incremental rebuild keeps the embedded indexes; with --index a rebuild is whole")
		}
		var err error
		if remote, err = weaviate.Open(opts.Index); err != nil {
			return nil, err
		}
		defer remote.Close()
		if err := remote.Ping(ctx); err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		root.UseIndex(remote, "")
	}
	unlock, err := root.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	removeLeftovers(opts.Data, root)

	rep := &Report{}
	t := time.Now()
	timed := func(stage string, took time.Duration) {
		rep.Stages = append(rep.Stages, Stage{stage, took, procstat.PeakRSS()})
	}
	st, release, err := openStore(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer release()
	stats, err := st.Stats(ctx)
	if err != nil {
		return nil, err
	}
	rep.Seq = stats.Seq
	if opts.Incremental {
		err := incremental(ctx, opts, root, st, rep)
		rep.Took = time.Since(start)
		return rep, err
	}
	ds, err := tower.LoadDataset(ctx, st)
	if err != nil {
		return nil, err
	}
	timed("read", time.Since(t))
	if len(ds.Items) == 0 {
		return nil, errNoItems
	}

	meta := map[string]string{}
	rep.Served = searcheval.Choice{Sources: search.DefaultSources, Fusion: search.FusionRelative}
	train := opts.Train
	if opts.Tune {
		// Choosing first: its model, fitted on most of the data, says how
		// many epochs the model of all of it needs, which spares that
		// training the epochs early stopping waits through.
		t = time.Now()
		rep.Tuning, rep.TuneError = choose(ctx, ds, opts)
		if rep.Tuning != nil {
			rep.Served = rep.Tuning.Choice
			for _, shape := range []string{searcheval.ShapeLast, searcheval.ShapeRandom} {
				meta["served_val_ndcg@10_"+shape] = fmt.Sprintf("%.4f", rep.Tuning.NDCG[shape])
				meta["popular_val_ndcg@10_"+shape] = fmt.Sprintf("%.4f", rep.Tuning.Popular[shape])
			}
			meta["served_val_splits"] = strconv.Itoa(rep.Tuning.Folds)
			if e := rep.Tuning.Epochs; e > 0 && (train.Epochs == 0 || e < train.Epochs) {
				train.Epochs = e
			}
		} else if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		timed("tune", time.Since(t))
	}

	t = time.Now()
	var model *tower.Model
	if opts.Model != "" {
		if model, err = tower.LoadFile(opts.Model); err != nil {
			return nil, err
		}
		meta["model"] = opts.Model
	} else {
		var p tower.TrainProgress
		if model, p, err = tower.Fit(ctx, ds, train); err != nil {
			return nil, fmt.Errorf("rebuild: train: %w", err)
		}
		meta["model"] = "trained"
		meta["epochs"] = strconv.Itoa(p.Epoch)
		meta["best_epoch"] = strconv.Itoa(p.BestEpoch)
	}
	timed("model", time.Since(t))

	// The catalogue embedded once, for validation and the index.
	t = time.Now()
	vecs, err := model.ItemVectors(ctx, ds.Items, nil)
	if err != nil {
		return nil, fmt.Errorf("rebuild: embed the items: %w", err)
	}
	timed("embed", time.Since(t))

	t = time.Now()
	v, err := validate(ctx, root, model, ds, vecs)
	if err != nil {
		return nil, err
	}
	rep.Validation = v
	meta["val_ndcg@10"] = fmt.Sprintf("%.4f", v.New.NDCG)
	meta["val_recall@10"] = fmt.Sprintf("%.4f", v.New.Recall)
	if opts.Validated != nil {
		opts.Validated(*v)
	}
	timed("validate", time.Since(t))
	if opts.MinNDCG > 0 && v.New.NDCG < opts.MinNDCG {
		return rep, fmt.Errorf("rebuild: the new model's validation NDCG@10 %.4f is below --min-ndcg %.4f: nothing published", v.New.NDCG, opts.MinNDCG)
	}
	if p := v.Previous; opts.MaxDrop > 0 && p != nil && v.New.NDCG < (1-opts.MaxDrop)*p.NDCG {
		return rep, fmt.Errorf("rebuild: the new model's validation NDCG@10 %.4f is more than --max-drop %g below the model in service's %.4f: nothing published", v.New.NDCG, opts.MaxDrop, p.NDCG)
	}

	t = time.Now()
	histories := make([][]int32, len(ds.History))
	for u, h := range ds.History {
		histories[u] = tower.LatestOrder(h)
	}
	ids := make([]string, len(ds.Items))
	for i, it := range ds.Items {
		ids[i] = it.ID
	}
	lists, err := snapshot.FitLists(ctx, ids, histories, opts.CF)
	if err != nil {
		return rep, fmt.Errorf("rebuild: %w", err)
	}
	exact := ""
	if lists.Factored != nil {
		exact = fmt.Sprintf("; exact scores from the factor of %d users", lists.Factored.Users())
	}
	rep.Neighbours = fmt.Sprintf("%s, %d per item on average; sequence lists, %d per item on average; nearby lists, %d per item on average%s; %.1f MB",
		lists.Method, lists.Neighbours.Entries()/max(1, len(ids)), lists.Sequence.Entries()/max(1, len(ids)), lists.Nearby.Entries()/max(1, len(ids)), exact, float64(lists.Bytes)/1e6)
	timed("neighbours", time.Since(t))

	meta["neighbours"] = lists.Method

	bo := snapshot.BuildOptions{ANN: opts.ANN, HNSW: opts.HNSW, Meta: meta, Vectors: vecs, Progress: opts.Progress, Timings: timed,
		Lists: lists, Sources: rep.Served.Sources, SourceFusion: rep.Served.Fusion, Weaviate: remote, Collection: opts.Collection}
	dir, err := root.Build(ctx, stats.Seq, model, ds.Items, ds.Popularity(ds.History), bo)
	if err != nil {
		return rep, err
	}
	rep.Items = len(ds.Items)
	return rep, publish(ctx, opts, st, root, dir, start, rep)
}

// choose runs searcheval.ChooseSources within the tuning budget, training
// silently.
func choose(ctx context.Context, ds *tower.Dataset, opts Options) (*searcheval.Choosing, error) {
	budget := opts.TuneBudget
	if budget <= 0 {
		budget = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	cfg := opts.Train
	cfg.Progress = nil
	ch, err := searcheval.ChooseSources(ctx, ds, cfg, opts.CF, nil, 1)
	if err != nil && ch == nil {
		return nil, err
	}
	return ch, nil
}

// validate scores the new model, whose vectors of ds.Items are vecs, and
// the model in service when there is one, on each user's last item, for
// at most 2000 users.
func validate(ctx context.Context, root *snapshot.Root, model *tower.Model, ds *tower.Dataset, vecs []float32) (*Validation, error) {
	_, pairs := tower.HoldOutLast(ds)
	score, err := eval.ScoreHoldout(ctx, model, ds, pairs, eval.HoldoutOptions{Items: vecs})
	if err != nil {
		return nil, err
	}
	v := &Validation{New: score}
	// The newest model that reads (a server loads the newest snapshot
	// that does), on the same pairs; none is no reason not to rebuild.
	// Its file checks itself: the whole snapshot need not be checksummed.
	dirs, _ := root.List()
	for _, prev := range dirs {
		pm, err := snapshot.ReadModel(prev)
		if err != nil {
			continue
		}
		if ps, err := eval.ScoreHoldout(ctx, pm, ds, pairs, eval.HoldoutOptions{}); err == nil {
			v.Previous = &ps
		}
		break
	}
	return v, nil
}

// incremental loads the newest snapshot, applies the item changes the
// store took since it was built (as a server's replay does), and saves the
// result as a new snapshot.
func incremental(ctx context.Context, opts Options, root *snapshot.Root, st *content.Store, rep *Report) error {
	start := time.Now()
	snap, _, err := root.LoadLatest(ctx, st, search.Options{})
	if err != nil {
		return fmt.Errorf("incremental rebuild needs a snapshot: %w", err)
	}
	defer snap.Close()
	prev, m := snap.Dir, snap.Manifest
	rep.From = filepath.Base(prev)
	rep.Changed, err = content.Replay(ctx, st, m.Seq, func(ctx context.Context, id string) error {
		return content.Apply(ctx, st, snap, id)
	}, content.ReplayOptions{})
	if err != nil {
		return err
	}
	ds, err := tower.LoadDataset(ctx, st)
	if err != nil {
		return err
	}
	dir, err := snap.SaveAs(ctx, root, rep.Seq, ds.Popularity(ds.History), map[string]string{"incremental_from": rep.From})
	if err != nil {
		return err
	}
	rep.Items = snap.Catalog().Len()
	return publish(ctx, opts, st, root, dir, start, rep)
}

// publish prunes the old snapshots, notes the new one in the report,
// records it in a shared store for the servers there to fetch, and asks
// the server to reload.
func publish(ctx context.Context, opts Options, st *content.Store, root *snapshot.Root, dir string, start time.Time, rep *Report) error {
	rep.Snapshot = dir
	if err := root.Prune(opts.Keep); err != nil {
		return fmt.Errorf("prune snapshots: %w", err)
	}
	if m, err := snapshot.ReadManifest(dir); err == nil {
		rep.Collection = m.Collection
	}
	dropped, err := root.DropUnusedCollections(ctx)
	rep.Dropped = dropped
	if err != nil {
		return fmt.Errorf("snapshot written, but dropping unused collections failed: %w", err)
	}
	rep.Bytes, _ = dirsize.Of(dir)
	if opts.Store != "" {
		source := opts.Publish
		if source == "" {
			abs, err := filepath.Abs(root.Dir())
			if err != nil {
				return err
			}
			source = abs
		}
		sum, err := snapshot.ManifestSHA256(dir)
		if err != nil {
			return err
		}
		p := content.PublishedSnapshot{Name: filepath.Base(dir), Seq: rep.Seq, ManifestSHA256: sum, Source: source}
		if err := st.PublishSnapshot(ctx, p); err != nil {
			return fmt.Errorf("snapshot written, but not published: %w", err)
		}
		rep.Published = source
	}
	rep.Took = time.Since(start)
	if opts.Notify == "" {
		return nil
	}
	if err := Reload(ctx, opts.Notify, opts.AdminToken); err != nil {
		return fmt.Errorf("snapshot written, but the server did not reload: %w", err)
	}
	rep.Reloaded = true
	return nil
}

// removeLeftovers removes what killed rebuilds left: store copies read
// through a server, and half-written snapshots. The rebuild lock is held.
func removeLeftovers(data string, root *snapshot.Root) {
	stale, _ := filepath.Glob(filepath.Join(data, backupPrefix+"*.db"))
	for _, p := range stale {
		os.Remove(p)
	}
	root.RemovePartial()
}

// openStore opens the store; when a server holds it, it reads a consistent
// copy through the server instead, removed by the release function.
func openStore(ctx context.Context, opts Options) (*content.Store, func(), error) {
	st, err := content.OpenStore(ctx, opts.Data, opts.Store)
	if err == nil {
		return st, func() { st.Close() }, nil
	}
	if !errors.Is(err, content.ErrLocked) {
		return nil, nil, err
	}
	if opts.Notify == "" {
		return nil, nil, fmt.Errorf("%w; pass the running server's address with --notify to read the store through it", err)
	}
	tmp, err := os.CreateTemp(opts.Data, backupPrefix+"*.db")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { os.Remove(tmp.Name()) }
	err = backup(ctx, opts.Notify, opts.AdminToken, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return nil, nil, fmt.Errorf("read the store through %s: %w", opts.Notify, err)
	}
	st, err = content.OpenFile(ctx, tmp.Name())
	if err != nil {
		remove()
		return nil, nil, err
	}
	return st, func() { st.Close(); remove() }, nil
}
