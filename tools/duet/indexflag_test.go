package main

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/spf13/cobra"
)

// --index takes a Weaviate URL alone; bad ones are usage errors before
// anything is opened.
func TestIndexFlag_Usage(t *testing.T) {
	for _, c := range []struct {
		cmd  func() *cobra.Command
		args []string
	}{
		{newRebuildCmd, []string{"--data", t.TempDir(), "--index", "http://127.0.0.1:8080"}},
		{newRebuildCmd, []string{"--data", t.TempDir(), "--index", "weaviate://127.0.0.1:1", "--replicas", "0"}},
		{newServeCmd, []string{"--data", t.TempDir(), "--index", "127.0.0.1:8080"}},
	} {
		cmd := c.cmd()
		cmd.SetArgs(c.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		err := cmd.ExecuteContext(context.Background())
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", c.args, err)
		}
	}
}

func TestEvalIndexFlag_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"--data", t.TempDir(), "--task", "search", "--index", "http://127.0.0.1:8080"},
		{"--data", t.TempDir(), "--task", "rank", "--models", "pop", "--index", "weaviate://127.0.0.1:1"},
		{"--data", t.TempDir(), "--task", "search", "--index", "weaviate://127.0.0.1:1", "--shards", "0"},
	} {
		cmd := newEvalCmd()
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		var ue usageError
		if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
