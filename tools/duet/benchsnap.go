package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/spf13/cobra"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/procstat"
	"github.com/duetrec/duet/search"
	"github.com/duetrec/duet/search/snapshot"
)

func newBenchSnapshotCmd() *cobra.Command {
	var (
		data, jsonOut string
		repeats       int
	)
	cmd := &cobra.Command{
		Use:   "snapshot --data DATA [--repeats N]",
		Short: "Measure the newest snapshot: its files, load and write time, zstd ratios",
		Long: `Measure the newest complete snapshot of DATA: the size of each of its files
(Bleve's grouped as the text index); the time to verify it (the SHA-256 of
every file) and to load it as the server does (model, vectors and graph,
catalog, text index), the median of --repeats, with the peak resident memory;
the time to write it again through the writer an incremental rebuild
publishes with, into a temporary directory; and how well zstd compresses
its parts (the vector index's ids, raw vectors and neighbour lists, the
model) and the whole snapshot as one tar archive, at zstd's default and best
levels. DATA is only read: the store is not opened, and the loads and writes
go to temporary directories.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return usagef("--data is required")
			}
			if repeats < 1 {
				return usagef("--repeats must be at least 1")
			}
			rep, err := benchSnapshot(cmd.Context(), data, repeats)
			if err != nil {
				return err
			}
			rep.print(cmd.OutOrStdout())
			if jsonOut != "" {
				return writeBenchJSON(jsonOut, "snapshot", map[string]any{"data": data, "snapshot": rep.Dir, "items": rep.Items, "repeats": repeats}, []*snapReport{rep})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&data, "data", "", "data directory with snapshots")
	f.IntVar(&repeats, "repeats", 3, "times to verify, load and write the snapshot (the median is reported)")
	f.StringVar(&jsonOut, "json", "", "write every figure to this JSON file")
	return cmd
}

// snapReport is what bench snapshot measures.
type snapReport struct {
	Dir   string              `json:"dir"`
	Items int                 `json:"items"`
	Files []snapshot.FileSize `json:"files"`
	Bytes int64               `json:"bytes"`
	// Times in seconds, medians of the repeats.
	VerifyS  float64     `json:"verify_s"`
	LoadS    float64     `json:"load_s"`
	WriteS   float64     `json:"write_s"`
	LoadPeak string      `json:"load_peak_rss"`
	Zstd     []zstdRatio `json:"zstd"`
	ArchiveS float64     `json:"archive_tar_s"`
	Archive  []zstdRatio `json:"archive"`
}

// zstdRatio is how one part compresses at one level.
type zstdRatio struct {
	Part        string  `json:"part"`
	Level       string  `json:"level"`
	Bytes       int64   `json:"bytes"`
	Compressed  int64   `json:"compressed"`
	CompressS   float64 `json:"compress_s"`
	DecompressS float64 `json:"decompress_s"`
}

func (z zstdRatio) ratio() float64 { return float64(z.Bytes) / float64(max(z.Compressed, 1)) }

var zstdLevels = []struct {
	name  string
	level zstd.EncoderLevel
}{
	{"default", zstd.SpeedDefault},
	{"best", zstd.SpeedBestCompression},
}

func benchSnapshot(ctx context.Context, data string, repeats int) (*snapReport, error) {
	dir, m, _, err := snapshot.NewRoot(data).Latest(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench snapshot: %w", err)
	}
	rep := &snapReport{Dir: dir, Items: m.Items, Files: snapshot.Sizes(m)}
	for _, f := range rep.Files {
		rep.Bytes += f.Bytes
	}
	tmp, err := os.MkdirTemp("", "duet-bench-snapshot-")
	if err != nil {
		return nil, fmt.Errorf("bench snapshot: %w", err)
	}
	defer os.RemoveAll(tmp)

	rep.VerifyS, err = medianSeconds(repeats, func(int) error {
		_, err := snapshot.Verify(ctx, dir)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench snapshot: verify: %w", err)
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
			return nil, fmt.Errorf("bench snapshot: load: %w", err)
		}
		loadTimes = append(loadTimes, time.Since(start))
		if i == 0 {
			rep.LoadPeak = procstat.PeakRSS()
		}
		if err := snap.Close(); err != nil {
			return nil, fmt.Errorf("bench snapshot: close: %w", err)
		}
	}
	rep.LoadS = median(loadTimes).Seconds()

	// The write is timed alone: the load before it is not.
	var writeTimes []time.Duration
	for i := range repeats {
		snap, err := load(repeats + i)
		if err != nil {
			return nil, fmt.Errorf("bench snapshot: load: %w", err)
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
			return nil, fmt.Errorf("bench snapshot: write: %w", err)
		}
		if err := os.RemoveAll(root); err != nil {
			return nil, fmt.Errorf("bench snapshot: %w", err)
		}
	}
	rep.WriteS = median(writeTimes).Seconds()

	parts, err := snapshot.Parts(dir, m)
	if err != nil {
		return nil, fmt.Errorf("bench snapshot: %w", err)
	}
	for _, p := range parts {
		for _, l := range zstdLevels {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("bench snapshot: %w", err)
			}
			z, err := zstdPart(p.Name, l.name, l.level, p.Data)
			if err != nil {
				return nil, fmt.Errorf("bench snapshot: zstd %s: %w", p.Name, err)
			}
			rep.Zstd = append(rep.Zstd, z)
		}
	}
	parts = nil // the archive below is the whole snapshot again

	start := time.Now()
	archive, err := tarSnapshot(dir)
	if err != nil {
		return nil, fmt.Errorf("bench snapshot: tar: %w", err)
	}
	rep.ArchiveS = time.Since(start).Seconds()
	for _, l := range zstdLevels {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("bench snapshot: %w", err)
		}
		z, err := zstdPart("snapshot as one tar archive", l.name, l.level, archive)
		if err != nil {
			return nil, fmt.Errorf("bench snapshot: zstd archive: %w", err)
		}
		rep.Archive = append(rep.Archive, z)
	}
	return rep, nil
}

// noHistory serves no user histories: loading never reads them.
type noHistory struct{}

func (noHistory) UserEvents(context.Context, string, int) ([]content.Event, error) {
	return nil, nil
}

// medianSeconds runs fn n times and returns the median time it took.
func medianSeconds(n int, fn func(i int) error) (float64, error) {
	var times []time.Duration
	for i := range n {
		start := time.Now()
		if err := fn(i); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start))
	}
	return median(times).Seconds(), nil
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// zstdPart compresses and decompresses b in memory at one level.
func zstdPart(part, level string, l zstd.EncoderLevel, b []byte) (zstdRatio, error) {
	z := zstdRatio{Part: part, Level: level, Bytes: int64(len(b))}
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

// tarSnapshot returns the files below dir as one tar archive, as a
// snapshot would be shipped to another machine.
func tarSnapshot(dir string) ([]byte, error) {
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

func (r *snapReport) print(w io.Writer) {
	fmt.Fprintf(w, "snapshot %s (%d items)\n", r.Dir, r.Items)
	for _, f := range r.Files {
		fmt.Fprintf(w, "  %-28s %12d bytes  %7.1f MB\n", f.Name, f.Bytes, mb(f.Bytes))
	}
	fmt.Fprintf(w, "  %-28s %12d bytes  %7.1f MB\n", "total", r.Bytes, mb(r.Bytes))
	fmt.Fprintf(w, "verify (SHA-256 of every file) %.2f s, load (verify included) %.2f s (peak RSS %s), write %.2f s (medians)\n",
		r.VerifyS, r.LoadS, r.LoadPeak, r.WriteS)
	fmt.Fprintf(w, "tar archive written in %.2f s\n", r.ArchiveS)
	fmt.Fprintln(w, "zstd: part, level, MB, compressed MB, ratio, compress s, decompress s")
	for _, z := range append(slices.Clip(r.Zstd), r.Archive...) {
		fmt.Fprintf(w, "  %-30s %-7s %9.1f %9.1f %6.2f %7.2f %7.2f\n",
			z.Part, z.Level, mb(z.Bytes), mb(z.Compressed), z.ratio(), z.CompressS, z.DecompressS)
	}
}

func mb(n int64) float64 { return float64(n) / 1e6 }
