package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/tower"
)

// dataFlags are the ways a command reads a catalog and behaviour log: a
// store, or files in the generic format.
type dataFlags struct {
	store         storeFlags
	items, events string
}

func (d *dataFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	d.store.register(f, "data directory holding the store")
	f.StringVar(&d.items, "items", "", "items file in the generic items.jsonl format (instead of --data)")
	f.StringVar(&d.events, "events", "", "events file in the generic events.csv format (with --items)")
}

func (d *dataFlags) check() error {
	if d.store.url != "" && !content.IsURL(d.store.url) {
		return usagef("--store must be a postgres:// or postgresql:// URL")
	}
	if (d.store.data == "" && d.store.url == "") == (d.items == "") {
		return usagef("give either --data DATA (or --store URL) or --items F --events F")
	}
	if d.items != "" && d.events == "" {
		return usagef("--items needs --events")
	}
	return nil
}

func (d *dataFlags) load(ctx context.Context) (*tower.Dataset, error) {
	if d.items != "" {
		return tower.ReadDataset(ctx, d.items, d.events)
	}
	st, err := d.store.openReading(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return tower.LoadDataset(ctx, st)
}

// modelFlags are the training settings shared by train and rebuild, their
// defaults def's encoder and objective. The returned func completes cfg
// from the flags, to be called before training: the set objective brings
// its own optimiser and schedule (tower.Config.WithSetObjective).
func modelFlags(cmd *cobra.Command, cfg *tower.Config, def tower.Config) func() error {
	f := cmd.Flags()
	f.IntVar(&cfg.Dim, "dim", 64, "vector size (of each model, with --members)")
	f.IntVar(&cfg.Epochs, "epochs", 20, "maximum epochs (training stops early when validation stops improving)")
	f.StringVar(&cfg.Encoder, "encoder", def.Encoder, "user tower: mean, recency or attention")
	f.StringVar(&cfg.Objective, "objective", def.Objective, "training objective: next (each user's next item) or set (items held out of the whole history)")
	f.IntVar(&cfg.Workers, "workers", 0, "training goroutines (0: every core)")
	f.BoolVar(&cfg.HistoryContent, "history-content", false, "train the token and category rows through history items too (about 3× slower; may help new items' content vectors)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	f.IntVar(&cfg.Members, "members", 1, "models trained from consecutive seeds and joined: vectors Members × dim long, better rankings, Members times the training time")
	return func() error {
		switch cfg.Objective {
		case tower.ObjectiveNext:
		case tower.ObjectiveSet:
			*cfg = cfg.WithSetObjective(tower.Served().Temperature)
		default:
			return usagef("--objective must be next or set, got %q", cfg.Objective)
		}
		return nil
	}
}

// trainBar draws training progress on stderr when it is a terminal, from
// the first report to done.
type trainBar struct{ bar *progressbar.ProgressBar }

// newTrainBar returns a bar, or nil when stderr is not a terminal; a nil
// bar's methods do nothing.
func newTrainBar() *trainBar {
	if newProgress() == nil {
		return nil
	}
	return &trainBar{}
}

// report is the tower.Config.Progress of the bar, nil without one.
func (b *trainBar) report() func(tower.TrainProgress) {
	if b == nil {
		return nil
	}
	return func(p tower.TrainProgress) {
		if b.bar == nil {
			b.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(), progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetPredictTime(true))
		}
		// Every member counts its epochs at the maximum: early stopping
		// shortens the bar's work, not its length.
		if b.bar.GetMax() != p.Members*p.Epochs*p.Steps {
			b.bar.ChangeMax(p.Members * p.Epochs * p.Steps)
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
		b.bar.Describe(fmt.Sprintf("%s epoch %d/%d loss %.4f %s %.0f ex/s",
			what, p.Epoch, p.Epochs, p.Loss, best, p.ExamplesPerSec))
		b.bar.Set(((p.Member-1)*p.Epochs+p.Epoch-1)*p.Steps + p.Step)
	}
}

// done ends the bar's line, once.
func (b *trainBar) done() {
	if b != nil && b.bar != nil {
		b.bar.Finish()
		b.bar = nil
	}
}

func newTrainCmd() *cobra.Command {
	var (
		df            dataFlags
		out           string
		cfg           tower.Config
		completeModel func() error
	)
	cmd := &cobra.Command{
		Use:   "train (--data DATA | --store URL | --items F --events F) --out MODEL",
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
			if err := completeModel(); err != nil {
				return err
			}
			ctx := cmd.Context()
			start := time.Now()
			ds, err := df.load(ctx)
			if err != nil {
				return err
			}
			bar := newTrainBar()
			cfg.Progress = bar.report()
			m, p, err := tower.Fit(ctx, ds, cfg)
			bar.done()
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			if err := durable.WriteFile(out, m.Save); err != nil {
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
	completeModel = modelFlags(cmd, &cfg, tower.Config{Encoder: tower.EncoderRecency, Objective: tower.ObjectiveNext})
	return cmd
}
