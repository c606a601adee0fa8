//go:build unix

package tower

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used, user and system, for
// benchmarks that report throughput per CPU-second beside wall time: on a
// shared machine the wall figure says as much about the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
