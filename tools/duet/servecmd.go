package main

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/duetrec/duet/index/weaviate"
	"github.com/duetrec/duet/search/snapshot"
	"github.com/duetrec/duet/server"
	"github.com/duetrec/duet/tools/rebuild"
)

// watchEvery is how often the server looks for a new snapshot.
const watchEvery = 2 * time.Second

func newServeCmd() *cobra.Command {
	var (
		store       storeFlags
		addr        string
		trusted     []string
		rate        float64
		followEvery time.Duration
		indexURL    string
		maxLag      time.Duration
		sched       rebuild.Schedule
		maxDrop     float64
		memoryMB    int64
		rebuildArgs []string
		impressions bool
		retention   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve --data DATA [--store URL] [--index weaviate://…] [--addr 127.0.0.1:8080]",
		Short: "Serve the HTTP API",
		Long: `Serve Duet's HTTP API over the store in DATA until SIGINT or SIGTERM, then
drain in-flight requests and close the store.

Tokens come from the environment: DUET_EDITOR_TOKEN (item writes),
DUET_EVENTS_TOKEN (event ingest), DUET_ADMIN_TOKEN (admin routes) and
DUET_READ_TOKEN (reads; open when unset). Routes whose token is unset refuse
every request.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := store.check(true); err != nil {
				return err
			}
			data := store.data
			ctx := cmd.Context()
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			if indexURL != "" && !weaviate.IsURL(indexURL) {
				return usagef("--index must be a weaviate://host:port[,host:port…] URL")
			}
			if retention < time.Minute {
				return usagef("--feedback-retention must be at least a minute")
			}
			if sched.Every < 0 || sched.AfterEvents < 0 || memoryMB < 0 || maxDrop < 0 || maxDrop >= 1 {
				return usagef("--rebuild-every, --rebuild-after-events and --rebuild-memory-mb must not be negative, --rebuild-max-drop from 0 to below 1")
			}
			scheduled := sched.Every > 0 || sched.AfterEvents > 0
			if scheduled && store.url == "" && os.Getenv("DUET_ADMIN_TOKEN") == "" {
				return usagef("scheduled rebuilds read the bbolt store through the server (GET /admin/backup): set DUET_ADMIN_TOKEN")
			}
			root := snapshot.NewRoot(data)
			unlock, err := root.LockServer()
			if err != nil {
				return fmt.Errorf("%w: one server to a data directory", err)
			}
			defer unlock()
			st, err := store.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			srv, err := server.New(st, server.Config{
				EditorToken:       os.Getenv("DUET_EDITOR_TOKEN"),
				AdminToken:        os.Getenv("DUET_ADMIN_TOKEN"),
				EventsToken:       os.Getenv("DUET_EVENTS_TOKEN"),
				ReadToken:         os.Getenv("DUET_READ_TOKEN"),
				TrustedProxies:    trusted,
				SearchRate:        rate,
				Logger:            log,
				Loader:            server.SnapshotLoader(root, st, log),
				Snapshots:         root,
				NoImpressions:     !impressions,
				FeedbackRetention: retention,
				AttributionWindow: retention,
				RebuildStatus: func() any {
					if !scheduled {
						return nil
					}
					return sched.Status()
				},
			})
			if err != nil {
				return usagef("%v", err)
			}
			// Working copies left by a server that did not stop cleanly;
			// holding the server lock, this is the only server of DATA.
			if err := root.RemoveWorkingCopies(); err != nil {
				log.Warn("removing old working copies", "err", err)
			}
			if indexURL != "" {
				remote, err := weaviate.Open(indexURL)
				if err != nil {
					return err
				}
				defer remote.Close()
				host, _ := os.Hostname()
				root.UseIndex(remote, fmt.Sprintf("%s:%d:%08x", host, os.Getpid(), rand.Uint32()))
				var leasing sync.WaitGroup
				defer leasing.Wait() // the leases given up before the client closes
				leasing.Go(func() {
					root.HoldCollections(ctx, srv.Collections, func(err error) {
						log.Warn("leasing the collections in service", "err", err)
					})
				})
			}
			if _, err := srv.Reload(ctx); err != nil {
				log.Warn("serving without an index until a snapshot is built (duet rebuild)", "err", err)
			}
			go srv.Watch(ctx, watchEvery, root.Newest)
			if store.url != "" || indexURL != "" {
				// Other servers write to the same store, or the index
				// may miss writes while Weaviate is away: the follower
				// applies what the live indexes have not taken.
				go srv.Follow(ctx, followEvery, maxLag)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			base := "http://" + ln.Addr().String()
			if strings.HasPrefix(addr, ":") {
				base = "http://localhost" + addr
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s\n  playground: %s/\n  editor:     %s/editor\n  API docs:   %s/openapi.json\n", data, base, base, base)
			if scheduled {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("scheduled rebuilds: %w", err)
				}
				notify := "http://" + ln.Addr().String()
				sched.Command = []string{exe, "rebuild", "--data", data, "--notify", notify, "--max-drop", strconv.FormatFloat(maxDrop, 'g', -1, 64)}
				if store.url != "" {
					sched.Command = append(sched.Command, "--store", store.url)
				}
				if indexURL != "" {
					sched.Command = append(sched.Command, "--index", indexURL)
				}
				sched.Command = append(sched.Command, rebuildArgs...)
				sched.MemoryLimit = memoryMB << 20
				sched.Events = func(ctx context.Context) (int, error) {
					s, err := st.Stats(ctx)
					return s.Events, err
				}
				sched.Logger = log
				var scheduling sync.WaitGroup
				defer scheduling.Wait() // a rebuild running is interrupted and waited for
				scheduling.Go(func() { sched.Run(ctx) })
			}
			err = srv.Serve(ctx, ln)
			if cerr := srv.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
	f := cmd.Flags()
	store.register(f, "data directory holding the store and the snapshots")
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&indexURL, "index", "", indexUsage)
	f.Float64Var(&rate, "search-rate", 200, "searches per second allowed to one client (burst twice that); -1 turns the limit off")
	f.DurationVar(&followEvery, "follow-every", 250*time.Millisecond, "with --store or --index: how often to look for writes the indexes have not taken (other servers', or ones Weaviate missed) when no notice of them came")
	f.DurationVar(&maxLag, "max-lag", 5*time.Second, "with --store or --index: /readyz answers 503 while the indexes are further behind the store's writes; 0: never")
	f.BoolVar(&impressions, "impressions", true, "record every answer's impression (what was shown, for click attribution, online figures and experiments)")
	f.DurationVar(&retention, "feedback-retention", 7*24*time.Hour, "how long impressions and their clicks are kept; an event may name an impression this long")
	f.DurationVar(&sched.Every, "rebuild-every", 0, "rebuild by itself this often (e.g. 6h), in a child process; publishes only a model that passes --rebuild-max-drop; 0: never")
	f.IntVar(&sched.AfterEvents, "rebuild-after-events", 0, "rebuild by itself once the store has taken this many events since the last rebuild; 0: never")
	f.Float64Var(&maxDrop, "rebuild-max-drop", 0.05, "a scheduled rebuild publishes nothing when its model's validation NDCG@10 is more than this share below the model in service's")
	f.StringArrayVar(&rebuildArgs, "rebuild-flag", nil, "a flag of the scheduled rebuilds, e.g. --rebuild-flag=--tune-budget=2m (repeatable)")
	f.Int64Var(&memoryMB, "rebuild-memory-mb", 0, "GOMEMLIMIT of a scheduled rebuild's process, in MiB (a soft bound); 0: none")
	f.StringSliceVar(&trusted, "trusted-proxy", nil, "CIDR range of a proxy allowed to set X-Forwarded-For (repeatable)")
	return cmd
}
