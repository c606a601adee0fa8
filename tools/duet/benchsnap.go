package main

import (
	"github.com/spf13/cobra"

	"github.com/duetrec/duet/tools/bench"
)

func newBenchSnapshotCmd() *cobra.Command {
	var (
		data, jsonOut string
		repeats       int
		loadOnly      bool
	)
	cmd := &cobra.Command{
		Use:   "snapshot --data DATA [--repeats N] [--load-only]",
		Short: "Measure the newest snapshot: its files, load and write time, zstd ratios",
		Long: `Measure the newest complete snapshot of DATA: the size of each of its files
(Bleve's grouped as the text index); the time to verify it (the SHA-256 of
every file) and to load it as the server does (model, vectors and graph,
catalog, text index), the median of --repeats, with the peak resident memory;
the time to write it again through the writer an incremental rebuild
publishes with, into a temporary directory; and how well zstd compresses
its parts (the vector index's ids, raw vectors and neighbour lists, the
model) and the whole snapshot as one tar archive, at zstd's default and best
levels. --load-only times the loads alone (with --repeats 1, a fresh
process's load, as a server's start is). DATA is only read: the store is not opened, and the loads and writes
go to temporary directories.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usagef("--data is required")
			}
			if repeats < 1 {
				return usagef("--repeats must be at least 1")
			}
			rep, err := bench.RunSnapshot(cmd.Context(), data, bench.SnapshotOptions{Repeats: repeats, LoadOnly: loadOnly})
			if err != nil {
				return err
			}
			return finishBench(cmd.OutOrStdout(), rep, jsonOut)
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data directory with snapshots")
	f.IntVar(&repeats, "repeats", 3, "times to verify, load and write the snapshot (the median is reported)")
	f.BoolVar(&loadOnly, "load-only", false, "time the loads alone: no verify on its own, no write, no compression")
	f.StringVar(&jsonOut, "json", "", "write every figure to this JSON file")
	return cmd
}
