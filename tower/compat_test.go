package tower_test

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// TestLoad_EarlierFiles loads model files an earlier build of Duet wrote
// (testdata/format: a version 1 file of one model and a version 2 file of
// two members, dimension 8) and checks that they embed an item as they
// did then: golden.json holds the vectors that build gave.
func TestLoad_EarlierFiles(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "format", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string][]float32
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	for name, want := range golden {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "format", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := tower.Load(bufio.NewReader(f))
			if err != nil {
				t.Fatal(err)
			}
			got := m.ItemVector(content.Item{ID: "i03", Title: "silk lookbook"}, nil)
			if len(got) != len(want) {
				t.Fatalf("vector of %d, want %d", len(got), len(want))
			}
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-6 {
					t.Fatalf("component %d: %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}
