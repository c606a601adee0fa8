package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchHTTP(t *testing.T) {
	endToEnd(t, "loads a server")
	s := startStack(t)
	// The stack's data set, drawn again for its events file.
	src := t.TempDir()
	mustRun(t, "gen", "--out", src, "--items", "300", "--users", "200", "--seed", "3")
	out := mustRun(t, "bench", "http", "--url", s.base, "--events", filepath.Join(src, "events.csv"),
		"--concurrency", "1,2", "--kind", "search", "--duration", "1500ms", "--requests", "100000", "--reload")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "kind conc requests failed req/s p50 ms p99 ms" ||
		!strings.HasPrefix(lines[1], "search         1 ") || !strings.Contains(lines[2], "snapshot reloads during the run") {
		t.Errorf("output: want a header and a line per run, the last with its reloads:\n%s", out)
	}
}

func TestBenchHTTP_Usage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no url", []string{"--events", "e.csv"}},
		{"no events", []string{"--url", "http://127.0.0.1:1"}},
		{"not loopback", []string{"--url", "http://example.com", "--events", "e.csv"}},
		{"not http", []string{"--url", "https://127.0.0.1:1", "--events", "e.csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, errs := runCLI(t, append([]string{"bench", "http"}, tc.args...)...); code != 2 {
				t.Errorf("exit %d, want 2\n%s", code, errs)
			}
		})
	}
}
