package content

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Progress is told how far a long piece of work has come. Importers report
// the bytes of each file they read; a nil Progress is silent.
type Progress interface {
	Start(stage string, total int64)
	Add(n int64)
	Done()
}

// ImportOptions tunes an import.
type ImportOptions struct {
	// SkipBad skips malformed rows, counting them, instead of stopping.
	SkipBad bool
	// BatchSize is the number of records per transaction (default 10000).
	BatchSize int
	// Progress, if set, follows each file as it is read.
	Progress Progress
}

// ImportReport counts what an import wrote and skipped.
type ImportReport struct {
	Items       int      `json:"items"`
	Events      int      `json:"events"`
	Users       int      `json:"users"`
	TagRows     int      `json:"tag_rows,omitempty"`     // MovieLens tag rows attached to items
	DistinctTag int      `json:"item_tags,omitempty"`    // distinct (item, tag) pairs after folding case
	TagsDropped int      `json:"tags_dropped,omitempty"` // tags beyond MaxTags on one item
	Skipped     int      `json:"skipped"`
	SkippedRows []string `json:"skipped_rows,omitempty"` // the first few skipped rows and why
}

const maxSkippedRows = 20

// rowCheck collects the outcome of validating rows: in the first pass a bad
// row either stops the import or, with SkipBad, is remembered so that the
// second pass, which writes, skips the very same rows.
type rowCheck struct {
	skipBad bool
	bad     map[string]map[int]bool // file → bad lines
	report  *ImportReport
}

func (rc *rowCheck) fail(file string, line int, err error) error {
	rerr := &RowError{File: file, Line: line, Err: err}
	if !rc.skipBad {
		return rerr
	}
	if rc.bad[file] == nil {
		rc.bad[file] = map[int]bool{}
	}
	rc.bad[file][line] = true
	rc.report.Skipped++
	if len(rc.report.SkippedRows) < maxSkippedRows {
		rc.report.SkippedRows = append(rc.report.SkippedRows, rerr.Error())
	}
	return nil
}

func (rc *rowCheck) isBad(file string, line int) bool { return rc.bad[file][line] }

// ImportGeneric imports the generic format: items from itemsPath
// (items.jsonl) and events from eventsPath (events.csv); either may be "".
//
// All rows are checked before anything is written, so a malformed row (or an
// event naming an item neither in the file nor in the store) stops the
// import with the store unchanged, unless SkipBad is set.
func ImportGeneric(ctx context.Context, s *Store, itemsPath, eventsPath string, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	rc := &rowCheck{skipBad: opts.SkipBad, bad: map[string]map[int]bool{}, report: &rep}
	ids := map[string]bool{}
	if itemsPath != "" {
		err := readItemsFile(ctx, itemsPath, opts.Progress, "check "+filepath.Base(itemsPath), func(line int, it Item, err error) error {
			if err != nil {
				return rc.fail(itemsPath, line, err)
			}
			ids[it.ID] = true
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	var users map[string]bool
	if eventsPath != "" {
		var err error
		if users, err = checkEvents(ctx, s, eventsPath, EventsHeader, ParseEventRecord, ids, rc, opts.Progress); err != nil {
			return rep, err
		}
	}
	if itemsPath != "" {
		if err := writeItemsFile(ctx, s, itemsPath, rc, opts, &rep); err != nil {
			return rep, err
		}
	}
	if eventsPath != "" {
		rep.Users = len(users)
		if err := writeEvents(ctx, s, eventsPath, EventsHeader, ParseEventRecord, rc, opts, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// maxLine bounds one items.jsonl line: the largest valid item fits well.
const maxLine = 1 << 20

func readItemsFile(ctx context.Context, path string, p Progress, stage string, fn func(line int, it Item, err error) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(progressReader(f, p, stage), 64<<10)
	defer progressDone(p)
	for line := 1; ; line++ {
		if line%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		b, err := readLine(r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, errLongLine) {
				if ferr := fn(line, Item{}, err); ferr != nil {
					return ferr
				}
				continue
			}
			return fmt.Errorf("read %s: %w", path, err)
		}
		if len(strings.TrimSpace(string(b))) == 0 {
			continue // blank lines are allowed, e.g. a trailing one
		}
		it, perr := ParseItemLine(b)
		if err := fn(line, it, perr); err != nil {
			return err
		}
	}
}

var errLongLine = fmt.Errorf("line longer than %d bytes", maxLine)

// readLine returns the next line without its end; a line over maxLine is
// consumed and reported as errLongLine.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLine {
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			return nil, errLongLine
		}
		buf = append(buf, chunk...)
		switch err {
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(buf) == 0 {
				return nil, io.EOF
			}
		case nil:
		default:
			return nil, err
		}
		return []byte(strings.TrimRight(string(buf), "\r\n")), nil
	}
}

func writeItemsFile(ctx context.Context, s *Store, path string, rc *rowCheck, opts ImportOptions, rep *ImportReport) error {
	batch := make([]Item, 0, batchSize(opts))
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.PutItems(ctx, batch); err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		rep.Items += len(batch)
		batch = batch[:0]
		return nil
	}
	err := readItemsFile(ctx, path, opts.Progress, "write "+filepath.Base(path), func(line int, it Item, err error) error {
		if rc.isBad(path, line) {
			return nil
		}
		if err != nil {
			return &RowError{File: path, Line: line, Err: fmt.Errorf("changed since it was checked: %w", err)}
		}
		batch = append(batch, it)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func batchSize(opts ImportOptions) int {
	if opts.BatchSize > 0 {
		return opts.BatchSize
	}
	return 10000
}

// csvRows streams the rows of a CSV file after checking its header; fn gets
// each row with its line number.
func csvRows(ctx context.Context, path string, header []string, p Progress, stage string, fn func(line int, rec []string, err error) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	defer progressDone(p)
	cr := csv.NewReader(bufio.NewReaderSize(progressReader(f, p, stage), 64<<10))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	got, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return &RowError{File: path, Line: 1, Err: errors.New("empty file, want a header row")}
		}
		return &RowError{File: path, Line: 1, Err: err}
	}
	if len(got) > 0 {
		got[0] = strings.TrimPrefix(got[0], "\uFEFF")
	}
	if strings.Join(got, ",") != strings.Join(header, ",") {
		return &RowError{File: path, Line: 1, Err: fmt.Errorf("header is %q, want %q", clip(strings.Join(got, ",")), strings.Join(header, ","))}
	}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
				err = pe.Err
			}
			if ferr := fn(line, nil, err); ferr != nil {
				return ferr
			}
			continue
		}
		if err := fn(line, rec, nil); err != nil {
			return err
		}
	}
}

// checkEvents validates every row of an events file; items must be in ids
// or already in the store. It returns the set of users.
func checkEvents(ctx context.Context, s *Store, path string, header []string, parse func([]string) (Event, error), ids map[string]bool, rc *rowCheck, p Progress) (map[string]bool, error) {
	users := map[string]bool{}
	stored := map[string]bool{} // the store's answer for ids not in the file
	err := csvRows(ctx, path, header, p, "check "+filepath.Base(path), func(line int, rec []string, err error) error {
		if err != nil {
			return rc.fail(path, line, err)
		}
		ev, err := parse(rec)
		if err != nil {
			return rc.fail(path, line, err)
		}
		if !ids[ev.ItemID] {
			known, asked := stored[ev.ItemID]
			if !asked {
				if known, err = s.e.hasItem(ctx, ev.ItemID); err != nil {
					return err
				}
				stored[ev.ItemID] = known
			}
			if !known {
				return rc.fail(path, line, fmt.Errorf("item %q: %w", clip(ev.ItemID), ErrUnknownItem))
			}
		}
		users[ev.UserID] = true
		return nil
	})
	return users, err
}

func writeEvents(ctx context.Context, s *Store, path string, header []string, parse func([]string) (Event, error), rc *rowCheck, opts ImportOptions, rep *ImportReport) error {
	batch := make([]Event, 0, batchSize(opts))
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if _, err := s.AppendEvents(ctx, batch); err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		rep.Events += len(batch)
		batch = batch[:0]
		return nil
	}
	err := csvRows(ctx, path, header, opts.Progress, "write "+filepath.Base(path), func(line int, rec []string, err error) error {
		if rc.isBad(path, line) {
			return nil
		}
		var ev Event
		if err == nil {
			ev, err = parse(rec)
		}
		if err != nil {
			return &RowError{File: path, Line: line, Err: fmt.Errorf("changed since it was checked: %w", err)}
		}
		batch = append(batch, ev)
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// The MovieLens layout (ml-latest-small, ml-25m and their kin).
var (
	moviesHeader  = []string{"movieId", "title", "genres"}
	ratingsHeader = []string{"userId", "movieId", "rating", "timestamp"}
	tagsHeader    = []string{"userId", "movieId", "tag", "timestamp"}
	yearSuffix    = regexp.MustCompile(`\((\d{4})\)\s*$`)
)

// parseMovieRecord reads a movies.csv row: genres become categories and the
// year in the title becomes the numeric attribute "year".
func parseMovieRecord(rec []string) (Item, error) {
	if len(rec) != len(moviesHeader) {
		return Item{}, fmt.Errorf("has %d fields, want %d (%s)", len(rec), len(moviesHeader), strings.Join(moviesHeader, ","))
	}
	it := Item{ID: rec[0], Title: strings.TrimSpace(rec[1])}
	if g := rec[2]; g != "" && g != "(no genres listed)" {
		it.Categories = strings.Split(g, "|")
	}
	if m := yearSuffix.FindStringSubmatch(it.Title); m != nil {
		y, _ := strconv.Atoi(m[1])
		it.Attributes = map[string]Value{"year": Number(float64(y))}
	}
	if err := it.Validate(); err != nil {
		return Item{}, err
	}
	return it, nil
}

// parseRatingRecord reads a ratings.csv row as a "rating" event.
func parseRatingRecord(rec []string) (Event, error) {
	if len(rec) != len(ratingsHeader) {
		return Event{}, fmt.Errorf("has %d fields, want %d (%s)", len(rec), len(ratingsHeader), strings.Join(ratingsHeader, ","))
	}
	if rec[2] == "" {
		return Event{}, invalid("rating", "is empty")
	}
	if rec[3] == "" {
		return Event{}, invalid("timestamp", "is empty")
	}
	return ParseEventRecord([]string{rec[0], rec[1], "rating", rec[2], rec[3]})
}

// parseTagRecord reads a tags.csv row: the movie and its tag, cut to
// MaxLabelBytes on a rune boundary.
func parseTagRecord(rec []string) (movieID, tag string, err error) {
	if len(rec) != len(tagsHeader) {
		return "", "", fmt.Errorf("has %d fields, want %d (%s)", len(rec), len(tagsHeader), strings.Join(tagsHeader, ","))
	}
	if err := checkID("movieId", rec[1]); err != nil {
		return "", "", err
	}
	tag = strings.Join(strings.Fields(rec[2]), " ")
	if tag == "" {
		return "", "", invalid("tag", "is empty")
	}
	if !utf8.ValidString(tag) {
		return "", "", invalid("tag", "is not valid UTF-8")
	}
	for len(tag) > MaxLabelBytes {
		_, size := utf8.DecodeLastRuneInString(tag)
		tag = tag[:len(tag)-size]
	}
	if err := checkText("tag", tag, MaxLabelBytes, false); err != nil {
		return "", "", err
	}
	return rec[1], tag, nil
}

// ImportMovieLens imports movies.csv, tags.csv (optional) and ratings.csv
// from dir. Genres become categories, tags become item tags (case folded,
// the most used first, at most MaxTags an item), ratings become "rating"
// events. As with ImportGeneric, everything is checked before anything is
// written.
func ImportMovieLens(ctx context.Context, s *Store, dir string, opts ImportOptions) (ImportReport, error) {
	var rep ImportReport
	rc := &rowCheck{skipBad: opts.SkipBad, bad: map[string]map[int]bool{}, report: &rep}
	moviesPath := filepath.Join(dir, "movies.csv")
	tagsPath := filepath.Join(dir, "tags.csv")
	ratingsPath := filepath.Join(dir, "ratings.csv")

	var order []string
	movies := map[string]*Item{}
	err := csvRows(ctx, moviesPath, moviesHeader, opts.Progress, "read movies.csv", func(line int, rec []string, err error) error {
		var it Item
		if err == nil {
			it, err = parseMovieRecord(rec)
		}
		if err != nil {
			return rc.fail(moviesPath, line, err)
		}
		if _, dup := movies[it.ID]; !dup {
			order = append(order, it.ID)
		}
		movies[it.ID] = &it
		return nil
	})
	if err != nil {
		return rep, err
	}

	type tagCount struct {
		tag   string
		n     int
		first int
	}
	tags := map[string]map[string]*tagCount{} // movie → folded tag → count
	if _, err := os.Stat(tagsPath); err == nil {
		err := csvRows(ctx, tagsPath, tagsHeader, opts.Progress, "read tags.csv", func(line int, rec []string, err error) error {
			var id, tag string
			if err == nil {
				id, tag, err = parseTagRecord(rec)
			}
			if err == nil && movies[id] == nil {
				err = fmt.Errorf("movie %q: %w", clip(id), ErrUnknownItem)
			}
			if err != nil {
				return rc.fail(tagsPath, line, err)
			}
			m := tags[id]
			if m == nil {
				m = map[string]*tagCount{}
				tags[id] = m
			}
			key := strings.ToLower(tag)
			if tc := m[key]; tc != nil {
				tc.n++
			} else {
				m[key] = &tagCount{tag: tag, n: 1, first: len(m)}
			}
			rep.TagRows++
			return nil
		})
		if err != nil {
			return rep, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("import: %w", err)
	}
	for id, m := range tags {
		list := make([]*tagCount, 0, len(m))
		for _, tc := range m {
			list = append(list, tc)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].n != list[j].n {
				return list[i].n > list[j].n
			}
			return list[i].first < list[j].first
		})
		if len(list) > MaxTags {
			rep.TagsDropped += len(list) - MaxTags
			list = list[:MaxTags]
		}
		it := movies[id]
		for _, tc := range list {
			it.Tags = append(it.Tags, tc.tag)
		}
		rep.DistinctTag += len(list)
	}

	users, err := checkEvents(ctx, s, ratingsPath, ratingsHeader, parseRatingRecord, asSet(movies), rc, opts.Progress)
	if err != nil {
		return rep, err
	}

	batch := make([]Item, 0, batchSize(opts))
	for i, id := range order {
		batch = append(batch, *movies[id])
		if len(batch) == cap(batch) || i == len(order)-1 {
			if _, err := s.PutItems(ctx, batch); err != nil {
				return rep, fmt.Errorf("import %s: %w", moviesPath, err)
			}
			rep.Items += len(batch)
			batch = batch[:0]
		}
	}
	rep.Users = len(users)
	if err := writeEvents(ctx, s, ratingsPath, ratingsHeader, parseRatingRecord, rc, opts, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

func asSet(m map[string]*Item) map[string]bool {
	set := make(map[string]bool, len(m))
	for id := range m {
		set[id] = true
	}
	return set
}

// progressReader reports the bytes read from f to p.
func progressReader(f *os.File, p Progress, stage string) io.Reader {
	if p == nil {
		return f
	}
	total := int64(-1)
	if fi, err := f.Stat(); err == nil {
		total = fi.Size()
	}
	p.Start(stage, total)
	return &countingReader{r: f, p: p}
}

func progressDone(p Progress) {
	if p != nil {
		p.Done()
	}
}

type countingReader struct {
	r io.Reader
	p Progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(int64(n))
	return n, err
}
