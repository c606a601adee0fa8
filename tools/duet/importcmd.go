package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
)

func newImportCmd() *cobra.Command {
	var (
		store                    storeFlags
		movielens, items, events string
		skipBad                  bool
		batch                    int
	)
	cmd := &cobra.Command{
		Use:   "import (--data DATA | --store URL) (--movielens DIR | --items F [--events F])",
		Short: "Import a catalog and behaviour log into the store",
		Long: `Import items and events into the store in DATA.

Either the MovieLens layout (movies.csv, ratings.csv and optionally tags.csv
in one directory: genres become categories, tags become item tags, ratings
become "rating" events), or the generic format (items.jsonl and events.csv,
see docs/DATA.md). Every row is checked before anything is written: a
malformed row stops the import with file:line and a reason and leaves the
store unchanged, unless --skip-bad skips and counts it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.check(false); err != nil {
				return err
			}
			if (movielens == "") == (items == "" && events == "") {
				return usagef("give either --movielens DIR or --items/--events files")
			}
			ctx := cmd.Context()
			st, err := store.open(ctx)
			if err != nil {
				return err
			}
			opts := content.ImportOptions{SkipBad: skipBad, BatchSize: batch}
			if p := newProgress(); p != nil {
				opts.Progress = p
			}
			start := time.Now()
			var rep content.ImportReport
			if movielens != "" {
				rep, err = content.ImportMovieLens(ctx, st, movielens, opts)
			} else {
				rep, err = content.ImportGeneric(ctx, st, items, events, opts)
			}
			if cerr := st.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			el := time.Since(start)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "imported %d items", rep.Items)
			if movielens != "" || events != "" {
				fmt.Fprintf(out, ", %d events from %d users", rep.Events, rep.Users)
			}
			if rep.TagRows > 0 {
				fmt.Fprintf(out, ", %d tags attached (%d distinct item tags", rep.TagRows, rep.DistinctTag)
				if rep.TagsDropped > 0 {
					fmt.Fprintf(out, ", %d over the limit of %d dropped", rep.TagsDropped, content.MaxTags)
				}
				fmt.Fprint(out, ")")
			}
			fmt.Fprintf(out, " in %.2fs (%.0f records/s)\n", el.Seconds(), float64(rep.Items+rep.Events)/el.Seconds())
			if rep.Skipped > 0 {
				fmt.Fprintf(out, "skipped %d bad rows:\n", rep.Skipped)
				for _, r := range rep.SkippedRows {
					fmt.Fprintln(out, "  "+r)
				}
				if rep.Skipped > len(rep.SkippedRows) {
					fmt.Fprintf(out, "  … and %d more\n", rep.Skipped-len(rep.SkippedRows))
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	store.register(f, "data directory holding the store (created if absent)")
	f.StringVar(&movielens, "movielens", "", "directory in the MovieLens CSV layout")
	f.StringVar(&items, "items", "", "items file in the generic items.jsonl format")
	f.StringVar(&events, "events", "", "events file in the generic events.csv format")
	f.BoolVar(&skipBad, "skip-bad", false, "skip and count malformed rows instead of stopping")
	f.IntVar(&batch, "batch", 10000, "records per transaction")
	return cmd
}
