//go:build !unix

package procstat

import "time"

// CPU is not available here.
func CPU() (time.Duration, bool) { return 0, false }
