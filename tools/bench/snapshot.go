package bench

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/procstat"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
)

// SnapshotReport is what RunSnapshot measured.
type SnapshotReport struct {
	Dir   string              `json:"dir"`
	Items int                 `json:"items"`
	Files []snapshot.FileSize `json:"files"`
	Bytes int64               `json:"bytes"`
	// Times in seconds, medians of the repeats.
	VerifyS  float64     `json:"verify_s"`
	LoadS    float64     `json:"load_s"`
	WriteS   float64     `json:"write_s"`
	LoadPeak string      `json:"load_peak_rss"`
	Zstd     []ZstdRatio `json:"zstd"`
	ArchiveS float64     `json:"archive_tar_s"`
	Archive  []ZstdRatio `json:"archive"`

	data     string
	repeats  int
	loadOnly bool
}

// ZstdRatio is how one part compresses at one level.
type ZstdRatio struct {
	Part        string  `json:"part"`
	Level       string  `json:"level"`
	Bytes       int64   `json:"bytes"`
	Compressed  int64   `json:"compressed"`
	CompressS   float64 `json:"compress_s"`
	DecompressS float64 `json:"decompress_s"`
}

// Ratio is the uncompressed size over the compressed one.
func (z ZstdRatio) Ratio() float64 { return float64(z.Bytes) / float64(max(z.Compressed, 1)) }

// zstdLevels are the levels each part is compressed at.
var zstdLevels = []struct {
	name  string
	level zstd.EncoderLevel
}{
	{"default", zstd.SpeedDefault},
	{"best", zstd.SpeedBestCompression},
}

// SnapshotOptions says what RunSnapshot measures.
type SnapshotOptions struct {
	// Repeats is how many times each figure is taken; the median is
	// reported.
	Repeats int
	// LoadOnly times the loads alone: no verify on its own, no write, no
	// compression. With one repeat, the load is a fresh process's, as a
	// server's start is.
	LoadOnly bool
}

// RunSnapshot measures the newest complete snapshot of the data directory:
// the size of each of its files; the time to verify it and to load it as
// the server does, with the peak resident memory; the time to write it
// again as an incremental rebuild does; and how well zstd compresses its
// parts and the whole as one tar archive. Times are medians of repeats.
// The data directory is only read: loads and writes go to temporary
// directories.
func RunSnapshot(ctx context.Context, data string, opts SnapshotOptions) (_ *SnapshotReport, err error) {
	defer prefixError(&err, "bench snapshot")
	repeats := opts.Repeats
	if repeats < 1 {
		return nil, fmt.Errorf("%d repeats, want at least 1", repeats)
	}
	dir, m, _, err := snapshot.NewRoot(data).Latest(ctx)
	if err != nil {
		return nil, err
	}
	rep := &SnapshotReport{Dir: dir, Items: m.Items, Files: snapshot.Sizes(m), data: data, repeats: repeats}
	for _, f := range rep.Files {
		rep.Bytes += f.Bytes
	}
	tmp, err := os.MkdirTemp("", "duet-bench-snapshot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	var verifyTimes []time.Duration
	for range repeats {
		if opts.LoadOnly {
			break
		}
		start := time.Now()
		if _, err := snapshot.Verify(ctx, dir); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		verifyTimes = append(verifyTimes, time.Since(start))
	}
	if len(verifyTimes) > 0 {
		rep.VerifyS = median(verifyTimes).Seconds()
	}

	load := func(i int) (*snapshot.Snapshot, error) {
		return snapshot.Load(ctx, dir, filepath.Join(tmp, fmt.Sprintf("live-%d", i)), noHistory{}, search.Options{})
	}
	// A load verifies the snapshot too, as the server's does. The peak
	// RSS is taken after the first, before anything else was held.
	var loadTimes []time.Duration
	for i := range repeats {
		start := time.Now()
		snap, err := load(i)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		loadTimes = append(loadTimes, time.Since(start))
		if i == 0 {
			rep.LoadPeak = procstat.PeakRSS()
		}
		if err := snap.Close(); err != nil {
			return nil, fmt.Errorf("close: %w", err)
		}
	}
	rep.LoadS = median(loadTimes).Seconds()
	if opts.LoadOnly {
		rep.loadOnly = true
		return rep, nil
	}

	// The write is timed alone: the load before it is not.
	var writeTimes []time.Duration
	for i := range repeats {
		snap, err := load(repeats + i)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		pop := map[string]float64{}
		for _, s := range snap.Catalog().Popular(snap.Catalog().Len(), nil) {
			if s.Score != 0 {
				pop[s.ID] = s.Score
			}
		}
		root := filepath.Join(tmp, fmt.Sprintf("write-%d", i))
		start := time.Now()
		_, err = snap.SaveAs(ctx, snapshot.NewRoot(root), m.Seq, pop, nil)
		writeTimes = append(writeTimes, time.Since(start))
		snap.Close()
		if err != nil {
			return nil, fmt.Errorf("write: %w", err)
		}
		if err := os.RemoveAll(root); err != nil {
			return nil, err
		}
	}
	rep.WriteS = median(writeTimes).Seconds()

	parts, err := snapshot.Parts(dir, m)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		zs, err := zstdLevelsOf(ctx, p.Name, p.Data)
		if err != nil {
			return nil, fmt.Errorf("zstd %s: %w", p.Name, err)
		}
		rep.Zstd = append(rep.Zstd, zs...)
	}
	parts = nil // the archive below is the whole snapshot again

	start := time.Now()
	archive, err := tarDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	rep.ArchiveS = time.Since(start).Seconds()
	if rep.Archive, err = zstdLevelsOf(ctx, "snapshot as one tar archive", archive); err != nil {
		return nil, fmt.Errorf("zstd archive: %w", err)
	}
	return rep, nil
}

// noHistory serves no user histories: loading never reads them.
type noHistory struct{}

func (noHistory) UserEvents(context.Context, string, int) ([]content.Event, error) {
	return nil, nil
}

func median(d []time.Duration) time.Duration { return percentile(sortedCopy(d), 50) }

// zstdLevelsOf compresses and decompresses b at each level.
func zstdLevelsOf(ctx context.Context, part string, b []byte) ([]ZstdRatio, error) {
	var out []ZstdRatio
	for _, l := range zstdLevels {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		z, err := zstdPart(part, l.name, l.level, b)
		if err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, nil
}

// zstdPart compresses and decompresses b in memory at one level.
func zstdPart(part, level string, l zstd.EncoderLevel, b []byte) (ZstdRatio, error) {
	z := ZstdRatio{Part: part, Level: level, Bytes: int64(len(b))}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return z, err
	}
	start := time.Now()
	c := enc.EncodeAll(b, nil)
	z.CompressS = time.Since(start).Seconds()
	z.Compressed = int64(len(c))
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return z, err
	}
	defer dec.Close()
	start = time.Now()
	d, err := dec.DecodeAll(c, make([]byte, 0, len(b)))
	z.DecompressS = time.Since(start).Seconds()
	if err != nil {
		return z, err
	}
	if len(d) != len(b) {
		return z, fmt.Errorf("decompressed %d bytes, want %d", len(d), len(b))
	}
	return z, nil
}

// tarDir returns the files below dir as one tar archive, as a snapshot
// would be shipped to another machine.
func tarDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteText writes the files' sizes, the times and the compression table.
func (r *SnapshotReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "snapshot %s (%d items)\n", r.Dir, r.Items)
	for _, f := range r.Files {
		fmt.Fprintf(&b, "  %-28s %12d bytes  %7.1f MB\n", f.Name, f.Bytes, mb(f.Bytes))
	}
	fmt.Fprintf(&b, "  %-28s %12d bytes  %7.1f MB\n", "total", r.Bytes, mb(r.Bytes))
	if r.loadOnly {
		fmt.Fprintf(&b, "load (checksums included) %.2f s (peak RSS %s, %.2f× the snapshot's bytes)\n", r.LoadS, r.LoadPeak, peakRatio(r.LoadPeak, r.Bytes))
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "verify (SHA-256 of every file) %.2f s, load (checksums included) %.2f s (peak RSS %s, %.2f× the snapshot's bytes), write %.2f s (medians)\n",
		r.VerifyS, r.LoadS, r.LoadPeak, peakRatio(r.LoadPeak, r.Bytes), r.WriteS)
	fmt.Fprintf(&b, "tar archive written in %.2f s\n", r.ArchiveS)
	fmt.Fprintln(&b, "zstd: part, level, MB, compressed MB, ratio, compress s, decompress s")
	for _, z := range append(slices.Clip(r.Zstd), r.Archive...) {
		fmt.Fprintf(&b, "  %-30s %-7s %9.1f %9.1f %6.2f %7.2f %7.2f\n",
			z.Part, z.Level, mb(z.Bytes), mb(z.Compressed), z.Ratio(), z.CompressS, z.DecompressS)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// peakRatio is a peak RSS as procstat.PeakRSS gives it ("123 MB") over
// bytes; 0 when it has no figure.
func peakRatio(peak string, bytes int64) float64 {
	var n float64
	if _, err := fmt.Sscanf(peak, "%g MB", &n); err != nil || bytes == 0 {
		return 0
	}
	return n * (1 << 20) / float64(bytes) // procstat's MB are 2²⁰ bytes
}

// WriteJSON writes the report to path.
func (r *SnapshotReport) WriteJSON(path string) error {
	return Report{
		Name:    "snapshot",
		Params:  map[string]any{"data": r.data, "snapshot": r.Dir, "items": r.Items, "repeats": r.repeats},
		Results: []*SnapshotReport{r},
	}.WriteJSON(path)
}
