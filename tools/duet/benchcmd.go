package main

import "github.com/spf13/cobra"

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench ann|search|text|http|snapshot [...]",
		Short: "Measure speed and quality: the vector index, the ranker, the text index, the HTTP server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("bench needs one of: ann, search, text, http, snapshot")
		},
	}
	cmd.AddCommand(newBenchANNCmd(), newBenchSearchCmd(), newBenchTextCmd(), newBenchHTTPCmd(), newBenchSnapshotCmd())
	return cmd
}
