package index

import (
	"bytes"
	"errors"
	"testing"
)

func TestSplitHNSW(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  []string
		dim  int
	}{
		{"empty", nil, 4},
		{"one", []string{"a"}, 4},
		{"several", []string{"a", "bb", "item-00042", "z"}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHNSW(tc.dim, HNSWOptions{})
			if err != nil {
				t.Fatal(err)
			}
			idBytes := 0
			for i, id := range tc.ids {
				v := make([]float32, tc.dim)
				v[i%tc.dim] = 1
				if err := h.Upsert(id, v); err != nil {
					t.Fatal(err)
				}
				idBytes += 4 + len(id) + 2
			}
			var buf bytes.Buffer
			if err := h.Save(t.Context(), &buf); err != nil {
				t.Fatal(err)
			}
			s, err := SplitHNSW(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(s.IDs) != idBytes || len(s.Vectors) != 4*tc.dim*len(tc.ids) {
				t.Errorf("ids %d bytes, want %d; vectors %d, want %d", len(s.IDs), idBytes, len(s.Vectors), 4*tc.dim*len(tc.ids))
			}
			m := h.Options().M
			upper := 0
			for _, l := range h.levels {
				upper += int(l) * (1 + m)
			}
			n := len(tc.ids)
			if len(s.Codes) != 2*(tc.dim+4)*n || len(s.Lists) != 4*n*(1+2*m)+4*upper {
				t.Errorf("codes %d bytes, want %d; lists %d, want %d", len(s.Codes), 2*(tc.dim+4)*n, len(s.Lists), 4*n*(1+2*m)+4*upper)
			}
			if _, err := SplitHNSW(buf.Bytes()[:buf.Len()-4*upper-5]); err == nil && n > 0 {
				t.Error("a truncated file splits")
			}
		})
	}
	if _, err := SplitHNSW([]byte("not an index at all, not at all, no")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a file of another kind: %v, want ErrCorrupt", err)
	}
}
