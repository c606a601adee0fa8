package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/search"
	searcheval "github.com/duetrec/duet/search/eval"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/eval"
)

// twoTowerModels are the two-tower variants `duet eval` knows, one per
// user encoder.
var twoTowerModels = []string{"two-tower-attention", "two-tower-mean", "two-tower-recency"}

func newEvalCmd() *cobra.Command {
	var (
		df                    dataFlags
		train, test, protocol string
		task, jsonOut         string
		models                []string
		ks                    []int
		testFrac, coldItems   float64
		seed                  uint64
		easeMax, epochs       int
		members               int
		valShape              string
		noRefit               bool
		indexURL              string
		shards, replicas      int
	)
	cmd := &cobra.Command{
		Use:   "eval (--data DATA | --store URL | --items F (--events F | --train F --test F))",
		Short: "Evaluate the two-tower model against baselines, or personalised search",
		Long: `Rank every item for every test user, the user's training items masked, and
report Recall, NDCG, HR, MRR and catalogue coverage at each K for every model:
the two-tower model (one line per user encoder) and the baselines (pop,
itemknn, ease, bpr, random), each tuned on a validation split.

Protocols: --protocol last (per user the latest interaction is the test item,
the one before it validation), --protocol random --test-frac F --seed S, or a
predefined split with --items F --train F --test F.
--cold-items F holds that share of items out of training entirely and
reports how well their content-only vectors are retrieved.

--task search is the personalised-search benchmark: for every test item, a
query of one or two words from its categories and tags, issued with the
user's history, answered by each search mode.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			predefined := train != "" || test != ""
			if predefined {
				if df.items == "" || train == "" || test == "" || df.store.data != "" || df.store.url != "" || df.events != "" {
					return usagef("a predefined split needs --items, --train and --test (and neither --data nor --events)")
				}
			} else if err := df.check(); err != nil {
				return err
			}
			if !predefined && cmd.Flags().Changed("val") {
				return usagef("--val applies to a predefined split (--train, --test); --protocol sets the shape otherwise")
			}
			if !slices.Contains([]string{eval.ValLast, eval.ValRandom, eval.ValAuto}, valShape) {
				return usagef("--val must be last, random or auto, got %q", valShape)
			}
			if task != "rank" && task != "search" {
				return usagef("--task must be rank or search")
			}
			var remote *weaviate.Client
			if indexURL != "" {
				if !weaviate.IsURL(indexURL) {
					return usagef("--index takes a weaviate://host:port[,host:port…] URL")
				}
				if task == "rank" && !slices.Contains(models, "served") {
					return usagef("--index with --task rank measures the served recommendations: include served in --models")
				}
				if shards < 1 || replicas < 1 {
					return usagef("--shards and --replicas must be at least 1")
				}
				var err error
				if remote, err = weaviate.Open(indexURL); err != nil {
					return usagef("%v", err)
				}
				defer remote.Close()
			}
			ctx := cmd.Context()
			var (
				ds  *tower.Dataset
				spl *eval.Split
				err error
			)
			switch {
			case predefined:
				ds, spl, err = eval.SplitPredefined(ctx, df.items, train, test, eval.PredefinedOptions{Val: valShape, Seed: seed})
			case protocol == "last":
				if ds, err = df.load(ctx); err == nil {
					spl = eval.SplitLast(ds)
				}
			case protocol == "random":
				if ds, err = df.load(ctx); err == nil {
					spl, err = eval.SplitRandom(ds, testFrac, seed)
				}
			default:
				return usagef("--protocol must be last or random")
			}
			if err != nil {
				return err
			}
			if coldItems > 0 {
				if spl, err = eval.HoldOutItems(spl, coldItems, seed); err != nil {
					return usagef("%v", err)
				}
			}
			if task == "search" {
				so := searcheval.SearchOptions{Epochs: epochs, Seed: seed, Weaviate: remote, Collection: weaviate.Options{Shards: shards, Replicas: replicas}}
				return evalSearch(ctx, cmd.OutOrStdout(), ds, spl, so, jsonOut)
			}
			var recs []eval.Recommender
			for _, name := range models {
				if name == "served" {
					sv := &searcheval.Served{Config: tower.Served()}
					sv.Config.Epochs, sv.Config.Seed, sv.Config.Members = epochs, seed, members
					defer sv.Close()
					recs = append(recs, sv)
					if remote != nil {
						// The same, its index in Weaviate, side by side.
						sw := &searcheval.Served{Config: sv.Config, Weaviate: remote, Collection: weaviate.Options{Shards: shards, Replicas: replicas}, Twin: sv}
						defer sw.Close()
						recs = append(recs, sw)
					}
					continue
				}
				if slices.Contains(twoTowerModels, name) {
					tt := eval.NewTwoTower(strings.TrimPrefix(name, "two-tower-"))
					tt.Config.Epochs, tt.Config.Seed, tt.Config.Members = epochs, seed, members
					recs = append(recs, tt)
					continue
				}
				r, err := eval.NewBaseline(name, seed)
				if err != nil {
					return usagef("%v", err)
				}
				if e, ok := r.(*eval.EASE); ok {
					e.MaxItems = easeMax
				}
				recs = append(recs, r)
			}
			opts := eval.Options{K: ks, NoRefit: noRefit, Progress: evalProgress(cmd.ErrOrStderr())}
			run := eval.Run
			if coldItems > 0 {
				run = eval.RunColdStart
			}
			rep, err := run(ctx, ds, spl, recs, opts)
			if err != nil {
				return err
			}
			if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
				return err
			}
			if jsonOut != "" {
				return durable.WriteFile(jsonOut, rep.WriteJSON)
			}
			return nil
		},
	}
	df.register(cmd)
	f := cmd.Flags()
	f.StringVar(&train, "train", "", "training events of a predefined split (generic events format)")
	f.StringVar(&test, "test", "", "test events of a predefined split")
	f.StringVar(&valShape, "val", eval.ValAuto, "validation carved from a predefined split's training: last (each user's latest item), random (a fifth at random) or auto (the test split's shape, from its timestamps)")
	f.BoolVar(&noRefit, "no-refit", false, "rank test users with the chosen setting as fitted on training alone, not refitted on training and validation")
	f.StringVar(&protocol, "protocol", "last", "last or random")
	f.Float64Var(&testFrac, "test-frac", 0.2, "share of each user's interactions held out for test (protocol random)")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.Float64Var(&coldItems, "cold-items", 0, "share of items held out of training entirely (cold start)")
	f.StringVar(&task, "task", "rank", "rank (recommendation) or search (personalised search)")
	f.StringVar(&indexURL, "index", "", "also measure the served path with its index in this Weaviate cluster (weaviate://host:port,…), side by side: the search modes with --task search, the served recommendations (served-weaviate) with --task rank")
	f.IntVar(&shards, "shards", 1, "with --index: shards of the collection")
	f.IntVar(&replicas, "replicas", 1, "with --index: copies of each shard")
	f.StringSliceVar(&models, "models", append(append([]string{"served"}, twoTowerModels...), "pop", "itemknn", "ease", "bpr"), "models to compare (served: what the recommendations API serves)")
	f.IntSliceVar(&ks, "k", []int{10}, "cut-offs")
	f.StringVar(&jsonOut, "json", "", "write every figure to this JSON file")
	f.IntVar(&easeMax, "ease-max-items", eval.DefaultEASEMaxItems, "skip EASE above this many items")
	f.IntVar(&epochs, "epochs", 20, "most epochs of two-tower training")
	f.IntVar(&members, "members", 1, "two-tower models from consecutive seeds joined into one (each setting of the grid trains that many)")
	return cmd
}

// evalProgress reports each model's stages on stderr when it is a terminal.
func evalProgress(w io.Writer) func(model, stage string, cand, of int, done bool) {
	if newProgress() == nil {
		return nil
	}
	start := map[string]time.Time{}
	return func(model, stage string, cand, of int, done bool) {
		key := fmt.Sprint(model, stage, cand)
		if !done {
			start[key] = time.Now()
			fmt.Fprintf(w, "\r\033[K%s: %s %d/%d…", model, stage, cand, of)
			return
		}
		fmt.Fprintf(w, "\r\033[K%s: %s %d/%d done in %.1fs", model, stage, cand, of, time.Since(start[key]).Seconds())
		if stage == "test" {
			fmt.Fprintln(w)
		}
	}
}

// evalSearch runs the personalised-search benchmark and prints it.
func evalSearch(ctx context.Context, out io.Writer, ds *tower.Dataset, spl *eval.Split, opts searcheval.SearchOptions, jsonOut string) error {
	rep, err := searcheval.Search(ctx, ds, spl, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "trained in %.1fs\n", rep.Train.Seconds())
	fmt.Fprintf(out, "personalised search, protocol %s: %d queries over %d items\n", rep.Protocol, rep.Queries, rep.Items)
	fmt.Fprintf(out, "%-16s %8s %9s\n", "mode", "mrr@10", "recall@10")
	for _, r := range rep.Modes {
		fmt.Fprintf(out, "%-16s %8.4f %9.4f\n", r.Name, r.MRR, r.Recall)
	}
	if len(rep.Weaviate) > 0 {
		fmt.Fprintf(out, "\nthe same snapshot, its index in Weaviate (published in %.1fs; near-vector recall@10 against exact %.4f):\n", rep.Publish.Seconds(), rep.WeaviateRecall)
		fmt.Fprintf(out, "%-16s %8s %9s %9s\n", "mode", "mrr@10", "recall@10", "mrr ratio")
		for i, r := range rep.Weaviate {
			fmt.Fprintf(out, "%-16s %8.4f %9.4f %9.3f\n", r.Name, r.MRR, r.Recall, r.MRR/max(rep.Modes[i].MRR, 1e-12))
		}
	}
	printVariants(out, "as a search box asks (prefix on, typos tolerated), MRR@10 / Recall@10:", rep.Modes, rep.Variants)
	if len(rep.WeaviateVariants) > 0 {
		printVariants(out, "the same, its index in Weaviate, MRR@10 / Recall@10:", rep.Modes, rep.WeaviateVariants)
	}
	if jsonOut == "" {
		return nil
	}
	return rep.WriteJSON(jsonOut)
}

// printVariants prints a table of each mode's figures in each variant.
func printVariants(out io.Writer, title string, modes []search.EvalResult, variants []searcheval.SearchVariant) {
	fmt.Fprintf(out, "\n%s\n%-16s", title, "mode")
	for _, v := range variants {
		fmt.Fprintf(out, " %21s", fmt.Sprintf("%s (%d)", v.Name, v.Changed))
	}
	fmt.Fprintln(out)
	for i, r := range modes {
		fmt.Fprintf(out, "%-16s", r.Name)
		for _, v := range variants {
			fmt.Fprintf(out, " %21s", fmt.Sprintf("%.4f / %.4f", v.Modes[i].MRR, v.Modes[i].Recall))
		}
		fmt.Fprintln(out)
	}
}
