package tower_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/tower"
)

// tinyModel trains a very small model quickly: a few items, a small vocabulary.
func tinyModel(t testing.TB, userID bool) (*tower.Model, *tower.Dataset) {
	t.Helper()
	items := []content.Item{
		{ID: "a", Title: "red apple pie", Categories: []string{"food"}},
		{ID: "b", Title: "green apple", Tags: []string{"fruit"}, Categories: []string{"food", "fresh"}},
		{ID: "c", Title: "fast red car", Categories: []string{"cars"}},
		{ID: "d", Description: "a slow blue boat on the lake"},
	}
	ds := tower.NewDataset(items)
	for _, ev := range [][2]string{{"u", "a"}, {"u", "b"}, {"u", "a"}, {"v", "c"}, {"v", "d"}, {"v", "c"}} {
		ds.AddEvent(content.Event{UserID: ev[0], ItemID: ev[1], Value: 1})
	}
	m, err := tower.Train(context.Background(), ds, nil, nil, tower.Config{Dim: 4, Buckets: 32, HistoryLen: 4, Epochs: 2, Workers: 1, UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return m, ds
}

func saveBytes(t testing.TB, m *tower.Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// roundTrip saves m, loads the file and checks that saving the loaded
// model gives the same bytes. It returns the file and the loaded model.
func roundTrip(t *testing.T, m *tower.Model) ([]byte, *tower.Model) {
	t.Helper()
	file := saveBytes(t, m)
	m2, err := tower.Load(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saveBytes(t, m2), file) {
		t.Error("saving a loaded model gives another file")
	}
	return file, m2
}

func TestSaveLoad_RoundTrip(t *testing.T) {
	ds := smallDataset(t)
	m, err := tower.Train(context.Background(), ds, nil, nil, tower.Config{Dim: 16, Buckets: 1 << 10, Epochs: 1, Workers: 1, UserID: true, UserExamples: 5, Encoder: tower.EncoderAttention})
	if err != nil {
		t.Fatal(err)
	}
	file, m2 := roundTrip(t, m)
	if m2.Config().Encoder != m.Config().Encoder || m2.Dim() != m.Dim() || m2.NumItems() != m.NumItems() {
		t.Fatalf("config %+v, want %+v", m2.Config(), m.Config())
	}
	same := func(what string, a, b []float32) {
		t.Helper()
		if !slices.Equal(a, b) {
			t.Fatalf("%s: %v, want %v", what, b, a)
		}
	}
	for i := range int32(m.NumItems()) {
		same("item vector", m.ItemVectorByIndex(i, nil), m2.ItemVectorByIndex(i, nil))
		if id := m.ItemID(i); m2.ItemID(i) != id {
			t.Fatalf("item %d: id %q, want %q", i, m2.ItemID(i), id)
		} else if j, ok := m2.ItemIndex(id); !ok || j != i {
			t.Fatalf("ItemIndex(%q) = %d, %v", id, j, ok)
		}
	}
	newItem := content.Item{ID: "brand-new", Title: "a story of space travel", Categories: []string{ds.Items[0].Categories[0], "no such category"}}
	same("new item", m.ItemVector(newItem, nil), m2.ItemVector(newItem, nil))
	q1, _ := m.QueryVector("space travel story", nil)
	q2, _ := m2.QueryVector("space travel story", nil)
	same("query", q1, q2)
	for u := range 20 {
		h := make([]int32, 0, len(ds.History[u]))
		for _, x := range ds.History[u] {
			h = append(h, x.Item)
		}
		same("user", m.UserVector(h, nil), m2.UserVector(h, nil))
		same("user with id", m.UserVectorID(ds.Users[u], h, nil), m2.UserVectorID(ds.Users[u], h, nil))
		// The loaded model reads its history items' sums from a table.
		its := make([]content.Item, len(h))
		for k, i := range h {
			its[k] = ds.Items[i]
		}
		same("user from items", m.UserVectorItems(its, nil), m2.UserVectorItems(its, nil))
	}
	t.Logf("model file: %d bytes", len(file))
}

// fixCRC recomputes the trailing checksum after a deliberate edit, so that
// the loader's other checks are reached.
func fixCRC(b []byte) {
	n := len(b) - 4
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], crc32.MakeTable(crc32.Castagnoli)))
}

func TestLoad_Corrupt(t *testing.T) {
	m, _ := tinyModel(t, false)
	file := saveBytes(t, m)
	if _, err := tower.Load(bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(file)) }
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, tower.ErrBadModel},
		{"magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), tower.ErrBadModel},
		{"version", edit(func(b []byte) []byte { b[8] = 3; return b }), tower.ErrModelVersion},
		{"version of several members", edit(func(b []byte) []byte { b[8] = 2; fixCRC(b); return b }), tower.ErrBadModel},
		{"header length", edit(func(b []byte) []byte { b[15] = 0x7f; return b }), tower.ErrBadModel},
		{"header json", edit(func(b []byte) []byte { b[16] = '['; fixCRC(b); return b }), tower.ErrBadModel},
		{"body, checksum fixed", edit(func(b []byte) []byte { b[len(b)-10] ^= 0xff; fixCRC(b); return b }), tower.ErrBadModel},
		{"trailing checksum", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), tower.ErrBadModel},
	}
	// Every truncation and a flipped bit at every position.
	for n := 0; n < len(file); n += max(1, len(file)/97) {
		cases = append(cases, struct {
			name string
			data []byte
			want error
		}{"truncated", file[:n], tower.ErrBadModel})
	}
	for i := 0; i < len(file); i += max(1, len(file)/211) {
		if i >= 8 && i < 12 {
			continue // the version field: tested above
		}
		cases = append(cases, struct {
			name string
			data []byte
			want error
		}{"flipped", edit(func(b []byte) []byte { b[i] ^= 0x10; return b }), tower.ErrBadModel})
	}
	for _, tc := range cases {
		_, err := tower.Load(bytes.NewReader(tc.data))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s (%d bytes): error %v, want %v", tc.name, len(tc.data), err, tc.want)
		}
	}
}

func FuzzLoadModel(f *testing.F) {
	m, _ := tinyModel(f, true)
	file := saveBytes(f, m)
	f.Add(file)
	f.Add(file[:len(file)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := tower.Load(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, tower.ErrBadModel) && !errors.Is(err, tower.ErrModelVersion) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		// A file that loads must give a working model.
		m.ItemVector(content.Item{Title: "red apple"}, nil)
		for i := range int32(m.NumItems()) {
			m.ItemVectorByIndex(i, nil)
		}
		m.UserVector([]int32{0, 1, 2, 3, 99}, nil)
		m.QueryVector("apple", nil)
		if _, err := tower.Load(bytes.NewReader(saveBytes(t, m))); err != nil {
			t.Fatalf("a loaded model does not round-trip: %v", err)
		}
	})
}
