// Package dirsize adds up the sizes of the files below a directory: the
// bytes a snapshot or an index takes, as rebuilds and benchmarks report.
package dirsize

import (
	"os"
	"path/filepath"
)

// Of returns the total size of the regular files below dir.
func Of(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	return n, err
}
