package content_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

func TestItem_Validate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	many := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = "t"
		}
		return s
	}
	cases := []struct {
		name  string
		item  content.Item
		field string // "" when valid
	}{
		{"minimal", content.Item{ID: "a"}, ""},
		{"id of 256 bytes", content.Item{ID: long(256)}, ""},
		{"multiline description", content.Item{ID: "a", Description: "one\ntwo\tthree"}, ""},
		{"empty id", content.Item{}, "id"},
		{"id of 257 bytes", content.Item{ID: long(257)}, "id"},
		{"id with newline", content.Item{ID: "a\nb"}, "id"},
		{"invalid UTF-8 id", content.Item{ID: "a\xffb"}, "id"},
		{"title with control", content.Item{ID: "a", Title: "x\x07"}, "title"},
		{"title too long", content.Item{ID: "a", Title: long(content.MaxTitleBytes + 1)}, "title"},
		{"description too long", content.Item{ID: "a", Description: long(content.MaxDescriptionBytes + 1)}, "description"},
		{"too many tags", content.Item{ID: "a", Tags: many(content.MaxTags + 1)}, "tags"},
		{"empty tag", content.Item{ID: "a", Tags: []string{"x", ""}}, "tags[1]"},
		{"tag too long", content.Item{ID: "a", Tags: []string{long(content.MaxLabelBytes + 1)}}, "tags[0]"},
		{"too many categories", content.Item{ID: "a", Categories: many(content.MaxCategories + 1)}, "categories"},
		{"NaN attribute", content.Item{ID: "a", Attributes: map[string]content.Value{"p": content.Number(math.NaN())}}, "attributes.p"},
		{"infinite attribute", content.Item{ID: "a", Attributes: map[string]content.Value{"p": content.Number(math.Inf(-1))}}, "attributes.p"},
		{"empty attribute key", content.Item{ID: "a", Attributes: map[string]content.Value{"": content.String("v")}}, "attributes"},
		{"attribute value too long", content.Item{ID: "a", Attributes: map[string]content.Value{"k": content.String(long(content.MaxAttrValueBytes + 1))}}, "attributes.k"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.item.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ve *content.ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field || !errors.Is(err, content.ErrInvalid) {
				t.Fatalf("err %v, want a validation error on %q", err, c.field)
			}
		})
	}
}

func TestEvent_Validate(t *testing.T) {
	ok := content.Event{UserID: "u", ItemID: "i", Kind: "view", Value: 1}
	cases := []struct {
		name  string
		edit  func(*content.Event)
		field string
	}{
		{"valid", func(*content.Event) {}, ""},
		{"known time", func(e *content.Event) { e.Time = time.Unix(1, 0) }, ""},
		{"no user", func(e *content.Event) { e.UserID = "" }, "user_id"},
		{"no item", func(e *content.Event) { e.ItemID = "" }, "item_id"},
		{"no kind", func(e *content.Event) { e.Kind = "" }, "kind"},
		{"NaN value", func(e *content.Event) { e.Value = math.NaN() }, "value"},
		{"year 10000", func(e *content.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "timestamp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := ok
			c.edit(&ev)
			err := ev.Validate()
			var ve *content.ValidationError
			if c.field == "" && err != nil || c.field != "" && (!errors.As(err, &ve) || ve.Field != c.field) {
				t.Fatalf("err %v, want field %q", err, c.field)
			}
		})
	}
}

func TestItem_JSON(t *testing.T) {
	it := content.Item{ID: "a", Title: "T", Attributes: map[string]content.Value{"n": content.Number(2.5), "s": content.String("2.5")}}
	b, err := json.Marshal(it)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"a","title":"T","attributes":{"n":2.5,"s":"2.5"}}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	if _, err := json.Marshal(content.Item{ID: "a", Attributes: map[string]content.Value{"n": content.Number(math.Inf(1))}}); err == nil {
		t.Fatal("marshalled an infinite attribute")
	}
}

func TestParseTimestamp(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"964982703", time.Unix(964982703, 0), true},
		{"964982703.25", time.Unix(964982703, 250_000_000), true},
		{"2023-11-14T22:13:20Z", time.Unix(1700000000, 0), true},
		{"2023-11-14T23:13:20+01:00", time.Unix(1700000000, 0), true},
		{"yesterday", time.Time{}, false},
		{"1e300", time.Time{}, false},
		{"NaN", time.Time{}, false},
	}
	for _, c := range cases {
		got, err := content.ParseTimestamp(c.in)
		if (err == nil) != c.ok || c.ok && !got.Equal(c.want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v", c.in, got, err)
		}
	}
}
