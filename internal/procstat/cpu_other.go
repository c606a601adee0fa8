//go:build !unix

package procstat

import (
	"os"
	"time"
)

// CPU is not available here.
func CPU() (time.Duration, bool) { return 0, false }

// ChildPeakRSS is not available here.
func ChildPeakRSS(ps *os.ProcessState) (int64, bool) { return 0, false }
