//go:build unix

package procstat

import (
	"syscall"
	"time"
)

// CPU returns the CPU time the process has used, user and system, and
// whether it could be read: on a shared machine, the cost of work that
// wall time mixes with waiting for a core.
func CPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
