//go:build unix

package procstat

import (
	"os"
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

// ChildPeakRSS returns the peak resident memory of a child process that
// has exited, in bytes, and whether it could be read.
func ChildPeakRSS(ps *os.ProcessState) (int64, bool) {
	if ps == nil {
		return 0, false
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, false
	}
	return ru.Maxrss * 1024, true // kilobytes on Linux
}
