// Command duet is Duet's one binary: it generates demo data, imports
// catalogues and behaviour logs, trains and evaluates the two-tower model,
// rebuilds the indexes, serves the HTTP API, and runs the benchmarks. It
// only wires flags to the library packages (tools/rebuild, tools/bench,
// search/eval, …), draws progress bars and prints.
//
// Exit status: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(root.ErrOrStderr(), "duet:", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(root.ErrOrStderr(), "Run 'duet --help' or 'duet COMMAND --help' for usage.")
		return 2
	}
	return 1
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "duet",
		Short:         "Duet: a retrieval engine for recommendation and personalised search",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{errors.New("a command is required")}
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(newGenCmd(), newImportCmd(), newTrainCmd(), newRebuildCmd(), newServeCmd(), newBenchCmd(), newDumpCmd(), newRestoreCmd(), newEvalCmd())
	return root
}

// usageError marks a command line that cannot be run as given.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}
