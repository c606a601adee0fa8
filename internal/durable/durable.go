// Package durable writes files so that a crash or a failed write leaves
// either the old file or the new one, complete, never a torn one: the
// bytes go to a temporary file beside the target, which is fsync'd,
// renamed over the target, and its directory fsync'd so that the rename
// survives a power cut too. Duet's model files, reports, generated data
// sets, dumps and snapshot files are all written this way.
package durable

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
)

// perm is the mode of the files written: what os.Create gives under the
// usual umask, rather than the 0600 of a temporary file.
const perm = 0o644

// WriteFile writes the file at path with what fn writes to w. On an error,
// from fn or from the file system, the file at path is left as it was and
// no temporary file remains.
func WriteFile(path string, fn func(w io.Writer) error) error {
	return WriteFiles([]string{path}, func(ws []io.Writer) error { return fn(ws[0]) })
}

// WriteZstd is WriteFile with the bytes fn writes compressed as one zstd
// stream at the default level.
func WriteZstd(path string, fn func(w io.Writer) error) error {
	return WriteFile(path, func(w io.Writer) error {
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return err
		}
		if err := fn(zw); err != nil {
			zw.Close()
			return err
		}
		return zw.Close()
	})
}

// WriteJSON writes v as indented JSON with a final newline.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// WriteFiles writes several files with one fn, ws[i] writing paths[i]: for
// a writer that produces them together. Every file is complete and
// fsync'd before the first is renamed into place, so after an error
// before the renames none has changed; a failed rename can leave the
// earlier ones replaced.
func WriteFiles(paths []string, fn func(ws []io.Writer) error) (err error) {
	files := make([]*os.File, 0, len(paths))
	defer func() {
		for _, f := range files {
			f.Close()
			if err != nil {
				os.Remove(f.Name())
			}
		}
	}()
	bufs := make([]*bufio.Writer, len(paths))
	ws := make([]io.Writer, len(paths))
	for i, p := range paths {
		f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
		if err != nil {
			return err
		}
		files = append(files, f)
		bufs[i] = bufio.NewWriterSize(f, 1<<20)
		ws[i] = bufs[i]
	}
	if err := fn(ws); err != nil {
		return err
	}
	for i, f := range files {
		if err := bufs[i].Flush(); err != nil {
			return err
		}
		if err := f.Chmod(perm); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
	}
	synced := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(f.Name(), paths[i]); err != nil {
			return err
		}
		if dir := filepath.Dir(paths[i]); !synced[dir] {
			synced[dir] = true
			defer func() {
				if serr := SyncDir(dir); err == nil {
					err = serr
				}
			}()
		}
	}
	return nil
}

// SyncDir fsyncs a directory, so that the entries created, renamed or
// removed in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
