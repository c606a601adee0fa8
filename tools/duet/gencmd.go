package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
)

func newGenCmd() *cobra.Command {
	var (
		out          string
		items, users int
		medianEvents int
		seed         uint64
	)
	cmd := &cobra.Command{
		Use:   "gen --out DIR [--items N] [--users M] [--median-events E] [--seed S]",
		Short: "Generate the synthetic demo data set in the generic format",
		Long: `Write DIR/items.jsonl and DIR/events.csv: a deterministic synthetic catalog
(titles, descriptions and tags from per-topic vocabularies, Zipf-like
popularity) and behaviour log (users with a mix of topics whose interests
drift over time). The same flags always give the same bytes.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			if items < 1 || users < 1 {
				return usagef("--items and --users must be at least 1")
			}
			if medianEvents < 5 || medianEvents > 200 {
				return usagef("--median-events must be 5 to 200, got %d", medianEvents)
			}
			start := time.Now()
			st, err := content.GenerateFiles(cmd.Context(), out, content.GenOptions{Items: items, Users: users, Seed: seed, MedianEvents: medianEvents})
			if err != nil {
				return err
			}
			itemsPath, eventsPath := filepath.Join(out, content.GenItemsFile), filepath.Join(out, content.GenEventsFile)
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d items to %s and %d events from %d users to %s in %.2fs\n",
				st.Items, itemsPath, st.Events, st.Users, eventsPath, time.Since(start).Seconds())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write items.jsonl and events.csv to")
	f.IntVar(&items, "items", 5000, "number of items")
	f.IntVar(&users, "users", 1000, "number of users")
	f.IntVar(&medianEvents, "median-events", 20, "median events a user has (log-normal: the mean is about 1.6 times it)")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	return cmd
}
