package main

import (
	"strings"
	"testing"
)

func TestBenchSearch_Usage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no data", nil, "--data is required"},
		{"no queries", []string{"--data", "d", "--queries", "0"}, "--queries and --k"},
		{"no hits", []string{"--data", "d", "--k", "0"}, "--queries and --k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCLI(t, append([]string{"bench", "search"}, tc.args...)...)
			if code != 2 || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, want 2 and %q\n%s", code, tc.want, errs)
			}
		})
	}
}
