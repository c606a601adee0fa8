package content

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what one item or event may hold. They keep a single bad record
// from costing unbounded memory in the store, the model or the indexes.
const (
	MaxIDBytes          = 256
	MaxTitleBytes       = 1 << 10
	MaxDescriptionBytes = 64 << 10
	MaxTags             = 100
	MaxCategories       = 32
	MaxLabelBytes       = 128 // one tag, one category, one attribute key or kind
	MaxAttributes       = 64
	MaxAttrValueBytes   = 1 << 10
)

// Item is one entry of the catalog.
type Item struct {
	ID          string
	Title       string
	Description string
	Tags        []string
	Categories  []string
	Attributes  map[string]Value
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Value is an attribute value: a string or a finite number.
type Value struct {
	Str   string
	Num   float64
	IsNum bool
}

// String returns a string value.
func String(s string) Value { return Value{Str: s} }

// Number returns a numeric value.
func Number(f float64) Value { return Value{Num: f, IsNum: true} }

func (v Value) String() string {
	if v.IsNum {
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	}
	return v.Str
}

// MarshalJSON writes a JSON string or number.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.IsNum {
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return nil, fmt.Errorf("attribute value %v is not finite", v.Num)
		}
		return strconv.AppendFloat(nil, v.Num, 'g', -1, 64), nil
	}
	return json.Marshal(v.Str)
}

// UnmarshalJSON accepts a JSON string or number and nothing else.
func (v *Value) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = String(s)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("attribute value must be a string or a number, got %.20s", b)
	}
	*v = Number(f)
	return nil
}

// Event is one interaction of a user with an item: a view, a click, a
// purchase, a rating. Value weighs it (a rating's stars; 1 otherwise).
// A zero Time means the time is unknown.
type Event struct {
	UserID string
	ItemID string
	Kind   string
	Value  float64
	Time   time.Time
	// ImpressionID, when set, names the impression that showed the item:
	// the store attributes the event to it (see Store.AppendEvents). It is
	// not kept in the event log.
	ImpressionID string
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// checkID validates an item or user id: non-empty, at most MaxIDBytes, valid
// UTF-8 without control characters (ids end up in URLs, logs and keys).
func checkID(field, id string) error {
	switch {
	case id == "":
		return invalid(field, "is empty")
	case len(id) > MaxIDBytes:
		return invalid(field, "is %d bytes, more than %d", len(id), MaxIDBytes)
	}
	return checkText(field, id, MaxIDBytes, false)
}

// checkText validates free text: valid UTF-8, at most max bytes, and no
// control characters other than newline and tab where multiline is set.
func checkText(field, s string, max int, multiline bool) error {
	if len(s) > max {
		return invalid(field, "is %d bytes, more than %d", len(s), max)
	}
	// ASCII, most text, is checked a byte at a time.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return checkRunes(field, s[i:], multiline)
		}
		if (c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\t' || c == '\r')) {
			return invalid(field, "contains control character %U", rune(c))
		}
	}
	return nil
}

// checkRunes is checkText's test of characters past the ASCII.
func checkRunes(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			return invalid(field, "contains control character %U", r)
		}
	}
	return nil
}

func checkLabels(field string, labels []string, max int) error {
	if len(labels) > max {
		return invalid(field, "has %d entries, more than %d", len(labels), max)
	}
	for i, l := range labels {
		// The field's name is made only for an error: items are checked by
		// the million as snapshots load.
		if l == "" {
			return invalid(fmt.Sprintf("%s[%d]", field, i), "is empty")
		}
		if checkText(field, l, MaxLabelBytes, false) != nil {
			return checkText(fmt.Sprintf("%s[%d]", field, i), l, MaxLabelBytes, false)
		}
	}
	return nil
}

// Validate reports the first thing wrong with the item, as a *ValidationError.
func (it *Item) Validate() error {
	if err := checkID("id", it.ID); err != nil {
		return err
	}
	if err := checkText("title", it.Title, MaxTitleBytes, false); err != nil {
		return err
	}
	if err := checkText("description", it.Description, MaxDescriptionBytes, true); err != nil {
		return err
	}
	if err := checkLabels("tags", it.Tags, MaxTags); err != nil {
		return err
	}
	if err := checkLabels("categories", it.Categories, MaxCategories); err != nil {
		return err
	}
	if len(it.Attributes) > MaxAttributes {
		return invalid("attributes", "has %d entries, more than %d", len(it.Attributes), MaxAttributes)
	}
	for k, v := range it.Attributes {
		if checkAttribute(k, v) != nil {
			// The first in key order is the one reported.
			for _, k := range sortedKeys(it.Attributes) {
				if err := checkAttribute(k, it.Attributes[k]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func checkAttribute(k string, v Value) error {
	if k == "" {
		return invalid("attributes", "has an empty key")
	}
	if err := checkText("attributes key", k, MaxLabelBytes, false); err != nil {
		return err
	}
	if v.IsNum {
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return invalid("attributes."+k, "is not a finite number")
		}
		return nil
	}
	return checkText("attributes."+k, v.Str, MaxAttrValueBytes, false)
}

// Validate reports the first thing wrong with the event, as a *ValidationError.
func (ev *Event) Validate() error {
	if err := checkID("user_id", ev.UserID); err != nil {
		return err
	}
	if err := checkID("item_id", ev.ItemID); err != nil {
		return err
	}
	if ev.Kind == "" {
		return invalid("kind", "is empty")
	}
	if err := checkText("kind", ev.Kind, MaxLabelBytes, false); err != nil {
		return err
	}
	if math.IsNaN(ev.Value) || math.IsInf(ev.Value, 0) {
		return invalid("value", "is not a finite number")
	}
	if !ev.Time.IsZero() && (ev.Time.Year() < 1 || ev.Time.Year() > 9999) {
		return invalid("timestamp", "is out of range")
	}
	if len(ev.ImpressionID) > maxImpressionID {
		return invalid("impression_id", "is %d bytes, more than %d", len(ev.ImpressionID), maxImpressionID)
	}
	return nil
}

func sortedKeys(m map[string]Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// itemJSON is the generic items.jsonl line and the store's encoding of an item.
type itemJSON struct {
	ID          string           `json:"id"`
	Title       string           `json:"title,omitempty"`
	Description string           `json:"description,omitempty"`
	Tags        []string         `json:"tags,omitempty"`
	Categories  []string         `json:"categories,omitempty"`
	Attributes  map[string]Value `json:"attributes,omitempty"`
	CreatedAt   *time.Time       `json:"created_at,omitempty"`
	UpdatedAt   *time.Time       `json:"updated_at,omitempty"`
}

// MarshalJSON writes the item in the generic items.jsonl shape.
func (it Item) MarshalJSON() ([]byte, error) {
	j := itemJSON{
		ID: it.ID, Title: it.Title, Description: it.Description,
		Tags: it.Tags, Categories: it.Categories, Attributes: it.Attributes,
	}
	if !it.CreatedAt.IsZero() {
		j.CreatedAt = &it.CreatedAt
	}
	if !it.UpdatedAt.IsZero() {
		j.UpdatedAt = &it.UpdatedAt
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the generic items.jsonl shape.
func (it *Item) UnmarshalJSON(b []byte) error {
	var j itemJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*it = Item{
		ID: j.ID, Title: j.Title, Description: j.Description,
		Tags: j.Tags, Categories: j.Categories, Attributes: j.Attributes,
	}
	if j.CreatedAt != nil {
		it.CreatedAt = *j.CreatedAt
	}
	if j.UpdatedAt != nil {
		it.UpdatedAt = *j.UpdatedAt
	}
	return nil
}
