package tower_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// TestMembers checks that a model of several members is its members side
// by side: member k is the model trained alone from seed Seed+k, and a
// dot product of joined vectors is the mean of the members' cosines.
func TestMembers(t *testing.T) {
	ctx := context.Background()
	ds := smallDataset(t)
	sp := leaveLastOut(ds)
	cfg := tower.Config{Dim: 8, Buckets: 1 << 10, Epochs: 2, Workers: 1, Seed: 7, UserExamples: 5, HistoryLen: 10, Members: 3}
	m, err := tower.Train(ctx, ds, sp.train, sp.val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Dim() != 24 || m.Config().Members != 3 {
		t.Fatalf("Dim %d, Members %d; want 24, 3", m.Dim(), m.Config().Members)
	}
	alone := make([]*tower.Model, 3)
	for k := range alone {
		c := cfg
		c.Members, c.Seed = 1, cfg.Seed+uint64(k)
		if alone[k], err = tower.Train(ctx, ds, sp.train, sp.val, c); err != nil {
			t.Fatal(err)
		}
	}
	newItem := content.Item{ID: "new", Title: "a story of space travel"}
	history := sp.val[0].History
	vectors := []struct {
		name string
		of   func(m *tower.Model) []float32
	}{
		{"item", func(m *tower.Model) []float32 { return m.ItemVectorByIndex(3, nil) }},
		{"new item", func(m *tower.Model) []float32 { return m.ItemVector(newItem, nil) }},
		{"query", func(m *tower.Model) []float32 { v, _ := m.QueryVector("space travel", nil); return v }},
		{"user", func(m *tower.Model) []float32 { return m.UserVector(history, nil) }},
		{"user of items", func(m *tower.Model) []float32 {
			return m.UserVectorItems([]content.Item{ds.Items[history[0]], newItem}, nil)
		}},
	}
	scale := float32(1 / math.Sqrt(3))
	for _, v := range vectors {
		got := v.of(m)
		if len(got) != 24 {
			t.Fatalf("%s: length %d, want 24", v.name, len(got))
		}
		for k, a := range alone {
			want := v.of(a)
			for j := range want {
				if d := got[k*8+j] - scale*want[j]; d > 1e-6 || d < -1e-6 {
					t.Fatalf("%s: member %d differs from the model trained alone: %v, want %v", v.name, k, got[k*8:k*8+8], want)
				}
			}
		}
	}
	u, it := m.UserVector(history, nil), m.ItemVectorByIndex(5, nil)
	var mean float64
	for _, a := range alone {
		mean += float64(dot(a.UserVector(history, nil), a.ItemVectorByIndex(5, nil))) / 3
	}
	if got := float64(dot(u, it)); math.Abs(got-mean) > 1e-5 {
		t.Errorf("joined score %v, want the members' mean cosine %v", got, mean)
	}

	file, m2 := roundTrip(t, m)
	for _, v := range vectors {
		if !slices.Equal(v.of(m), v.of(m2)) {
			t.Errorf("%s: the loaded model's vector differs", v.name)
		}
	}
	for _, n := range []int{len(file) / 2, len(file) - 5} {
		if _, err := tower.Load(bytes.NewReader(file[:n])); !errors.Is(err, tower.ErrBadModel) {
			t.Errorf("truncated to %d bytes: error %v, want ErrBadModel", n, err)
		}
	}
	one := bytes.Clone(file)
	one[8] = 1
	fixCRC(one)
	if _, err := tower.Load(bytes.NewReader(one)); !errors.Is(err, tower.ErrBadModel) {
		t.Errorf("version 1 with three members: error %v, want ErrBadModel", err)
	}
}
