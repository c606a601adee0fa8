package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
)

func newDumpCmd() *cobra.Command {
	var store storeFlags
	var out string
	cmd := &cobra.Command{
		Use:   "dump (--data DATA | --store URL) --out DIR",
		Short: "Write the catalog and event log as zstd-compressed JSONL and CSV",
		Long: `Write DIR/items.jsonl.zst (every item with its times, in id order),
DIR/events.csv.zst (every event, by user and time), DIR/vocabulary.json
(the editors' synonyms and stop words) and DIR/dump.json, from one
consistent read of the store. Dumping the same store twice gives the
same bytes. duet restore reads it back.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.check(false); err != nil {
				return err
			}
			if out == "" {
				return usagef("--out is required")
			}
			ctx := cmd.Context()
			st, err := store.openReading(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			start := time.Now()
			n, err := content.Dump(ctx, st, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dumped %d items and %d events (seq %d) to %s in %.2fs\n", n.Items, n.Events, n.Seq, out, time.Since(start).Seconds())
			return nil
		},
	}
	store.register(cmd.Flags(), "data directory holding the store")
	cmd.Flags().StringVar(&out, "out", "", "directory to write the dump to")
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var store storeFlags
	var from string
	cmd := &cobra.Command{
		Use:   "restore (--data DATA | --store URL) --from DIR",
		Short: "Load a dump into an empty store",
		Long: `Read a dump written by duet dump into the store in DATA (or the
PostgreSQL store at --store), which must be empty. The dump is checked whole
before anything is written. A dump of either kind of store restores into
either.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.check(false); err != nil {
				return err
			}
			if from == "" {
				return usagef("--from is required")
			}
			ctx := cmd.Context()
			st, err := store.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			start := time.Now()
			var p content.Progress
			if bp := newProgress(); bp != nil {
				p = bp
			}
			n, err := content.Restore(ctx, st, from, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d items and %d events into %s in %.2fs\n", n.Items, n.Events, store.where(), time.Since(start).Seconds())
			return nil
		},
	}
	store.register(cmd.Flags(), "empty data directory to restore into")
	cmd.Flags().StringVar(&from, "from", "", "directory holding the dump")
	return cmd
}
