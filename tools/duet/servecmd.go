package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/server"
)

func newServeCmd() *cobra.Command {
	var (
		data, addr string
		trusted    []string
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
			srv, err := server.New(st, server.Config{
				EditorToken:    os.Getenv("DUET_EDITOR_TOKEN"),
				AdminToken:     os.Getenv("DUET_ADMIN_TOKEN"),
				EventsToken:    os.Getenv("DUET_EVENTS_TOKEN"),
				ReadToken:      os.Getenv("DUET_READ_TOKEN"),
				TrustedProxies: trusted,
				Logger:         log,
			})
			if err != nil {
				return usagef("%v", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			base := "http://" + ln.Addr().String()
			if strings.HasPrefix(addr, ":") {
				base = "http://localhost" + addr
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s\n  API docs: %s/openapi.json\n", data, base)
			return srv.Serve(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data directory holding the store")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringSliceVar(&trusted, "trusted-proxy", nil, "CIDR range of a proxy allowed to set X-Forwarded-For (repeatable)")
	return cmd
}
