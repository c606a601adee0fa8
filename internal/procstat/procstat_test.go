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

func TestResidentAndPeak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read from /proc")
	}
	if !procstat.ResetPeak() {
		t.Skip("this kernel cannot reset the peak")
	}
	before, ok := procstat.Resident()
	if !ok || before <= 0 {
		t.Fatalf("Resident = %d, %t", before, ok)
	}
	// 64 MiB touched page by page raise both.
	b := make([]byte, 64<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	now, _ := procstat.Resident()
	peak, ok := procstat.Peak()
	if !ok || now < before+48<<20 || peak < now {
		t.Fatalf("resident %d → %d after touching 64 MiB, peak %d (%t)", before, now, peak, ok)
	}
	runtime.KeepAlive(b)
}
