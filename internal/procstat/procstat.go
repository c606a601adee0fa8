// Package procstat reads what the process has used so far: peak resident
// memory and CPU time, for the figures rebuilds and benchmarks print.
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
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			if kb, err := strconv.Atoi(f[0]); err == nil {
				return fmt.Sprintf("%d MB", kb/1024)
			}
		}
	}
	return "?"
}
