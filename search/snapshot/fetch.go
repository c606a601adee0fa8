package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/duetrec/duet/internal/durable"
)

// Source is where a published snapshot's files are fetched from: Open
// returns the file at path (slash-separated, relative to the snapshot) of
// the snapshot named name.
type Source interface {
	Open(ctx context.Context, name, path string) (io.ReadCloser, error)
}

// DirSource reads snapshots from a directory holding them by name, such as
// the publisher's DATA/snapshots on a shared file system.
type DirSource string

// Open opens the file of the snapshot in the directory.
func (d DirSource) Open(ctx context.Context, name, p string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(string(d), name, filepath.FromSlash(p)))
}

// HTTPSource reads snapshots from a server that has them (Base, e.g.
// http://host:8080), through GET /admin/snapshots/{name}/files/{path} with
// the admin token.
type HTTPSource struct {
	Base   string
	Token  string
	Client *http.Client // default http.DefaultClient
}

// Open fetches the file of the snapshot from the server.
func (h HTTPSource) Open(ctx context.Context, name, p string) (io.ReadCloser, error) {
	u := strings.TrimRight(h.Base, "/") + "/admin/snapshots/" + url.PathEscape(name) + "/files/" + (&url.URL{Path: p}).EscapedPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return resp.Body, nil
}

// SourceFor returns the source a publication names: an http(s) URL of a
// server, else a directory.
func SourceFor(where, token string) Source {
	if strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://") {
		return HTTPSource{Base: where, Token: token}
	}
	return DirSource(where)
}

// ManifestSHA256 returns the SHA-256 of the manifest of the snapshot in
// dir: what a publication records, so that a fetched manifest, and through
// it every file, can be checked.
func ManifestSHA256(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileManifest))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// IsName reports whether s is a snapshot's directory name.
func IsName(s string) bool {
	_, ok := seqOf(s)
	return ok && strings.HasPrefix(s, snapPrefix) && !strings.ContainsAny(s, `/\`)
}

// Fetch copies the snapshot named snap from src into the root, unless the
// root has it already, and returns its directory. The manifest must have
// the SHA-256 manifestSum; every file it lists must have its size and
// SHA-256, and nothing else is copied. The copy is written beside the
// snapshots and renamed into place once complete and fsync'd, so a
// half-fetched or damaged snapshot is never among them: such a fetch fails
// with ErrBadSnapshot (or the source's error) and leaves nothing behind.
func (r *Root) Fetch(ctx context.Context, snap, manifestSum string, src Source) (string, error) {
	if !IsName(snap) {
		return "", fmt.Errorf("fetch %q: %w: not a snapshot's name", snap, ErrBadSnapshot)
	}
	final := filepath.Join(r.Dir(), snap)
	if have, err := ManifestSHA256(final); err == nil && have == manifestSum {
		if _, err := Verify(ctx, final); err == nil {
			return final, nil
		}
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("fetch %s: %w: %s", snap, ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	mb, err := readAll(ctx, src, snap, fileManifest, 1<<20)
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", snap, err)
	}
	if sum := sha256.Sum256(mb); hex.EncodeToString(sum[:]) != manifestSum {
		return "", bad("the manifest is not the one published")
	}
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return "", bad("manifest: %v", err)
	}
	if !readable(m.Format) {
		return "", bad("format %d, want 1 to %d", m.Format, Format)
	}
	if name(m) != snap {
		return "", bad("the manifest is of %s", name(m))
	}
	return intoPlace(r.Dir(), func(tmp string) (string, error) {
		for _, p := range sortedKeys(m.Files) {
			want := m.Files[p]
			if !fs.ValidPath(p) || p == fileManifest || strings.Contains(p, `\`) {
				return "", bad("a file named %q", p)
			}
			if err := fetchFile(ctx, src, snap, p, filepath.Join(tmp, filepath.FromSlash(p)), want); err != nil {
				if errors.Is(err, ErrBadSnapshot) {
					return "", bad("%v", err)
				}
				return "", fmt.Errorf("fetch %s: %w", snap, err)
			}
		}
		return snap, durable.WriteFile(filepath.Join(tmp, fileManifest), func(w io.Writer) error {
			_, err := w.Write(mb)
			return err
		})
	})
}

// fetchFile copies one file from src to dst, checking its size and
// SHA-256 as it goes, and fsyncs it.
func fetchFile(ctx context.Context, src Source, name, p, dst string, want FileSum) error {
	rc, err := src.Open(ctx, name, p)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, want.Size+1))
	if err != nil {
		return err
	}
	switch {
	case n != want.Size:
		return fmt.Errorf("%w: %s is %d bytes or more, want %d", ErrBadSnapshot, p, n, want.Size)
	case hex.EncodeToString(h.Sum(nil)) != want.SHA256:
		return fmt.Errorf("%w: %s fails its checksum", ErrBadSnapshot, p)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// readAll reads a small file of a snapshot from src, at most limit bytes.
func readAll(ctx context.Context, src Source, name, p string, limit int64) ([]byte, error) {
	rc, err := src.Open(ctx, name, p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(rc, limit)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Open opens the file at p (slash-separated) of the snapshot named name
// in the root, for a server to send to an HTTPSource. Only a snapshot's
// own files open, those its manifest lists and the manifest; anything else
// is fs.ErrNotExist.
func (r *Root) Open(name, p string) (*os.File, error) {
	if !IsName(name) || !fs.ValidPath(p) || strings.Contains(p, `\`) {
		return nil, fs.ErrNotExist
	}
	dir := filepath.Join(r.Dir(), name)
	if p != fileManifest {
		mb, err := os.ReadFile(filepath.Join(dir, fileManifest))
		if err != nil {
			return nil, fs.ErrNotExist
		}
		var m Manifest
		if err := json.Unmarshal(mb, &m); err != nil {
			return nil, fs.ErrNotExist
		}
		if _, ok := m.Files[path.Clean(p)]; !ok {
			return nil, fs.ErrNotExist
		}
	}
	return os.Open(filepath.Join(dir, filepath.FromSlash(p)))
}
