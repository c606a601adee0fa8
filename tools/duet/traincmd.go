package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// dataFlags are the ways a command reads a catalog and behaviour log: a
// store, or files in the generic format.
type dataFlags struct {
	data, items, events string
}

func (d *dataFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&d.data, "data", "", "data directory holding the store")
	f.StringVar(&d.items, "items", "", "items file in the generic items.jsonl format (instead of --data)")
	f.StringVar(&d.events, "events", "", "events file in the generic events.csv format (with --items)")
}

func (d *dataFlags) check() error {
	if (d.data == "") == (d.items == "") {
		return usagef("give either --data DATA or --items F --events F")
	}
	if d.items != "" && d.events == "" {
		return usagef("--items needs --events")
	}
	return nil
}

func (d *dataFlags) load(ctx context.Context) (*tower.Dataset, error) {
	if d.data == "" {
		return tower.ReadDataset(ctx, d.items, d.events)
	}
	st, err := content.Open(ctx, d.data)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return tower.LoadDataset(ctx, st)
}

// holdOutLast splits each history for training: the last interaction of a
// user with at least three is the validation item that early stopping
// watches, the rest trains.
func holdOutLast(ds *tower.Dataset) ([][]int32, []tower.ValPair) {
	train := make([][]int32, len(ds.History))
	var val []tower.ValPair
	for u, h := range ds.History {
		items := make([]int32, len(h))
		for i, x := range h {
			items[i] = x.Item
		}
		if len(items) >= 3 {
			val = append(val, tower.ValPair{User: int32(u), History: items[:len(items)-1], Item: items[len(items)-1]})
			items = items[:len(items)-1]
		}
		train[u] = items
	}
	return train, val
}

// modelFlags are the training settings shared by train and rebuild.
func modelFlags(cmd *cobra.Command, cfg *tower.Config) {
	f := cmd.Flags()
	f.IntVar(&cfg.Dim, "dim", 64, "vector size (of each model, with --members)")
	f.IntVar(&cfg.Epochs, "epochs", 20, "maximum epochs (training stops early when validation stops improving)")
	f.StringVar(&cfg.Encoder, "encoder", "recency", "user tower: mean, recency or attention")
	f.IntVar(&cfg.Workers, "workers", 0, "training goroutines (0: every core)")
	f.BoolVar(&cfg.HistoryContent, "history-content", false, "train the token and category rows through history items too (about 3× slower; may help new items' content vectors)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	f.IntVar(&cfg.Members, "members", 1, "models trained from consecutive seeds and joined: vectors Members × dim long, better rankings, Members times the training time")
}

// trainModel trains on ds with a progress bar on a terminal.
func trainModel(ctx context.Context, ds *tower.Dataset, cfg tower.Config) (*tower.Model, tower.TrainProgress, error) {
	train, val := holdOutLast(ds)
	var last tower.TrainProgress
	var bar *progressbar.ProgressBar
	if newProgress() != nil {
		bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetWidth(30),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetPredictTime(true))
		defer bar.Finish()
	}
	cfg.Progress = func(p tower.TrainProgress) {
		last = p
		if bar == nil {
			return
		}
		// Every member counts its epochs at the maximum: early stopping
		// shortens the bar's work, not its length.
		if bar.GetMax() != p.Members*p.Epochs*p.Steps {
			bar.ChangeMax(p.Members * p.Epochs * p.Steps)
		}
		what := "train:"
		if p.Members > 1 {
			what = fmt.Sprintf("train model %d/%d:", p.Member, p.Members)
		}
		// Within an epoch there is no new validation figure: the bar
		// shows the best so far, which is what training keeps.
		best := "best val recall -"
		if p.BestEpoch > 0 {
			best = fmt.Sprintf("best val recall %.4f (epoch %d)", p.BestRecall, p.BestEpoch)
		}
		bar.Describe(fmt.Sprintf("%s epoch %d/%d loss %.4f %s %.0f ex/s",
			what, p.Epoch, p.Epochs, p.Loss, best, p.ExamplesPerSec))
		bar.Set(((p.Member-1)*p.Epochs+p.Epoch-1)*p.Steps + p.Step)
	}
	m, err := tower.Train(ctx, ds, train, val, cfg)
	return m, last, err
}

func newTrainCmd() *cobra.Command {
	var (
		df  dataFlags
		out string
		cfg tower.Config
	)
	cmd := &cobra.Command{
		Use:   "train (--data DATA | --items F --events F) --out MODEL",
		Short: "Train the two-tower model and write a model file",
		Long: `Train the two-tower model on a store or on files in the generic format.
Each user's last interaction is held out to watch validation Recall@10;
training stops when it stops improving and keeps the best epoch.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := df.check(); err != nil {
				return err
			}
			if out == "" {
				return usagef("--out is required")
			}
			ctx := cmd.Context()
			start := time.Now()
			ds, err := df.load(ctx)
			if err != nil {
				return err
			}
			m, p, err := trainModel(ctx, ds, cfg)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			if err := writeFilesAtomically([]string{out}, func(w []*bufio.Writer) error { return m.Save(w[0]) }); err != nil {
				return fmt.Errorf("write model: %w", err)
			}
			fi, _ := os.Stat(out)
			models := ""
			if p.Members > 1 {
				models = fmt.Sprintf("%d models, the last ", p.Members)
			}
			best := "no validation pairs"
			if p.BestEpoch > 0 {
				best = fmt.Sprintf("best epoch %d (validation recall@10 %.4f)", p.BestEpoch, p.BestRecall)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trained on %d items, %d users, %d interactions: %s%d epochs, %s in %.1fs; wrote %s (%d bytes)\n",
				len(ds.Items), len(ds.Users), ds.Interactions(), models, p.Epoch, best, time.Since(start).Seconds(), out, fi.Size())
			return nil
		},
	}
	df.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "model file to write")
	modelFlags(cmd, &cfg)
	return cmd
}
