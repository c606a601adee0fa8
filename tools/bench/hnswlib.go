package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// hnswlibHeaderDirs are where hnswlib's header is looked for, in g++'s
// default include path.
var hnswlibHeaderDirs = []string{"/usr/include", "/usr/local/include"}

// hnswlibDriver returns the driver binary to run: path itself, or, when
// path is the driver's C++ source, a binary built from it in dir.
func hnswlibDriver(ctx context.Context, path, dir string) (string, error) {
	if !strings.HasSuffix(path, ".cpp") {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("hnswlib driver: %w", err)
		}
		return path, nil
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		return "", fmt.Errorf("build hnswlib driver: %w", err)
	}
	if !hnswlibHeaderInstalled() {
		return "", fmt.Errorf("build hnswlib driver: hnswlib/hnswlib.h not found in %s (Debian package libhnswlib-dev)", strings.Join(hnswlibHeaderDirs, ", "))
	}
	bin := filepath.Join(dir, "hnswlib-driver")
	cmd := exec.CommandContext(ctx, gxx, "-O3", "-march=native", "-std=c++17", "-pthread", "-o", bin, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hnswlib driver: %w\n%s", err, out)
	}
	return bin, nil
}

func hnswlibHeaderInstalled() bool {
	for _, d := range hnswlibHeaderDirs {
		if _, err := os.Stat(filepath.Join(d, "hnswlib", "hnswlib.h")); err == nil {
			return true
		}
	}
	return false
}

// hnswlibResult is what the driver reports.
type hnswlibResult struct {
	buildS, bpv float64
	// resident and peak are bytes per vector, as ANNRow's; 0 where the
	// driver could not tell.
	resident, peak float64
	rows           []hnswlibRow
}

type hnswlibRow struct {
	ef     int
	qps    float64
	labels [][]string
}

// runHNSWLib writes the vectors for the driver, runs it with the run's
// settings (and the cache file, when there is one) and reads back its
// build time, size, speeds and answers.
func runHNSWLib(ctx context.Context, driver string, d *ANNData, o ANNOptions, cache string) (*hnswlibResult, error) {
	dir, err := os.MkdirTemp("", "duet-hnswlib-data-")
	if err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	defer os.RemoveAll(dir)
	bp, qp := filepath.Join(dir, "base.fvecs"), filepath.Join(dir, "queries.fvecs")
	// Duet's indexes store unit vectors; hnswlib's inner product gets the
	// same so that both rank by cosine similarity.
	if err := writeUnitFvecs(bp, d.base, d.dim); err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	if err := writeUnitFvecs(qp, d.qs, d.dim); err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	efs := make([]string, len(o.Ef))
	for i, ef := range o.Ef {
		efs[i] = strconv.Itoa(ef)
	}
	args := []string{bp, qp, strconv.Itoa(o.M), strconv.Itoa(o.EfConstruction),
		strconv.Itoa(o.K), strings.Join(efs, ","), strconv.Itoa(o.Workers), strconv.Itoa(o.Repeat)}
	if cache != "" {
		args = append(args, cache)
	}
	cmd := exec.CommandContext(ctx, driver, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("hnswlib: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("hnswlib: start %s: %w", driver, err)
	}
	res, perr := parseHNSWLibOutput(stdout, d.nq)
	if perr != nil {
		// Drain what is left so that the driver can exit.
		io.Copy(io.Discard, stdout)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("hnswlib: %s: %w: %s", driver, err, strings.TrimSpace(stderr.String()))
	}
	if perr != nil {
		return nil, fmt.Errorf("hnswlib: %s output: %w", driver, perr)
	}
	if len(res.rows) != len(o.Ef) {
		return nil, fmt.Errorf("hnswlib: %s reported %d widths, want %d", driver, len(res.rows), len(o.Ef))
	}
	return res, nil
}

// parseHNSWLibOutput reads the driver's report: "build_s S",
// "bytes_per_vector B", "peak_bytes_per_vector P", then per width "ef E
// qps Q" and one line of labels per query, and last
// "resident_bytes_per_vector R".
func parseHNSWLibOutput(r io.Reader, nq int) (*hnswlibResult, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	res := &hnswlibResult{}
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		var err error
		switch {
		case len(f) == 2 && f[0] == "build_s":
			res.buildS, err = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "bytes_per_vector":
			res.bpv, err = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "peak_bytes_per_vector":
			res.peak, err = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "resident_bytes_per_vector":
			res.resident, err = strconv.ParseFloat(f[1], 64)
		case len(f) == 4 && f[0] == "ef" && f[2] == "qps":
			var row hnswlibRow
			if row.ef, err = strconv.Atoi(f[1]); err != nil {
				break
			}
			if row.qps, err = strconv.ParseFloat(f[3], 64); err != nil {
				break
			}
			row.labels = make([][]string, 0, nq)
			for range nq {
				if !sc.Scan() {
					return nil, fmt.Errorf("ef %d: %d of %d answers", row.ef, len(row.labels), nq)
				}
				line++
				row.labels = append(row.labels, strings.Fields(sc.Text()))
			}
			res.rows = append(res.rows, row)
		default:
			err = errors.New("unexpected line")
		}
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", line, sc.Text(), err)
		}
	}
	return res, sc.Err()
}
