// Package procstat reads what the process has used so far: resident
// memory, now and at its peak, and CPU time, for the figures rebuilds and
// benchmarks print.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PeakRSS returns the process's peak resident memory so far, read from
// /proc/self/status, as "N MB"; "?" where that is not available.
func PeakRSS() string {
	if b, ok := status("VmHWM:"); ok {
		return fmt.Sprintf("%d MB", b>>20)
	}
	return "?"
}

// Resident returns the process's resident memory now, in bytes, and
// whether it could be read: anonymous memory and the pages of mapped
// files it has touched alike.
func Resident() (int64, bool) { return status("VmRSS:") }

// Peak returns the process's peak resident memory in bytes since it
// started or since the last ResetPeak, and whether it could be read.
func Peak() (int64, bool) { return status("VmHWM:") }

// ResetPeak starts Peak over from the resident memory now, where the
// system allows it (Linux, /proc/self/clear_refs); it reports whether it
// did.
func ResetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// status returns the value of a line of /proc/self/status given in kB, in
// bytes.
func status(key string) (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}
