package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/duetrec/duet/internal/durable"
)

// Format is the version of the snapshot layout this code writes; it reads
// every version from 1 to Format and refuses others. Format 2 keeps the
// catalogue in items.bin instead of items.jsonl.zst.
const Format = 2

// readable reports whether this code reads snapshots of format f.
func readable(f int) bool { return f >= 1 && f <= Format }

// The files of a snapshot.
const (
	fileManifest   = "manifest.json"      // written last: a directory without it is no snapshot
	fileModel      = "model.duet"         // the two-tower model
	fileVectors    = "vectors.idx"        // the vector index: ids, raw float32 vectors, graph
	fileText       = "text"               // the Bleve index (a directory)
	fileItemsBin   = "items.bin"          // the catalogue, in chunks that decode in parallel
	fileItems      = "items.jsonl.zst"    // format 1's catalogue, as the generic format
	filePopularity = "popularity.csv.zst" // item,count: the popularity fallback
	fileNeighbours = "neighbours.idx"     // the item-to-item lists, when built
	fileSequence   = "sequence.idx"       // the sequence lists (what followed each item), when built
	fileNearby     = "nearby.idx"         // the nearby lists (what was met close to each item), when built
	fileFactored   = "cf.idx"             // the collaborative model's exact factor, when kept
	fileTextStats  = "textstats.bin"      // the term statistics of the items' text, when Weaviate holds the index
)

// listFile is one of a snapshot's item-to-item files and what it holds.
type listFile struct {
	name string
	l    interface {
		Save(ctx context.Context, w io.Writer) error
	}
}

// files returns the lists that are there, with their files.
func (l *Lists) files() []listFile {
	var out []listFile
	if l == nil {
		return nil
	}
	if l.Neighbours != nil {
		out = append(out, listFile{fileNeighbours, l.Neighbours})
	}
	if l.Sequence != nil {
		out = append(out, listFile{fileSequence, l.Sequence})
	}
	if l.Nearby != nil {
		out = append(out, listFile{fileNearby, l.Nearby})
	}
	if l.Factored != nil {
		out = append(out, listFile{fileFactored, l.Factored})
	}
	return out
}

// Manifest describes a snapshot: what it holds and how to check it.
type Manifest struct {
	Format    int       `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// Seq is the store's sequence number the snapshot reflects: changes
	// after it are replayed on load.
	Seq   uint64 `json:"seq"`
	Items int    `json:"items"`
	Dim   int    `json:"dim"`
	// Meta holds free-form facts about the snapshot: the vector index
	// ("ann"), how the model was made, its validation figures.
	Meta map[string]string `json:"meta,omitempty"`
	// Sources are the weights the served recommendations give their
	// candidate lists (search.Options.Sources); absent: the engine's
	// defaults.
	Sources map[string]float64 `json:"sources,omitempty"`
	// SourceFusion is how they are fused (search.Options.SourceFusion).
	SourceFusion string `json:"source_fusion,omitempty"`
	// Collection, when set, names the Weaviate collection holding the
	// snapshot's vectors and text, which the snapshot then lacks: the
	// model's user vectors match its item vectors alone, so a server
	// switches both at once.
	Collection string `json:"collection,omitempty"`
	// Files maps every file's path, relative to the snapshot and with
	// forward slashes, to its size and checksums.
	Files map[string]FileSum `json:"files"`
}

// FileSum is the size and checksums of one file in a snapshot. SHA-256
// is what Verify and a fetch from another server check; CRC-32C
// (Castagnoli, hex) is what a load checks, against a disk's damage or a
// partial copy, at a fraction of the cost (SHA-256 was a fifth of a
// million items' load). Snapshots written before it have no CRC-32C, and
// a load checks their SHA-256.
type FileSum struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	CRC32C string `json:"crc32c,omitempty"`
}

// Which checksums sumFiles computes.
type sums int

const (
	sumSHA256 sums = 1 << iota
	sumCRC32C
)

// write creates a snapshot under root. fill writes the snapshot's files
// into the directory it is given; write then checksums and fsyncs every
// file (Bleve's included), writes the manifest, and renames the directory
// into place, so a snapshot is either complete or absent. m.Files and
// m.Format are filled in. It returns the snapshot's path.
func write(ctx context.Context, root string, m Manifest, fill func(dir string) error) (string, error) {
	return intoPlace(root, func(tmp string) (string, error) {
		if err := fill(tmp); err != nil {
			return "", err
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
		m.Format = Format
		if m.CreatedAt.IsZero() {
			m.CreatedAt = time.Now().UTC()
		}
		var err error
		if m.Files, err = sumFiles(ctx, tmp, true, sumSHA256|sumCRC32C); err != nil {
			return "", err
		}
		if err := durable.WriteJSON(filepath.Join(tmp, fileManifest), m); err != nil {
			return "", err
		}
		return name(m), nil
	})
}

// intoPlace makes a directory under root: fill writes it in a temporary
// directory there and names it; once everything in it is fsync'd it is
// renamed to that name, replacing what was there. On failure nothing is
// left behind, so a directory under that name is always complete.
func intoPlace(root string, fill func(tmp string) (string, error)) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(root, tmpPrefix)
	if err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	base, err := fill(tmp)
	if err != nil {
		return "", err
	}
	if err := syncDirs(tmp); err != nil {
		return "", err
	}
	final := filepath.Join(root, base)
	if err := os.RemoveAll(final); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	done = true
	return final, durable.SyncDir(root)
}

// ReadManifest reads the manifest of the snapshot in dir, without
// checking its files against it (Verify does).
func ReadManifest(dir string) (Manifest, error) {
	m, err := readManifest(dir)
	if err != nil {
		return m, fmt.Errorf("snapshot %s: %w: %v", dir, ErrBadSnapshot, err)
	}
	return m, nil
}

// readManifest reads the manifest of the snapshot in dir, unverified.
func readManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, fileManifest))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	return m, nil
}

// Verify reads the manifest of the snapshot in dir and checks that it is
// of this format, that every file it lists is present with the listed size
// and SHA-256, and that no file is there unlisted. Its errors match
// ErrBadSnapshot, or are ctx's.
func Verify(ctx context.Context, dir string) (Manifest, error) {
	return verify(ctx, dir, sumSHA256)
}

// verify is Verify, checking the CRC-32C of the files instead with
// sumCRC32C when the manifest lists one for each.
func verify(ctx context.Context, dir string, which sums) (Manifest, error) {
	var m Manifest
	bad := func(format string, args ...any) (Manifest, error) {
		return m, fmt.Errorf("snapshot %s: %w: %s", dir, ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	m, err := readManifest(dir)
	if err != nil {
		return bad("%v", err)
	}
	if !readable(m.Format) {
		return bad("format %d, want 1 to %d", m.Format, Format)
	}
	if which == sumCRC32C {
		for _, f := range m.Files {
			if f.CRC32C == "" {
				which = sumSHA256
				break
			}
		}
	}
	got, err := sumFiles(ctx, dir, false, which)
	if err != nil {
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		return bad("%v", err)
	}
	delete(got, fileManifest)
	for _, name := range sortedKeys(m.Files) {
		want := m.Files[name]
		have, ok := got[name]
		switch {
		case !ok:
			return bad("%s is missing", name)
		case have.Size != want.Size:
			return bad("%s is %d bytes, want %d", name, have.Size, want.Size)
		case which&sumSHA256 != 0 && have.SHA256 != want.SHA256,
			which&sumCRC32C != 0 && have.CRC32C != want.CRC32C:
			return bad("%s fails its checksum", name)
		}
		delete(got, name)
	}
	for _, name := range sortedKeys(got) {
		return bad("%s is not in the manifest", name)
	}
	return m, nil
}

// sumFiles checksums every regular file below dir, fsyncing each if sync
// is set: one read serves all. Anything else than a regular file or a
// directory is an error.
func sumFiles(ctx context.Context, dir string, sync bool, which sums) (map[string]FileSum, error) {
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
		sum, err := sumFile(path, sync, which)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = sum
		return nil
	})
	return out, err
}

// sumFile checksums one file; with sync it opens the file for writing,
// which some systems need for an fsync, and fsyncs it.
func sumFile(path string, sync bool, which sums) (FileSum, error) {
	flag := os.O_RDONLY
	if sync {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return FileSum{}, err
	}
	defer f.Close()
	var ws []io.Writer
	sha, crc := sha256.New(), crc32.New(castagnoli)
	if which&sumSHA256 != 0 {
		ws = append(ws, sha)
	}
	if which&sumCRC32C != 0 {
		ws = append(ws, crc)
	}
	n, err := io.Copy(io.MultiWriter(ws...), f)
	if err != nil {
		return FileSum{}, err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return FileSum{}, err
		}
	}
	sum := FileSum{Size: n}
	if which&sumSHA256 != 0 {
		sum.SHA256 = hex.EncodeToString(sha.Sum(nil))
	}
	if which&sumCRC32C != 0 {
		sum.CRC32C = hex.EncodeToString(crc.Sum(nil))
	}
	return sum, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// syncDirs fsyncs dir and every directory below it, so that the entries of
// the files written there are durable too.
func syncDirs(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return durable.SyncDir(path)
		}
		return nil
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
