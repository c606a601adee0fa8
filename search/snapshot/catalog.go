package snapshot

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/klauspost/compress/zstd"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/durable"
	"github.com/duetrec/duet/search"
)

// writeCatalog writes the catalogue and the popularity counts into dir.
func writeCatalog(dir string, items []content.Item, popularity map[string]float64) error {
	if err := durable.WriteZstd(filepath.Join(dir, fileItems), func(w io.Writer) error { return writeItems(w, items) }); err != nil {
		return err
	}
	return durable.WriteZstd(filepath.Join(dir, filePopularity), func(w io.Writer) error { return writePopularity(w, popularity) })
}

// readCatalog reads the catalogue and the popularity counts of the
// snapshot in dir.
func readCatalog(dir string) (*search.Catalog, error) {
	cat := search.NewCatalog()
	if err := readZstd(filepath.Join(dir, fileItems), func(r io.Reader) error { return readItems(r, cat) }); err != nil {
		return nil, err
	}
	if err := readZstd(filepath.Join(dir, filePopularity), func(r io.Reader) error { return readPopularity(r, cat) }); err != nil {
		return nil, err
	}
	return cat, nil
}

func readFile(path string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(bufio.NewReaderSize(f, 1<<20))
}

func readZstd(path string, fn func(io.Reader) error) error {
	return readFile(path, func(r io.Reader) error {
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return err
		}
		defer zr.Close()
		return fn(zr)
	})
}

func writeItems(w io.Writer, items []content.Item) error {
	enc := json.NewEncoder(w)
	for i := range items {
		if err := enc.Encode(items[i]); err != nil {
			return err
		}
	}
	return nil
}

func readItems(r io.Reader, cat *search.Catalog) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var it content.Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return fmt.Errorf("%w: %s:%d: %w", ErrBadSnapshot, fileItems, line, err)
		}
		if err := it.Validate(); err != nil {
			return fmt.Errorf("%w: %s:%d: %w", ErrBadSnapshot, fileItems, line, err)
		}
		if _, dup := cat.Item(it.ID); dup {
			return fmt.Errorf("%w: %s:%d: item %q twice", ErrBadSnapshot, fileItems, line, it.ID)
		}
		cat.Put(it)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadSnapshot, fileItems, err)
	}
	return nil
}

func writePopularity(w io.Writer, pop map[string]float64) error {
	cw := csv.NewWriter(w)
	for _, id := range sortedKeys(pop) {
		if err := cw.Write([]string{id, strconv.FormatFloat(pop[id], 'g', -1, 64)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func readPopularity(r io.Reader, cat *search.Catalog) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadSnapshot, filePopularity, err)
		}
		n, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrBadSnapshot, filePopularity, err)
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("%w: %s: popularity of %q is %v", ErrBadSnapshot, filePopularity, rec[0], n)
		}
		cat.AddPopularity(rec[0], n)
	}
}
