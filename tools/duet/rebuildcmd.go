package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/eval"
)

// snapshotsDir is where a data directory keeps its snapshots.
func snapshotsDir(data string) string { return filepath.Join(data, "snapshots") }

func newRebuildCmd() *cobra.Command {
	var (
		data, modelPath, notify, ann string
		keep                         int
		incremental                  bool
		minNDCG                      float64
		cfg                          tower.Config
		hnsw                         index.HNSWOptions
	)
	cmd := &cobra.Command{
		Use:   "rebuild --data DATA [--model F] [--notify URL]",
		Short: "Train the model, index every item and publish a new snapshot",
		Long: `Read the store in DATA, train the two-tower model (or reuse --model), embed
every item, build the vector and text indexes, and write them as a new
snapshot in DATA/snapshots: complete or not at all. The newest --keep
snapshots are kept.

While a server holds the store, pass its address with --notify: the rebuild
reads a consistent copy of the store through it (GET /admin/backup) and
asks it to swap to the new snapshot (POST /admin/snapshots/reload), both
with DUET_ADMIN_TOKEN. A server also picks up a new snapshot on its own.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usagef("--data is required")
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			start := time.Now()
			unlock, err := lockRebuild(data)
			if err != nil {
				return err
			}
			defer unlock()
			removeLeftovers(data)
			var times []string
			timed := func(stage string, took time.Duration) {
				times = append(times, fmt.Sprintf("%s %.1fs (peak %s)", stage, took.Seconds(), peakRSS()))
			}

			t := time.Now()
			st, cleanup, err := openForRebuild(ctx, data, notify)
			if err != nil {
				return err
			}
			defer cleanup()
			stats, err := st.Stats(ctx)
			if err != nil {
				return err
			}
			if incremental {
				return rebuildIncremental(ctx, out, data, st, stats.Seq, keep, notify, start)
			}
			ds, err := tower.LoadDataset(ctx, st)
			if err != nil {
				return err
			}
			timed("read", time.Since(t))
			if len(ds.Items) == 0 {
				return errors.New("rebuild: the store holds no items")
			}

			t = time.Now()
			var model *tower.Model
			meta := map[string]string{}
			if modelPath != "" {
				if model, err = loadModel(modelPath); err != nil {
					return err
				}
				meta["model"] = modelPath
			} else {
				var p tower.TrainProgress
				if model, p, err = trainModel(ctx, ds, cfg); err != nil {
					return fmt.Errorf("rebuild: train: %w", err)
				}
				meta["model"] = "trained"
				meta["epochs"] = strconv.Itoa(p.Epoch)
				meta["best_epoch"] = strconv.Itoa(p.BestEpoch)
			}
			timed("model", time.Since(t))

			// The new model against the one it replaces, on the same held-out
			// items: each user's last, for at most 2000 users.
			t = time.Now()
			_, pairs := holdOutLast(ds)
			score, err := eval.ScoreHoldout(ctx, model, ds, pairs, 10, 2000, 1)
			if err != nil {
				return err
			}
			meta["val_ndcg@10"] = fmt.Sprintf("%.4f", score.NDCG)
			meta["val_recall@10"] = fmt.Sprintf("%.4f", score.Recall)
			verdict := fmt.Sprintf("validation (%d users, each one's last item): NDCG@10 %.4f, recall@10 %.4f", score.Users, score.NDCG, score.Recall)
			if prev, _, _, err := index.LatestSnapshot(ctx, snapshotsDir(data)); err == nil {
				if pm, err := loadModel(filepath.Join(prev, "model.duet")); err == nil {
					if ps, err := eval.ScoreHoldout(ctx, pm, ds, pairs, 10, 2000, 1); err == nil {
						verdict += fmt.Sprintf("; previous model %.4f, %.4f", ps.NDCG, ps.Recall)
					}
				}
			}
			fmt.Fprintln(out, verdict)
			timed("validate", time.Since(t))
			if minNDCG > 0 && score.NDCG < minNDCG {
				return fmt.Errorf("rebuild: the new model's validation NDCG@10 %.4f is below --min-ndcg %.4f: nothing published", score.NDCG, minNDCG)
			}

			pop := map[string]float64{}
			for _, h := range ds.History {
				for _, x := range h {
					pop[ds.Items[x.Item].ID]++
				}
			}
			opts := search.BuildOptions{ANN: search.ANN(ann), HNSW: hnsw, Meta: meta, Timings: timed}
			if p := newCountProgress(); p != nil {
				opts.Progress = p
			}
			dir, err := search.BuildSnapshot(ctx, snapshotsDir(data), stats.Seq, model, ds.Items, pop, opts)
			if err != nil {
				return err
			}
			if err := index.PruneSnapshots(snapshotsDir(data), keep); err != nil {
				return fmt.Errorf("prune snapshots: %w", err)
			}
			size, _ := dirSize(dir)
			fmt.Fprintf(out, "snapshot %s: %d items, seq %d, %.1f MB, in %.1fs (%s)\n",
				dir, len(ds.Items), stats.Seq, float64(size)/1e6, time.Since(start).Seconds(), strings.Join(times, ", "))
			if notify != "" {
				if err := notifyReload(ctx, notify); err != nil {
					return fmt.Errorf("snapshot written, but the server did not reload: %w", err)
				}
				fmt.Fprintf(out, "server at %s reloaded\n", notify)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data directory holding the store")
	f.StringVar(&modelPath, "model", "", "reuse this model file instead of training")
	f.StringVar(&notify, "notify", "", "base URL of a running server (e.g. http://127.0.0.1:8080) to read the store through and reload")
	f.IntVar(&keep, "keep", 3, "snapshots to keep")
	f.Float64Var(&minNDCG, "min-ndcg", 0, "refuse to publish a model whose validation NDCG@10 is below this")
	f.BoolVar(&incremental, "incremental", false, "reuse the newest snapshot's model and indexes; embed and index only the items changed since")
	f.StringVar(&ann, "ann", "hnsw", "vector index: hnsw, exact or coder")
	f.IntVar(&hnsw.M, "m", 16, "HNSW links per node (2·M on layer 0)")
	f.IntVar(&hnsw.EfConstruction, "ef-construction", 200, "HNSW construction width")
	f.IntVar(&hnsw.EfSearch, "ef-search", 64, "HNSW search width")
	modelFlags(cmd, &cfg)
	return cmd
}

// removeLeftovers removes what killed rebuilds left: store copies read
// through a server, and half-written snapshots (never loaded, as they have
// no snapshot name, but they take space). The rebuild lock is held.
func removeLeftovers(data string) {
	stale, _ := filepath.Glob(filepath.Join(data, ".backup-*.db"))
	tmps, _ := filepath.Glob(filepath.Join(snapshotsDir(data), ".tmp-*"))
	for _, p := range append(stale, tmps...) {
		os.RemoveAll(p)
	}
}

// openForRebuild opens the store; when a server holds it, it reads a
// consistent copy through the server instead.
func openForRebuild(ctx context.Context, data, notify string) (*content.Store, func(), error) {
	st, err := content.Open(ctx, data)
	if err == nil {
		return st, func() { st.Close() }, nil
	}
	if !errors.Is(err, content.ErrLocked) {
		return nil, nil, err
	}
	if notify == "" {
		return nil, nil, fmt.Errorf("%w; pass the running server's address with --notify to read the store through it", err)
	}
	tmp, err := os.CreateTemp(data, ".backup-*.db")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { os.Remove(tmp.Name()) }
	err = fetchBackup(ctx, notify, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		remove()
		return nil, nil, fmt.Errorf("read the store through %s: %w", notify, err)
	}
	st, err = content.OpenFile(ctx, tmp.Name())
	if err != nil {
		remove()
		return nil, nil, err
	}
	return st, func() { st.Close(); remove() }, nil
}

func adminRequest(ctx context.Context, method, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+os.Getenv("DUET_ADMIN_TOKEN"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

func fetchBackup(ctx context.Context, base string, w io.Writer) error {
	resp, err := adminRequest(ctx, "GET", strings.TrimRight(base, "/")+"/admin/backup")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := io.Copy(bw, resp.Body); err != nil {
		return err
	}
	if resp.Trailer.Get("X-Duet-Seq") == "" {
		return errors.New("the backup was cut short")
	}
	return bw.Flush()
}

func notifyReload(ctx context.Context, base string) error {
	resp, err := adminRequest(ctx, "POST", strings.TrimRight(base, "/")+"/admin/snapshots/reload")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func loadModel(path string) (*tower.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := tower.Load(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}

// rebuildIncremental loads the newest snapshot, applies the item changes
// the store took since it was built (the same path live edits take), and
// saves the result as a new snapshot.
func rebuildIncremental(ctx context.Context, out io.Writer, data string, st *content.Store, seq uint64, keep int, notify string, start time.Time) error {
	prev, m, _, err := index.LatestSnapshot(ctx, snapshotsDir(data))
	if err != nil {
		return fmt.Errorf("incremental rebuild needs a snapshot: %w", err)
	}
	work, err := os.MkdirTemp(data, liveDirPrefix)
	if err != nil {
		return err
	}
	snap, err := search.LoadSnapshot(ctx, prev, work, st, search.Options{})
	if err != nil {
		return err
	}
	defer snap.Close()
	changes, err := st.ChangesSince(ctx, m.Seq, 0)
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, ch := range changes {
		changed[ch.ItemID] = true
	}
	for id := range changed {
		it, err := st.Item(ctx, id)
		switch {
		case err == nil:
			err = snap.ItemPut(ctx, it)
		case errors.Is(err, content.ErrNotFound):
			err = snap.ItemDeleted(ctx, id)
		}
		if err != nil {
			return fmt.Errorf("apply change to %q: %w", id, err)
		}
	}
	pop := map[string]float64{}
	if err := st.ForEachEvent(ctx, func(ev content.Event) error {
		pop[ev.ItemID]++
		return nil
	}); err != nil {
		return err
	}
	dir, err := snap.SaveAs(ctx, snapshotsDir(data), seq, pop, map[string]string{"incremental_from": filepath.Base(prev)})
	if err != nil {
		return err
	}
	if err := index.PruneSnapshots(snapshotsDir(data), keep); err != nil {
		return fmt.Errorf("prune snapshots: %w", err)
	}
	fmt.Fprintf(out, "snapshot %s: %d items changed since %s, seq %d, in %.1fs\n", dir, len(changed), filepath.Base(prev), seq, time.Since(start).Seconds())
	if notify != "" {
		if err := notifyReload(ctx, notify); err != nil {
			return fmt.Errorf("snapshot written, but the server did not reload: %w", err)
		}
		fmt.Fprintf(out, "server at %s reloaded\n", notify)
	}
	return nil
}

// peakRSS is the process's peak resident memory so far, from
// /proc/self/status, or "?" where that is not available.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.Fields(v)[0])
			if err == nil {
				return fmt.Sprintf("%d MB", kb/1024)
			}
		}
	}
	return "?"
}
