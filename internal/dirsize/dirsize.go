// Package dirsize adds up the sizes of the files below a directory: the
// bytes a snapshot or an index takes, as rebuilds and benchmarks report.
package dirsize

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Of returns the total size of the regular files below dir. A file or
// directory removed while Of reads (a text index merging its segments)
// counts for nothing; dir itself missing is an error.
func Of(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			var fi fs.FileInfo
			if fi, err = d.Info(); err == nil {
				n += fi.Size()
			}
		}
		if errors.Is(err, fs.ErrNotExist) && path != dir {
			return nil
		}
		return err
	})
	return n, err
}
