package content_test

import (
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

// csvRecord splits one CSV line as the importers' reader does.
func csvRecord(line string) ([]string, bool) {
	r := csv.NewReader(strings.NewReader(line))
	r.FieldsPerRecord = -1
	rec, err := r.Read()
	return rec, err == nil
}

// An accepted line is a valid item that writes back to a line read the same.
func FuzzParseItemLine(f *testing.F) {
	for _, s := range []string{
		`{"id":"a"}`,
		`{"id":"a","title":"T","description":"d\nx","tags":["x","y"],"categories":["c"],"attributes":{"n":1.5,"s":"v"}}`,
		`{"id":""}`, `{"id":"a","attributes":{"k":null}}`, `{"id":"a"} {"id":"b"}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		it, err := content.ParseItemLine(line)
		if err != nil {
			return
		}
		if err := it.Validate(); err != nil {
			t.Fatalf("accepted an invalid item: %v", err)
		}
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := content.ParseItemLine(b)
		if err != nil {
			t.Fatalf("written line %s does not read back: %v", b, err)
		}
		if !reflect.DeepEqual(normItem(it), normItem(back)) {
			t.Fatalf("round trip: %+v != %+v", it, back)
		}
	})
}

// normItem treats empty and nil collections alike.
func normItem(it content.Item) content.Item {
	if len(it.Tags) == 0 {
		it.Tags = nil
	}
	if len(it.Categories) == 0 {
		it.Categories = nil
	}
	if len(it.Attributes) == 0 {
		it.Attributes = nil
	}
	return it
}

// An accepted row is a valid event that formats back to a row read the same.
func FuzzParseEventRecord(f *testing.F) {
	for _, s := range []string{
		"u,i,view,1,1700000000", "u,i,rating,4.5,2023-11-14T22:13:21.5Z", "u,i,click,,",
		"u,i,view,NaN,", "u,i,view,1,99999999999999", `"u,1",i,view,1,1.5`, "u,,view,1,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		rec, ok := csvRecord(line)
		if !ok {
			return
		}
		ev, err := content.ParseEventRecord(rec)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		back, err := content.ParseEventRecord(content.EventRecord(ev))
		if err != nil {
			t.Fatalf("formatted row %q does not read back: %v", content.EventRecord(ev), err)
		}
		if back.UserID != ev.UserID || back.ItemID != ev.ItemID || back.Kind != ev.Kind || back.Value != ev.Value || !back.Time.Equal(ev.Time) {
			t.Fatalf("round trip: %+v != %+v", ev, back)
		}
	})
}

// The MovieLens row parsers, one target with the file chosen by the first
// input: 0 movies.csv, 1 ratings.csv, 2 tags.csv.
func FuzzParseMovieLensRecord(f *testing.F) {
	f.Add(uint8(0), `1,Toy Story (1995),Adventure|Animation`)
	f.Add(uint8(0), `2,"Title, With Comma (2001)",(no genres listed)`)
	f.Add(uint8(0), `3,,Drama||Comedy`)
	f.Add(uint8(1), `1,1,4.0,964982703`)
	f.Add(uint8(1), `1,1,,964982703`)
	f.Add(uint8(1), `1,1,4.0,`)
	f.Add(uint8(2), `2,60756,Highly quotable,1445714996`)
	f.Add(uint8(2), `2,60756,"  ",1445714996`)
	f.Fuzz(func(t *testing.T, which uint8, line string) {
		rec, ok := csvRecord(line)
		if !ok {
			return
		}
		switch which % 3 {
		case 0:
			it, err := content.ParseMovieRecord(rec)
			if err == nil {
				if verr := it.Validate(); verr != nil {
					t.Fatalf("accepted an invalid movie: %v", verr)
				}
			}
		case 1:
			ev, err := content.ParseRatingRecord(rec)
			if err == nil {
				if verr := ev.Validate(); verr != nil || ev.Kind != "rating" || ev.Time.IsZero() {
					t.Fatalf("accepted a bad rating %+v: %v", ev, verr)
				}
			}
		case 2:
			id, tag, err := content.ParseTagRecord(rec)
			if err == nil {
				it := content.Item{ID: id, Tags: []string{tag}}
				if verr := it.Validate(); verr != nil {
					t.Fatalf("accepted a bad tag row: %v", verr)
				}
			}
		}
	})
}

// An accepted JSON event is valid and marshals back to the same event.
func FuzzParseEventJSON(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"u","item_id":"i","kind":"view"}`,
		`{"user_id":"u","item_id":"i","kind":"rating","value":4.5,"timestamp":1700000000}`,
		`{"user_id":"u","item_id":"i","kind":"click","timestamp":"2023-11-14T22:13:20.5Z"}`,
		`{"user_id":"u","item_id":"i","kind":"v","timestamp":"1700000000"}`,
		`{"user_id":"u","item_id":"i","kind":"v","extra":1}`, `{"user_id":1}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := content.ParseEventJSON(b)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := content.ParseEventJSON(out)
		if err != nil {
			t.Fatalf("%s does not read back: %v", out, err)
		}
		if back.UserID != ev.UserID || back.ItemID != ev.ItemID || back.Kind != ev.Kind || back.Value != ev.Value || !back.Time.Equal(ev.Time) {
			t.Fatalf("round trip: %+v != %+v", ev, back)
		}
	})
}
