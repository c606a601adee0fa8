package index

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SnapshotFormat is the version of the snapshot layout this code writes and
// reads; a snapshot of another version is refused.
const SnapshotFormat = 1

// ManifestFile is the name of a snapshot's manifest. It is written last, so
// a directory without it is not a snapshot.
const ManifestFile = "manifest.json"

const snapshotPrefix = "snap-"

// ErrBadSnapshot means a snapshot is missing, partial, corrupt or of
// another format version. Loading one is refused rather than half-trusted.
var ErrBadSnapshot = errors.New("bad snapshot")

// Manifest describes a snapshot: what it holds and how to check it.
type Manifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// Seq is the store's sequence number the snapshot reflects: changes
	// after it are replayed on load.
	Seq   uint64 `json:"seq"`
	Items int    `json:"items"`
	Dim   int    `json:"dim"`
	// Meta holds free-form facts about the snapshot (model version,
	// validation metrics, parameters of the indexes).
	Meta map[string]string `json:"meta,omitempty"`
	// Files maps every file's path, relative to the snapshot and with
	// forward slashes, to its size and SHA-256.
	Files map[string]FileSum `json:"files"`
}

// FileSum is the size and SHA-256 of one file in a snapshot.
type FileSum struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// WriteSnapshot creates a snapshot under root. fill writes the snapshot's
// files into the directory it is given; WriteSnapshot then checksums and
// fsyncs every file, writes the manifest, and renames the directory into
// place, so a snapshot is either complete or absent. m.Files and m.Format
// are filled in. It returns the snapshot's path.
func WriteSnapshot(ctx context.Context, root string, m Manifest, fill func(dir string) error) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".tmp-")
	if err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := fill(tmp); err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.Format = SnapshotFormat
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now().UTC()
	}
	m.Files, err = sumFiles(ctx, tmp, true)
	if err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	if err := writeFileSync(filepath.Join(tmp, ManifestFile), mb); err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	if err := syncDirs(tmp); err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	// The name sorts by sequence number, then creation time.
	final := filepath.Join(root, fmt.Sprintf("%s%020d-%d", snapshotPrefix, m.Seq, m.CreatedAt.UnixNano()))
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	done = true
	if err := syncDir(root); err != nil {
		return "", fmt.Errorf("write snapshot: %w", err)
	}
	return final, nil
}

// VerifySnapshot reads a snapshot's manifest and checks that it is of this
// format and that every file it lists is present, of the listed size and
// checksum, and that no file is there unlisted.
func VerifySnapshot(ctx context.Context, dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return m, fmt.Errorf("snapshot %s: %w: %w", dir, ErrBadSnapshot, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("snapshot %s: %w: manifest: %w", dir, ErrBadSnapshot, err)
	}
	if m.Format != SnapshotFormat {
		return m, fmt.Errorf("snapshot %s: %w: format %d, want %d", dir, ErrBadSnapshot, m.Format, SnapshotFormat)
	}
	got, err := sumFiles(ctx, dir, false)
	if err != nil {
		return m, fmt.Errorf("snapshot %s: %w: %w", dir, ErrBadSnapshot, err)
	}
	delete(got, ManifestFile)
	for _, name := range sortedNames(m.Files) {
		want := m.Files[name]
		have, ok := got[name]
		switch {
		case !ok:
			return m, fmt.Errorf("snapshot %s: %w: %s is missing", dir, ErrBadSnapshot, name)
		case have.Size != want.Size:
			return m, fmt.Errorf("snapshot %s: %w: %s is %d bytes, want %d", dir, ErrBadSnapshot, name, have.Size, want.Size)
		case have.SHA256 != want.SHA256:
			return m, fmt.Errorf("snapshot %s: %w: %s fails its checksum", dir, ErrBadSnapshot, name)
		}
		delete(got, name)
	}
	for _, name := range sortedNames(got) {
		return m, fmt.Errorf("snapshot %s: %w: %s is not in the manifest", dir, ErrBadSnapshot, name)
	}
	return m, nil
}

// Snapshots lists the snapshot directories under root, newest first. It
// does not verify them.
func Snapshots(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), snapshotPrefix) {
			out = append(out, filepath.Join(root, e.Name()))
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

// LatestSnapshot returns the newest snapshot under root that verifies, and
// the errors of newer ones that did not (so they can be reported). It
// returns ErrBadSnapshot when there is none.
func LatestSnapshot(ctx context.Context, root string) (string, Manifest, []error, error) {
	dirs, err := Snapshots(root)
	if err != nil {
		return "", Manifest{}, nil, fmt.Errorf("list snapshots in %s: %w", root, err)
	}
	var skipped []error
	for _, dir := range dirs {
		m, err := VerifySnapshot(ctx, dir)
		if err == nil {
			return dir, m, skipped, nil
		}
		if ctx.Err() != nil {
			return "", Manifest{}, skipped, ctx.Err()
		}
		skipped = append(skipped, err)
	}
	return "", Manifest{}, skipped, fmt.Errorf("no complete snapshot in %s: %w", root, ErrBadSnapshot)
}

// PruneSnapshots removes all but the newest keep snapshots under root, and
// any temporary directory left by an interrupted write. The snapshot in use
// should be among the kept ones; keep < 1 is taken as 1.
func PruneSnapshots(root string, keep int) error {
	keep = max(keep, 1)
	dirs, err := Snapshots(root)
	if err != nil {
		return err
	}
	for i := keep; i < len(dirs); i++ {
		if err := os.RemoveAll(dirs[i]); err != nil {
			return err
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(root, ".tmp-*"))
	for _, t := range tmps {
		os.RemoveAll(t)
	}
	return nil
}

// SnapshotSeq reads the sequence number from a snapshot directory's name.
func SnapshotSeq(dir string) (uint64, bool) {
	name := strings.TrimPrefix(filepath.Base(dir), snapshotPrefix)
	seq, _, ok := strings.Cut(name, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return n, err == nil
}

// sumFiles checksums every regular file below dir, fsyncing each if sync is
// set. Anything else than a regular file or a directory is an error.
func sumFiles(ctx context.Context, dir string, sync bool) (map[string]FileSum, error) {
	out := map[string]FileSum{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		sum, err := sumFile(path, sync)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = sum
		return nil
	})
	return out, err
}

func sumFile(path string, sync bool) (FileSum, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if !sync {
		f, err = os.Open(path)
	}
	if err != nil {
		return FileSum{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileSum{}, err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return FileSum{}, err
		}
	}
	return FileSum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeFileSync(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDirs fsyncs dir and every directory below it, so that the entries of
// the files written there are durable too.
func syncDirs(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return syncDir(path)
		}
		return nil
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
