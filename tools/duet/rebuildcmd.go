package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/duetrec/duet/index/weaviate"
	searcheval "github.com/duetrec/duet/search/eval"
	"github.com/duetrec/duet/tower"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/tools/rebuild"
)

func newRebuildCmd() *cobra.Command {
	var (
		opts          rebuild.Options
		ann           string
		completeModel func() error
	)
	cmd := &cobra.Command{
		Use:   "rebuild --data DATA [--store URL [--publish DIR|URL]] [--index weaviate://…] [--model F] [--notify URL]",
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
			store := storeFlags{data: opts.Data, url: opts.Store}
			if err := store.check(true); err != nil {
				return err
			}
			if opts.Index != "" && !weaviate.IsURL(opts.Index) {
				return usagef("--index must be a weaviate://host:port[,host:port…] URL")
			}
			if opts.MaxDrop < 0 || opts.MaxDrop >= 1 {
				return usagef("--max-drop must be from 0 to below 1")
			}
			if opts.Collection.Shards < 1 || opts.Collection.Replicas < 1 {
				return usagef("--shards and --replicas must be at least 1")
			}
			switch opts.ANN = index.Kind(ann); opts.ANN {
			case index.KindHNSW, index.KindExact, index.KindCoder:
			default:
				return usagef("--ann must be hnsw, exact or coder, got %q", ann)
			}
			if err := completeModel(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			opts.AdminToken = os.Getenv("DUET_ADMIN_TOKEN")
			bar := newTrainBar()
			opts.Train.Progress = bar.report()
			if p := newCountProgress(); p != nil {
				opts.Progress = p
			}
			opts.Validated = func(v rebuild.Validation) {
				bar.done()
				line := fmt.Sprintf("validation (%d users, each one's last item): NDCG@10 %.4f, recall@10 %.4f", v.New.Users, v.New.NDCG, v.New.Recall)
				if p := v.Previous; p != nil {
					line += fmt.Sprintf("; previous model %.4f, %.4f", p.NDCG, p.Recall)
				}
				fmt.Fprintln(out, line)
			}
			rep, err := rebuild.Run(cmd.Context(), opts)
			bar.done()
			if rep != nil && rep.Snapshot != "" && !opts.Incremental {
				fmt.Fprintln(out, servedLine(rep))
			}
			if rep != nil && rep.Snapshot != "" {
				if opts.Incremental {
					fmt.Fprintf(out, "snapshot %s: %d items changed since %s, seq %d, in %.1fs\n", rep.Snapshot, rep.Changed, rep.From, rep.Seq, rep.Took.Seconds())
				} else {
					var stages []string
					for _, s := range rep.Stages {
						stages = append(stages, fmt.Sprintf("%s %.1fs (peak %s)", s.Name, s.Took.Seconds(), s.PeakRSS))
					}
					fmt.Fprintf(out, "snapshot %s: %d items, seq %d, %.1f MB, in %.1fs (%s)\n",
						rep.Snapshot, rep.Items, rep.Seq, float64(rep.Bytes)/1e6, rep.Took.Seconds(), strings.Join(stages, ", "))
				}
				if rep.Collection != "" {
					fmt.Fprintf(out, "index in Weaviate collection %s (%d shards, %d replicas)\n", rep.Collection, opts.Collection.Shards, opts.Collection.Replicas)
				}
				if len(rep.Dropped) > 0 {
					fmt.Fprintf(out, "dropped unused collections: %s\n", strings.Join(rep.Dropped, ", "))
				}
				if rep.Published != "" {
					fmt.Fprintf(out, "published to the servers sharing the store, from %s\n", rep.Published)
				}
				if rep.Reloaded {
					fmt.Fprintf(out, "server at %s reloaded\n", opts.Notify)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Data, "data", "", "data directory holding the store and the snapshots")
	f.StringVar(&opts.Store, "store", "", storeUsage)
	f.StringVar(&opts.Publish, "publish", "", "with --store: where the servers sharing it fetch the snapshot from: a directory holding the snapshots by name, or a server's http(s) URL (default: this data directory's snapshots)")
	f.StringVar(&opts.Model, "model", "", "reuse this model file instead of training")
	f.StringVar(&opts.Notify, "notify", "", "base URL of a running server (e.g. http://127.0.0.1:8080) to read the store through and reload")
	f.IntVar(&opts.Keep, "keep", 3, "snapshots to keep")
	f.Float64Var(&opts.MinNDCG, "min-ndcg", 0, "refuse to publish a model whose validation NDCG@10 is below this")
	f.Float64Var(&opts.MaxDrop, "max-drop", 0, "refuse to publish a model whose validation NDCG@10 is more than this share (0.05: 5%) below the model in service's; 0: no check")
	f.BoolVar(&opts.Incremental, "incremental", false, "reuse the newest snapshot's model and indexes; embed and index only the items changed since")
	f.StringVar(&ann, "ann", "hnsw", "vector index: hnsw, exact or coder")
	f.StringVar(&opts.Index, "index", "", indexUsage)
	f.IntVar(&opts.Collection.Shards, "shards", 1, "with --index: shards of the new collection (BM25 statistics are per shard)")
	f.IntVar(&opts.Collection.Replicas, "replicas", 1, "with --index: copies of each shard (3 survives a node lost)")
	f.IntVar(&opts.HNSW.M, "m", 16, "HNSW links per node (2·M on layer 0)")
	f.IntVar(&opts.HNSW.EfConstruction, "ef-construction", 200, "HNSW construction width")
	f.IntVar(&opts.HNSW.EfSearch, "ef-search", 64, "HNSW search width")
	f.BoolVar(&opts.Tune, "tune", true, "choose the sources' weights and fusion on validation held out of the store's data (each user's last item, and a random fifth)")
	f.DurationVar(&opts.TuneBudget, "tune-budget", 10*time.Minute, "most time spent choosing; past it the choices scored so far count, or the defaults")
	completeModel = modelFlags(cmd, &opts.Train, tower.Served())
	return cmd
}

// servedLine says what the new snapshot serves and how it scored.
func servedLine(rep *rebuild.Report) string {
	var ws []string
	for _, name := range search.Sources {
		if w := rep.Served.Sources[name]; w > 0 {
			ws = append(ws, fmt.Sprintf("%s %g", name, w))
		}
	}
	line := fmt.Sprintf("served: %s, %s fusion; neighbours %s", strings.Join(ws, ", "), rep.Served.Fusion, rep.Neighbours)
	switch t := rep.Tuning; {
	case t != nil:
		line += fmt.Sprintf("; chosen on %d users, %d splits: validation NDCG@10 %.4f on their last items (popular %.4f), %.4f on a random fifth (popular %.4f)",
			t.Users, t.Folds, t.NDCG[searcheval.ShapeLast], t.Popular[searcheval.ShapeLast], t.NDCG[searcheval.ShapeRandom], t.Popular[searcheval.ShapeRandom])
	case rep.TuneError != nil:
		line += fmt.Sprintf("; the defaults, as choosing failed: %v", rep.TuneError)
	default:
		line += "; the defaults"
	}
	return line
}
