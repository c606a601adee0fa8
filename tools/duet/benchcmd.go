package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench ann|filter|search|text|http|snapshot [...]",
		Short: "Measure speed and quality: the vector index, the ranker, the text index, the HTTP server",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("bench needs one of: ann, search, text, http, snapshot")
		},
	}
	cmd.AddCommand(newBenchANNCmd(), newBenchSearchCmd(), newBenchTextCmd(), newBenchHTTPCmd(), newBenchSnapshotCmd(), newBenchFilterCmd())
	return cmd
}

// benchReport is a report of tools/bench.
type benchReport interface {
	WriteJSON(path string) error
}

// finishBench prints the report's table, for the reports that print
// theirs at the end, and writes its JSON file when one is asked for.
func finishBench(w io.Writer, rep benchReport, jsonPath string) error {
	if t, ok := rep.(interface{ WriteText(io.Writer) error }); ok {
		if err := t.WriteText(w); err != nil {
			return err
		}
	}
	if jsonPath == "" {
		return nil
	}
	return rep.WriteJSON(jsonPath)
}
