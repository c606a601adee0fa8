package bench_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// jsonReport is the JSON file of a benchmark whose results are Rs.
type jsonReport[R any] struct {
	Name    string         `json:"name"`
	Params  map[string]any `json:"params"`
	Summary map[string]any `json:"recall_0.95"` // bench ann's
	Results []R            `json:"results"`
}

// readReport writes rep's JSON file and reads it back.
func readReport[R any](t *testing.T, rep interface{ WriteJSON(string) error }) (jsonReport[R], []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j jsonReport[R]
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return j, b
}
