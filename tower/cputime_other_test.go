//go:build !unix

package tower

import "time"

// cpuTime is not measured here; benchmarks then leave out the per
// CPU-second figure.
func cpuTime() time.Duration { return 0 }
