package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/server"
)

// liveDirPrefix names the working copies of loaded snapshots' text indexes
// in the data directory.
const liveDirPrefix = ".live-"

// watchEvery is how often the server looks for a new snapshot.
const watchEvery = 2 * time.Second

// snapshotBackend serves a loaded snapshot.
type snapshotBackend struct{ *search.Snapshot }

func (b snapshotBackend) Info() server.BackendInfo {
	return server.BackendInfo{Snapshot: b.Dir, Seq: b.Manifest.Seq, Items: b.Manifest.Items}
}

func newServeCmd() *cobra.Command {
	var (
		data, addr string
		trusted    []string
		rate       float64
	)
	cmd := &cobra.Command{
		Use:   "serve --data DATA [--addr 127.0.0.1:8080]",
		Short: "Serve the HTTP API",
		Long: `Serve Duet's HTTP API over the store in DATA until SIGINT or SIGTERM, then
drain in-flight requests and close the store.

Tokens come from the environment: DUET_EDITOR_TOKEN (item writes),
DUET_EVENTS_TOKEN (event ingest), DUET_ADMIN_TOKEN (admin routes) and
DUET_READ_TOKEN (reads; open when unset). Routes whose token is unset refuse
every request.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usagef("--data is required")
			}
			ctx := cmd.Context()
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			st, err := content.Open(ctx, data)
			if err != nil {
				return err
			}
			defer st.Close()
			loader := func(ctx context.Context) (server.Backend, error) {
				dir, _, skipped, err := index.LatestSnapshot(ctx, snapshotsDir(data))
				for _, e := range skipped {
					log.Warn("skipping a snapshot", "err", e)
				}
				if err != nil {
					return nil, err
				}
				work, err := os.MkdirTemp(data, liveDirPrefix)
				if err != nil {
					return nil, err
				}
				snap, err := search.LoadSnapshot(ctx, dir, work, st, search.Options{})
				if err != nil {
					return nil, err
				}
				return snapshotBackend{snap}, nil
			}
			srv, err := server.New(st, server.Config{
				EditorToken:    os.Getenv("DUET_EDITOR_TOKEN"),
				AdminToken:     os.Getenv("DUET_ADMIN_TOKEN"),
				EventsToken:    os.Getenv("DUET_EVENTS_TOKEN"),
				ReadToken:      os.Getenv("DUET_READ_TOKEN"),
				TrustedProxies: trusted,
				SearchRate:     rate,
				Logger:         log,
			}, server.WithLoader(loader))
			if err != nil {
				return usagef("%v", err)
			}
			// Working copies left by a server that did not stop cleanly.
			if stale, _ := filepath.Glob(filepath.Join(data, liveDirPrefix+"*")); len(stale) > 0 {
				for _, d := range stale {
					os.RemoveAll(d)
				}
			}
			if _, err := srv.Reload(ctx); err != nil {
				log.Warn("serving without an index until a snapshot is built (duet rebuild)", "err", err)
			}
			go srv.Watch(ctx, watchEvery, func() string {
				dirs, _ := index.Snapshots(snapshotsDir(data))
				if len(dirs) == 0 {
					return ""
				}
				return dirs[0]
			})
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			base := "http://" + ln.Addr().String()
			if strings.HasPrefix(addr, ":") {
				base = "http://localhost" + addr
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s\n  playground: %s/\n  editor:     %s/editor\n  API docs:   %s/openapi.json\n", data, base, base, base)
			err = srv.Serve(ctx, ln)
			if cerr := srv.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data directory holding the store")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.Float64Var(&rate, "search-rate", 200, "searches per second allowed to one client (burst twice that); -1 turns the limit off")
	f.StringSliceVar(&trusted, "trusted-proxy", nil, "CIDR range of a proxy allowed to set X-Forwarded-For (repeatable)")
	return cmd
}
