package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/duetrec/duet/content"
)

// storeFlags say where a command's store is: --data (a directory: the
// bbolt store in it, and snapshots) and --store (the store in PostgreSQL,
// a postgres:// URL; pgx reads a password from PGPASSWORD or ~/.pgpass,
// so none need be on a command line).
type storeFlags struct {
	data, url string
}

const storeUsage = "the store in PostgreSQL, a postgres:// URL (a password from PGPASSWORD or ~/.pgpass); without it, the bbolt store in --data"

func (s *storeFlags) register(f *pflag.FlagSet, dataUsage string) {
	f.StringVar(&s.data, "data", "", dataUsage)
	f.StringVar(&s.url, "store", "", storeUsage)
}

// check refuses a --store that is no PostgreSQL URL, and a command
// without a store: --data is required when needData (snapshots live
// there), else --data or --store.
func (s *storeFlags) check(needData bool) error {
	if s.url != "" && !content.IsURL(s.url) {
		return usagef("--store must be a postgres:// or postgresql:// URL")
	}
	if s.data == "" && (needData || s.url == "") {
		if needData {
			return usagef("--data is required")
		}
		return usagef("--data or --store is required")
	}
	return nil
}

func (s *storeFlags) open(ctx context.Context) (*content.Store, error) {
	return content.OpenStore(ctx, s.data, s.url)
}

// openReading opens the store for a command that only reads it, so that
// several such commands (evaluations compared side by side) run at once.
func (s *storeFlags) openReading(ctx context.Context) (*content.Store, error) {
	return content.OpenReading(ctx, s.data, s.url)
}

// where names the store for messages, without a password.
func (s *storeFlags) where() string {
	if s.url != "" {
		return "the PostgreSQL store"
	}
	return s.data
}

const indexUsage = "a Weaviate cluster, weaviate://host:port[,host:port…], holding the vectors and text in place of the embedded indexes"
