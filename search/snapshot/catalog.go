package snapshot

import (
	"bufio"
	"context"
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
	if err := durable.WriteFile(filepath.Join(dir, fileItemsBin), func(w io.Writer) error { return writeItemsBin(w, items) }); err != nil {
		return err
	}
	return durable.WriteZstd(filepath.Join(dir, filePopularity), func(w io.Writer) error { return writePopularity(w, popularity) })
}

// readCatalog reads the catalogue and the popularity counts of the
// snapshot in dir, from items.bin or, in a format-1 snapshot, from
// items.jsonl.zst; the counts are read meanwhile. It returns the items
// as read too, in the chunks the catalogue holds them in.
func readCatalog(ctx context.Context, dir string, m Manifest) (*search.Catalog, [][]content.Item, error) {
	pop := map[string]float64{}
	popErr := make(chan error, 1)
	go func() {
		popErr <- readZstd(filepath.Join(dir, filePopularity), func(r io.Reader) error { return readPopularity(r, pop) })
	}()
	chunks, err := readItemsOf(ctx, dir, m)
	if perr := <-popErr; err == nil {
		err = perr
	}
	if err != nil {
		return nil, nil, err
	}
	n := 0
	for _, items := range chunks {
		n += len(items)
	}
	cat := search.NewCatalogOf(chunks, pop)
	if cat.Len() != n {
		return nil, nil, fmt.Errorf("%w: the catalogue has %d items but %d ids", ErrBadSnapshot, n, cat.Len())
	}
	return cat, chunks, nil
}

// readItemsOf reads the items of the snapshot in dir.
func readItemsOf(ctx context.Context, dir string, m Manifest) ([][]content.Item, error) {
	if _, ok := m.Files[fileItemsBin]; ok {
		return readItemsBin(ctx, filepath.Join(dir, fileItemsBin))
	}
	var items []content.Item
	if err := readZstd(filepath.Join(dir, fileItems), func(r io.Reader) (err error) { items, err = readItems(r); return err }); err != nil {
		return nil, err
	}
	return [][]content.Item{items}, nil
}

// readFile opens the file at path for fn. The file is handed over as it
// is: the decoders buffer their reads, and the index's use its size.
func readFile(path string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f)
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

// readItems reads format 1's catalogue, items.jsonl.zst's lines.
func readItems(r io.Reader) ([]content.Item, error) {
	var items []content.Item
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var it content.Item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrBadSnapshot, fileItems, line, err)
		}
		if err := it.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrBadSnapshot, fileItems, line, err)
		}
		if seen[it.ID] {
			return nil, fmt.Errorf("%w: %s:%d: item %q twice", ErrBadSnapshot, fileItems, line, it.ID)
		}
		seen[it.ID] = true
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadSnapshot, fileItems, err)
	}
	return items, nil
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

// readPopularity reads the popularity counts into pop.
func readPopularity(r io.Reader, pop map[string]float64) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	cr.ReuseRecord = true
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
		pop[rec[0]] += n
	}
}
