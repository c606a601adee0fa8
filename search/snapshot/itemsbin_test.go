package snapshot

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

func TestItemsBin_RoundTrip(t *testing.T) {
	ctx := context.Background()
	zone := time.FixedZone("", 5*3600+30*60) // as a decoded time has it, like JSON's
	items := []content.Item{
		{ID: "bare"},
		{
			ID: "full", Title: "Tïtle", Description: strings.Repeat("long words ", 50),
			Tags: []string{"a", "b"}, Categories: []string{"c"},
			Attributes: map[string]content.Value{"year": content.Number(1999), "lang": content.String("fr"), "price": content.Number(-0.25)},
			CreatedAt:  time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC), UpdatedAt: time.Date(2025, 6, 7, 8, 9, 10, 11, zone),
		},
	}
	// Enough items for several chunks, by count and by bytes.
	for i := range 2*chunkItems + 17 {
		items = append(items, content.Item{ID: fmt.Sprintf("i%05d", i), Title: "t", Description: strings.Repeat("d", i%700)})
	}
	var buf bytes.Buffer
	if err := writeItemsBin(&buf, items); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fileItemsBin)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	chunks, err := readItemsBin(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 3 {
		t.Fatalf("%d chunks, want several", len(chunks))
	}
	var got []content.Item
	for _, c := range chunks {
		got = append(got, c...)
	}
	if len(got) != len(items) {
		t.Fatalf("%d items back, wrote %d", len(got), len(items))
	}
	for i := range items {
		if !reflect.DeepEqual(got[i], items[i]) {
			t.Fatalf("item %d:\n got %+v\nwant %+v", i, got[i], items[i])
		}
	}
	if !got[1].UpdatedAt.Equal(items[1].UpdatedAt) || got[1].UpdatedAt.Format(time.RFC3339) != items[1].UpdatedAt.Format(time.RFC3339) {
		t.Fatalf("time %v, want %v in its zone", got[1].UpdatedAt, items[1].UpdatedAt)
	}
}

func TestItemsBin_RefusesDamage(t *testing.T) {
	ctx := context.Background()
	items := []content.Item{{ID: "a", Title: "x", Attributes: map[string]content.Value{"k": content.Number(1), "l": content.String("v")}}, {ID: "b"}}
	var buf bytes.Buffer
	if err := writeItemsBin(&buf, items); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	header := len(itemsMagic) + 4
	// A chunk whose items encode as raw, compressed as they are written.
	chunk := func(count int, raw []byte) []byte {
		enc := good[:header]
		frame := zstdFrame(t, raw)
		h := binary.LittleEndian.AppendUint32(nil, uint32(count))
		h = binary.LittleEndian.AppendUint32(h, uint32(len(raw)))
		h = binary.LittleEndian.AppendUint32(h, uint32(len(frame)))
		return append(append(append(append([]byte{}, enc...), h...), frame...), 0, 0, 0, 0)
	}
	one := appendItem(nil, &content.Item{ID: "a"})
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "not an items file"},
		{"other magic", append([]byte("DUETXXXX"), good[len(itemsMagic):]...), "not an items file"},
		{"other version", append(append([]byte(itemsMagic), 9, 0, 0, 0), good[header:]...), "version 9"},
		{"no end", good[:len(good)-4], "truncated"},
		{"cut frame", good[:header+20], "truncated"},
		{"bytes after the end", append(append([]byte{}, good...), 1), "after the end"},
		{"more items than the chunk holds", chunk(2, one), "truncated"},
		{"bytes after the items", chunk(1, append(append([]byte{}, one...), 7)), "after its items"},
		{"raw length that lies", chunk(chunkItems+1, one), "items in"},
		{"invalid item", chunk(1, appendItem(nil, &content.Item{ID: "bad\x00id"})), "control character"},
		{"attributes out of order", chunk(1, []byte("\x01a\x00\x00\x00\x00\x02\x01z\x00\x01y\x01a\x01y\x00\x00")), "out of order"},
		{"unknown attribute kind", chunk(1, []byte("\x01a\x00\x00\x00\x00\x01\x01k\x07\x00\x00")), "kind 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), fileItemsBin)
			if err := os.WriteFile(path, c.b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readItemsBin(ctx, path)
			if !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrBadSnapshot mentioning %q", err, c.want)
			}
		})
	}
}

func zstdFrame(t *testing.T, raw []byte) []byte {
	t.Helper()
	enc, err := newChunkEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(raw, nil)
}

func BenchmarkReadItemsBin(b *testing.B) {
	ctx := context.Background()
	items := make([]content.Item, 100_000)
	for i := range items {
		items[i] = content.Item{
			ID: fmt.Sprintf("i%06d", i), Title: "Molecule Reaction Element", Description: strings.Repeat("solvent electron lessons ", 8),
			Tags: []string{"elements", "bodyweight"}, Categories: []string{"chemistry"},
			Attributes: map[string]content.Value{"year": content.Number(2025), "language": content.String("es")},
			CreatedAt:  time.Unix(int64(1e9+i), 0).UTC(),
		}
	}
	var buf bytes.Buffer
	if err := writeItemsBin(&buf, items); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), fileItemsBin)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := readItemsBin(ctx, path); err != nil {
			b.Fatal(err)
		}
	}
}
