package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		text string // expected in stdout+stderr
	}{
		{"help", []string{"--help"}, 0, "Available Commands"},
		{"gen help", []string{"gen", "--help"}, 0, "--items"},
		{"import help", []string{"import", "--help"}, 0, "--skip-bad"},
		{"no command", nil, 2, "command is required"},
		{"unknown command", []string{"frobnicate"}, 2, "frobnicate"},
		{"unknown flag", []string{"gen", "--bogus"}, 2, "bogus"},
		{"bad flag value", []string{"gen", "--out", dir, "--items", "many"}, 2, "many"},
		{"missing out", []string{"gen"}, 2, "--out is required"},
		{"zero items", []string{"gen", "--out", dir, "--items", "0"}, 2, "at least 1"},
		{"too few median events", []string{"gen", "--out", dir, "--median-events", "4"}, 2, "--median-events must be 5 to 200"},
		{"import without source", []string{"import", "--data", dir}, 2, "--movielens"},
		{"import both sources", []string{"import", "--data", dir, "--movielens", dir, "--items", "x"}, 2, "either"},
		{"import missing file", []string{"import", "--data", dir, "--movielens", filepath.Join(dir, "nope")}, 1, "no such file"},
		{"train objective", []string{"train", "--data", dir, "--out", filepath.Join(dir, "m"), "--objective", "all"}, 2, "--objective must be next or set"},
		{"rebuild objective", []string{"rebuild", "--data", dir, "--objective", "all"}, 2, "--objective must be next or set"},
		{"train without a store", []string{"train", "--data", filepath.Join(dir, "empty"), "--out", filepath.Join(dir, "m")}, 1, "no store there"},
		{"eval val without a split", []string{"eval", "--data", dir, "--val", "last"}, 2, "--val applies to a predefined split"},
		{"eval val shape", []string{"eval", "--items", "i", "--train", "a", "--test", "b", "--val", "first"}, 2, "--val must be last, random or auto"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out+errs, c.text) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant text %q", code, c.code, out, errs, c.text)
			}
		})
	}
}

func TestGenThenImport(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	code, out, errs := runCLI(t, "gen", "--out", src, "--items", "200", "--users", "50", "--seed", "3")
	if code != 0 {
		t.Fatalf("gen: %d %s %s", code, out, errs)
	}
	first, _ := os.ReadFile(filepath.Join(src, "events.csv"))
	if code, _, _ := runCLI(t, "gen", "--out", src, "--items", "200", "--users", "50", "--seed", "3"); code != 0 {
		t.Fatal("second gen failed")
	}
	second, _ := os.ReadFile(filepath.Join(src, "events.csv"))
	if !bytes.Equal(first, second) {
		t.Fatal("gen is not deterministic")
	}
	if left, _ := filepath.Glob(filepath.Join(src, ".*tmp*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
	data := filepath.Join(t.TempDir(), "data")
	code, out, errs = runCLI(t, "import", "--data", data, "--items", filepath.Join(src, "items.jsonl"), "--events", filepath.Join(src, "events.csv"))
	if code != 0 || !strings.Contains(out, "imported 200 items") {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	s, err := content.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, _ := s.Stats(context.Background())
	lines := bytes.Count(first, []byte("\n")) - 1
	if st.Items != 200 || st.Events != lines {
		t.Fatalf("store holds %+v, events file has %d rows", st, lines)
	}
}

func TestImport_SkipBadReport(t *testing.T) {
	dir := t.TempDir()
	items := filepath.Join(dir, "items.jsonl")
	os.WriteFile(items, []byte("{\"id\":\"a\"}\n{oops\n{\"id\":\"b\"}\n"), 0o644)
	data := filepath.Join(dir, "data")
	code, _, errs := runCLI(t, "import", "--data", data, "--items", items)
	if code != 1 || !strings.Contains(errs, "items.jsonl:2: bad JSON") {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	code, out, _ := runCLI(t, "import", "--data", data, "--items", items, "--skip-bad")
	if code != 0 || !strings.Contains(out, "imported 2 items") || !strings.Contains(out, "skipped 1 bad rows") || !strings.Contains(out, "items.jsonl:2:") {
		t.Fatalf("exit %d, stdout %s", code, out)
	}
}

// TestTrainSummary checks that duet train writes a model and quotes the
// validation recall of the epoch it kept.
func TestTrainSummary(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if code, out, errs := runCLI(t, "gen", "--out", src, "--items", "200", "--users", "50", "--seed", "3"); code != 0 {
		t.Fatalf("gen: %d %s %s", code, out, errs)
	}
	model := filepath.Join(t.TempDir(), "model.duet")
	code, out, errs := runCLI(t, "train", "--items", filepath.Join(src, "items.jsonl"), "--events", filepath.Join(src, "events.csv"),
		"--out", model, "--dim", "8", "--epochs", "2", "--workers", "1")
	if code != 0 {
		t.Fatalf("train: %d %s %s", code, out, errs)
	}
	if !regexp.MustCompile(`best epoch [12] \(validation recall@10 [01]\.\d{4}\)`).MatchString(out) {
		t.Errorf("summary does not quote the kept epoch's validation recall: %s", out)
	}
	if fi, err := os.Stat(model); err != nil || fi.Size() == 0 {
		t.Errorf("model file: %v", err)
	}
}

// Commands that only read the store run beside each other: train reads a
// store another process holds open for reading.
func TestTrain_BesideAnotherReader(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if code, out, errs := runCLI(t, "gen", "--out", src, "--items", "200", "--users", "50", "--seed", "3"); code != 0 {
		t.Fatalf("gen: %d %s %s", code, out, errs)
	}
	data := filepath.Join(t.TempDir(), "data")
	if code, out, errs := runCLI(t, "import", "--data", data, "--items", filepath.Join(src, "items.jsonl"), "--events", filepath.Join(src, "events.csv")); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	other, err := content.OpenReading(context.Background(), data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	model := filepath.Join(t.TempDir(), "model.duet")
	if code, out, errs := runCLI(t, "train", "--data", data, "--out", model, "--dim", "8", "--epochs", "1", "--workers", "1"); code != 0 {
		t.Fatalf("train beside a reader: %d %s %s", code, out, errs)
	}
}
