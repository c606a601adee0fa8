package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runBenchANNCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newBenchANNCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestBenchANN(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "ann.json")
	out, log, err := runBenchANNCLI(t, "--n", "1000", "--dim", "16", "--clusters", "10", "--queries", "20",
		"--index", "hnsw,exact", "--ef", "16,64", "--m", "8", "--ef-construction", "64", "--json", jsonPath)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "1000 base and 20 query vectors of dimension 16 ready in ") ||
		strings.Fields(lines[1])[0] != "index" || !strings.HasPrefix(lines[5], "hnsw: ") {
		t.Errorf("stdout: want the ready line, the table of 3 rows and the summary:\n%s", out)
	}
	if n := strings.Count(log, "measured "); n != 3 {
		t.Errorf("stderr has %d measured rows, want 3:\n%s", n, log)
	}
	if b, err := os.ReadFile(jsonPath); err != nil || !bytes.Contains(b, []byte(`"name": "ann"`)) || !bytes.Contains(b, []byte(`"recall_0.95"`)) {
		t.Errorf("--json: %v\n%s", err, b)
	}
}

func TestBenchANN_Usage(t *testing.T) {
	cases := [][]string{
		{"--index", "faiss"},
		{"--ef", "16,x"},
		{"--ef", "0"},
		{"--k", "0"},
		{"--n", "0"},
		{"--queries", "many"},
		{"--base", "b.fvecs"},
		{"extra"},
	}
	for _, args := range cases {
		_, _, err := runBenchANNCLI(t, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestBenchFilter_Usage(t *testing.T) {
	for _, args := range [][]string{
		{"--shares", "0.5,x"},
		{"--shares", "2"},
		{"--ef", "0"},
		{"--n", "0"},
		{"--k", "0"},
		{"extra"},
	} {
		cmd := newBenchFilterCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		var ue usageError
		if err := cmd.ExecuteContext(context.Background()); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
