package bench

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/duetrec/duet/internal/durable"
)

// Report is the JSON file every benchmark writes: its name, the settings
// it ran with and its figures.
type Report struct {
	Name   string `json:"name"`
	Params any    `json:"params"`
	// Recall95 is bench ann's summary: per index the first search width
	// whose recall reaches 0.95. Other benchmarks leave it nil.
	Recall95 any `json:"recall_0.95,omitempty"`
	Results  any `json:"results"`
}

// WriteJSON writes the report to path as indented JSON, atomically.
func (r Report) WriteJSON(path string) error {
	if err := durable.WriteJSON(path, r); err != nil {
		return fmt.Errorf("bench %s: write %s: %w", r.Name, path, err)
	}
	return nil
}

// prefixError puts prefix before a non-nil *err.
func prefixError(err *error, prefix string) {
	if *err != nil {
		*err = fmt.Errorf("%s: %w", prefix, *err)
	}
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the p-th percentile of sorted, which must not be
// empty.
func percentile(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// sortedCopy returns d sorted, leaving d as it is.
func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

func round(x float64, digits int) float64 {
	s := math.Pow(10, float64(digits))
	return math.Round(x*s) / s
}

// startCPUProfile starts a CPU profile into path and returns the function
// that stops it and closes the file; with no path both do nothing.
func startCPUProfile(path string) (stop func() error, err error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// writeAllocProfile writes the allocation profile to path.
func writeAllocProfile(path string) error {
	runtime.GC() // the profile counts what the last collection saw
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("memory profile: %w", err)
	}
	return f.Close()
}
