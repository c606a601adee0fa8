package race_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEnabled builds a tiny program with and without -race and checks
// that each reports what it was built with.
func TestEnabled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	for _, tc := range []struct {
		flags []string
		want  string
	}{{nil, "false"}, {[]string{"-race"}, "true"}} {
		args := append([]string{"run"}, tc.flags...)
		args = append(args, "./testdata/enabled")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			if len(tc.flags) > 0 && strings.Contains(string(out), "-race") {
				t.Skipf("no race detector here: %s", out)
			}
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("go %v printed %q, want %q", args, got, tc.want)
		}
	}
}
