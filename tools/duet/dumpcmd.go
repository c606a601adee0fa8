package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
)

func newDumpCmd() *cobra.Command {
	var data, out string
	cmd := &cobra.Command{
		Use:   "dump --data DATA --out DIR",
		Short: "Write the catalog and event log as zstd-compressed JSONL and CSV",
		Long: `Write DIR/items.jsonl.zst (every item with its times, in id order),
DIR/events.csv.zst (every event, by user and time) and DIR/dump.json, from
one consistent read of the store. Dumping the same store twice gives the
same bytes. duet restore reads it back.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" || out == "" {
				return usagef("--data and --out are required")
			}
			ctx := cmd.Context()
			st, err := content.Open(ctx, data)
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
	cmd.Flags().StringVar(&data, "data", "", "data directory holding the store")
	cmd.Flags().StringVar(&out, "out", "", "directory to write the dump to")
	return cmd
}

func newRestoreCmd() *cobra.Command {
	var data, from string
	cmd := &cobra.Command{
		Use:   "restore --data DATA --from DIR",
		Short: "Load a dump into an empty data directory",
		Long: `Read a dump written by duet dump into the store in DATA, which must be
empty. The dump is checked whole before anything is written.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" || from == "" {
				return usagef("--data and --from are required")
			}
			ctx := cmd.Context()
			st, err := content.Open(ctx, data)
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
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d items and %d events into %s in %.2fs\n", n.Items, n.Events, data, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "empty data directory to restore into")
	cmd.Flags().StringVar(&from, "from", "", "directory holding the dump")
	return cmd
}
