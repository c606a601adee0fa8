package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duetrec/duet/index/weaviate"
)

// Names in a data directory.
const (
	snapshotsDir   = "snapshots"    // DATA/snapshots: the snapshots
	snapPrefix     = "snap-"        // a snapshot's directory
	tmpPrefix      = ".tmp-"        // a snapshot being written, in DATA/snapshots
	workPrefix     = ".live-"       // a loaded snapshot's working copy, in DATA
	lockFile       = "rebuild.lock" // DATA/rebuild.lock: one rebuild at a time
	serverLockFile = "server.lock"  // DATA/server.lock: one server at a time
)

// Root is where a data directory keeps its snapshots: DATA/snapshots, and
// the working copies of loaded ones beside the store.
type Root struct {
	data   string
	remote *weaviate.Client
	holder string // who leases the collections loaded; "" leases none
}

// NewRoot returns the snapshot root of the data directory data.
func NewRoot(data string) *Root { return &Root{data: data} }

// UseIndex has Load read the snapshots whose vectors and text are in a
// Weaviate collection from cluster c. A server names itself as holder:
// Load then leases a snapshot's collection before it serves from it, so
// that no rebuild drops it meanwhile (HoldCollections renews the lease);
// others pass "".
func (r *Root) UseIndex(c *weaviate.Client, holder string) { r.remote, r.holder = c, holder }

// Dir is the directory holding the snapshots, DATA/snapshots.
func (r *Root) Dir() string { return filepath.Join(r.data, snapshotsDir) }

// name is a snapshot's directory name: it sorts by sequence number, then
// by creation time.
func name(m Manifest) string {
	return fmt.Sprintf("%s%020d-%d", snapPrefix, m.Seq, m.CreatedAt.UnixNano())
}

// List returns the snapshot directories, newest first, without verifying
// them.
func (r *Root) List() ([]string, error) {
	entries, err := os.ReadDir(r.Dir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), snapPrefix) {
			out = append(out, filepath.Join(r.Dir(), e.Name()))
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}

// Newest returns the newest snapshot directory, unverified, or "" when
// there is none: a cheap test for a new one.
func (r *Root) Newest() string {
	dirs, _ := r.List()
	if len(dirs) == 0 {
		return ""
	}
	return dirs[0]
}

// Latest returns the newest snapshot that verifies with its manifest, and
// the errors of newer ones that did not, so that they can be reported. It
// returns an error matching ErrBadSnapshot when there is none.
func (r *Root) Latest(ctx context.Context) (string, Manifest, []error, error) {
	dirs, err := r.List()
	if err != nil {
		return "", Manifest{}, nil, fmt.Errorf("list snapshots in %s: %w", r.Dir(), err)
	}
	var skipped []error
	for _, dir := range dirs {
		m, err := Verify(ctx, dir)
		if err == nil {
			return dir, m, skipped, nil
		}
		if ctx.Err() != nil {
			return "", Manifest{}, skipped, ctx.Err()
		}
		skipped = append(skipped, err)
	}
	return "", Manifest{}, skipped, fmt.Errorf("no complete snapshot in %s: %w", r.Dir(), ErrBadSnapshot)
}

// Prune removes all but the newest keep snapshots (keep < 1 is taken as
// 1), and what interrupted writes left. The snapshot in service should be
// among the kept ones.
func (r *Root) Prune(keep int) error {
	dirs, err := r.List()
	if err != nil {
		return err
	}
	for _, d := range dirs[min(max(keep, 1), len(dirs)):] {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return r.RemovePartial()
}

// RemovePartial removes the snapshots that interrupted writes left half
// written. They are never loaded, having no snapshot name, but take space.
// Call it holding the rebuild lock, so that no write is under way.
func (r *Root) RemovePartial() error {
	tmps, _ := filepath.Glob(filepath.Join(r.Dir(), tmpPrefix+"*"))
	for _, t := range tmps {
		if err := os.RemoveAll(t); err != nil {
			return err
		}
	}
	return nil
}

// RemoveWorkingCopies removes the working copies that servers which did
// not stop cleanly left. Call it holding the store, so that no server is
// using one.
func (r *Root) RemoveWorkingCopies() error {
	stale, _ := filepath.Glob(filepath.Join(r.data, workPrefix+"*"))
	for _, d := range stale {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// Lock takes the data directory's rebuild lock, so that one rebuild at a
// time writes snapshots and cleans up after killed ones. The lock is the
// kernel's (flock on DATA/rebuild.lock), released when the process dies
// however it dies. A lock held elsewhere is ErrLocked.
func (r *Root) Lock() (unlock func(), err error) {
	if err := os.MkdirAll(r.data, 0o755); err != nil {
		return nil, err
	}
	return lock(filepath.Join(r.data, lockFile))
}

// LockServer takes the data directory's server lock (flock on
// DATA/server.lock, released when the process dies), so that one server
// at a time uses its snapshots' working copies, which a starting server
// clears. With the store in the data directory its own lock does as much;
// with a shared store (PostgreSQL) each server needs a data directory of
// its own. A lock held elsewhere is ErrLocked.
func (r *Root) LockServer() (unlock func(), err error) {
	if err := os.MkdirAll(r.data, 0o755); err != nil {
		return nil, err
	}
	return lock(filepath.Join(r.data, serverLockFile))
}

// seqOf reads the store sequence number from a snapshot directory's name.
func seqOf(dir string) (uint64, bool) {
	name := strings.TrimPrefix(filepath.Base(dir), snapPrefix)
	seq, _, ok := strings.Cut(name, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return n, err == nil
}

// leaseTTL is how long a server's lease on the collections it serves
// lasts; it renews every third of it.
const leaseTTL = 2 * time.Minute

// HoldCollections renews the lease of the Weaviate collections inUse
// names (Load took it first) until ctx is done, and then gives up the
// holder's leases, so that a rebuild may drop what no server uses.
// Failures are passed to failed and retried at the next renewal; the
// leases of a process that stopped without giving them up expire.
func (r *Root) HoldCollections(ctx context.Context, inUse func() []string, failed func(error)) {
	if r.remote == nil || r.holder == "" {
		return
	}
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.remote.Release(rctx, r.holder); err != nil && failed != nil {
				failed(err)
			}
			return
		case <-t.C:
		}
		if cols := inUse(); len(cols) > 0 {
			if err := r.remote.Lease(ctx, r.holder, cols, leaseTTL); err != nil && ctx.Err() == nil && failed != nil {
				failed(err)
			}
		}
	}
}

// DropUnusedCollections drops the Weaviate collections of Duet's that no
// snapshot under r names and no server holds (HoldCollections), and
// returns their names. Call it after Prune, holding the rebuild lock.
func (r *Root) DropUnusedCollections(ctx context.Context) ([]string, error) {
	if r.remote == nil {
		return nil, nil
	}
	dirs, err := r.List()
	if err != nil {
		return nil, err
	}
	var keep []string
	for _, d := range dirs {
		m, err := readManifest(d)
		if err != nil {
			// A snapshot that cannot be read may still name one: keep
			// them all rather than guess.
			return nil, fmt.Errorf("drop unused collections: %w", err)
		}
		if m.Collection != "" {
			keep = append(keep, m.Collection)
		}
	}
	return r.remote.DropUnused(ctx, keep)
}
