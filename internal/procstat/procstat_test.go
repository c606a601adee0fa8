package procstat_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/duetrec/duet/internal/procstat"
)

func TestPeakRSS(t *testing.T) {
	got := procstat.PeakRSS()
	if runtime.GOOS == "linux" && !strings.HasSuffix(got, " MB") {
		t.Fatalf("PeakRSS %q, want N MB on Linux", got)
	}
}

func TestCPU(t *testing.T) {
	before, ok := procstat.CPU()
	if !ok {
		t.Skip("no CPU time on this system")
	}
	x := 0
	for i := range 50_000_000 {
		x ^= i
	}
	after, _ := procstat.CPU()
	if after <= before {
		t.Fatalf("CPU time did not grow over a busy loop (%d): %v then %v", x, before, after)
	}
}
