package content

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// EventsHeader is the header row of the generic events.csv format.
var EventsHeader = []string{"user_id", "item_id", "kind", "value", "timestamp"}

// ParseItemLine decodes one line of the generic items.jsonl format and
// validates it. Unknown fields are errors: a misspelt field would otherwise
// vanish silently.
func ParseItemLine(line []byte) (Item, error) { return ParseItemJSON(line, "") }

// ParseItemJSON is ParseItemLine for an item whose id may be given apart, as
// in a URL: a missing id is taken from id, and a different one is an error.
func ParseItemJSON(line []byte, id string) (Item, error) {
	var j struct {
		ID          *string          `json:"id"`
		Title       string           `json:"title"`
		Description string           `json:"description"`
		Tags        []string         `json:"tags"`
		Categories  []string         `json:"categories"`
		Attributes  map[string]Value `json:"attributes"`
	}
	if err := decodeStrict(line, &j); err != nil {
		return Item{}, err
	}
	switch {
	case j.ID == nil && id == "":
		return Item{}, invalid("id", "is missing")
	case j.ID == nil:
		j.ID = &id
	case id != "" && *j.ID != id:
		return Item{}, invalid("id", "%q differs from %q", clip(*j.ID), clip(id))
	}
	it := Item{
		ID: *j.ID, Title: j.Title, Description: j.Description,
		Tags: j.Tags, Categories: j.Categories, Attributes: j.Attributes,
	}
	if err := it.Validate(); err != nil {
		return Item{}, err
	}
	return it, nil
}

// decodeStrict decodes exactly one JSON value, refusing unknown fields.
func decodeStrict(b []byte, v any) error {
	// encoding/json would quietly turn invalid bytes into U+FFFD.
	if !utf8.Valid(b) {
		return errors.New("bad JSON: not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %w", jsonReason(err))
	}
	if dec.More() {
		return errors.New("bad JSON: more than one value")
	}
	return nil
}

func jsonReason(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%s at byte %d", se.Error(), se.Offset)
	}
	if err == io.EOF {
		return errors.New("empty line")
	}
	return err
}

// ParseEventRecord decodes one row of the generic events.csv format and
// validates it. An empty value means 1; the timestamp is unix seconds,
// RFC 3339, or empty (unknown).
func ParseEventRecord(rec []string) (Event, error) {
	if len(rec) != len(EventsHeader) {
		return Event{}, fmt.Errorf("has %d fields, want %d (%s)", len(rec), len(EventsHeader), strings.Join(EventsHeader, ","))
	}
	ev := Event{UserID: rec[0], ItemID: rec[1], Kind: rec[2], Value: 1}
	if s := rec[3]; s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return Event{}, invalid("value", "%q is not a number", clip(s))
		}
		ev.Value = v
	}
	t, err := parseTimestamp(rec[4])
	if err != nil {
		return Event{}, err
	}
	ev.Time = t
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// parseTimestamp reads unix seconds (integer or fractional) or RFC 3339;
// the empty string is the zero time (unknown).
func parseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < -62135596800 || n > 253402300799 { // years 1 to 9999
			return time.Time{}, invalid("timestamp", "%d is out of range", n)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || f < -62135596800 || f > 253402300799 {
			return time.Time{}, invalid("timestamp", "%q is out of range", clip(s))
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid("timestamp", "%q is neither unix seconds nor RFC 3339", clip(s))
	}
	return t, nil
}

// eventJSON is an event as the API reads and writes it.
type eventJSON struct {
	UserID    string          `json:"user_id"`
	ItemID    string          `json:"item_id"`
	Kind      string          `json:"kind"`
	Value     *float64        `json:"value,omitempty"`
	Timestamp json.RawMessage `json:"timestamp,omitempty"`
	// ImpressionID names the impression that showed the item.
	ImpressionID string `json:"impression_id,omitempty"`
}

// ParseEventJSON decodes and validates an event given as JSON:
// {"user_id", "item_id", "kind", "value", "timestamp"}. A missing value
// means 1; the timestamp is unix seconds (a number or a string of digits),
// an RFC 3339 string, or missing (unknown). Unknown fields are errors.
func ParseEventJSON(b []byte) (Event, error) {
	var j eventJSON
	if err := decodeStrict(b, &j); err != nil {
		return Event{}, err
	}
	ev := Event{UserID: j.UserID, ItemID: j.ItemID, Kind: j.Kind, Value: 1, ImpressionID: j.ImpressionID}
	if j.Value != nil {
		ev.Value = *j.Value
	}
	if ts := j.Timestamp; len(ts) > 0 && string(ts) != "null" {
		s := string(ts)
		if ts[0] == '"' {
			if err := json.Unmarshal(ts, &s); err != nil {
				return Event{}, invalid("timestamp", "is not a string")
			}
			if s == "" {
				return Event{}, invalid("timestamp", "is empty")
			}
		}
		t, err := parseTimestamp(s)
		if err != nil {
			return Event{}, err
		}
		ev.Time = t
	}
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// MarshalJSON writes the shape ParseEventJSON reads, with the time in
// RFC 3339 (omitted when unknown).
func (ev Event) MarshalJSON() ([]byte, error) {
	if math.IsNaN(ev.Value) || math.IsInf(ev.Value, 0) {
		return nil, fmt.Errorf("event value %v is not finite", ev.Value)
	}
	j := eventJSON{UserID: ev.UserID, ItemID: ev.ItemID, Kind: ev.Kind, Value: &ev.Value, ImpressionID: ev.ImpressionID}
	if !ev.Time.IsZero() {
		j.Timestamp, _ = json.Marshal(ev.Time.UTC().Format(time.RFC3339Nano))
	}
	return json.Marshal(j)
}

// eventRecord formats an event as a row of the generic events.csv format.
// Unknown times are written empty; whole-second times as unix seconds and
// others as RFC 3339, so that a row reads back to the same event.
func eventRecord(ev Event) []string {
	ts := ""
	if !ev.Time.IsZero() {
		if ev.Time.Nanosecond() == 0 {
			ts = strconv.FormatInt(ev.Time.Unix(), 10)
		} else {
			ts = ev.Time.UTC().Format(time.RFC3339Nano)
		}
	}
	return []string{ev.UserID, ev.ItemID, ev.Kind, strconv.FormatFloat(ev.Value, 'g', -1, 64), ts}
}

// eventWriter writes the generic events.csv format.
type eventWriter struct {
	w           *csv.Writer
	wroteHeader bool
}

// newEventWriter returns a writer that starts with the header row.
func newEventWriter(w io.Writer) *eventWriter { return &eventWriter{w: csv.NewWriter(w)} }

// Write writes one event.
func (ew *eventWriter) Write(ev Event) error {
	if !ew.wroteHeader {
		ew.wroteHeader = true
		if err := ew.w.Write(EventsHeader); err != nil {
			return err
		}
	}
	return ew.w.Write(eventRecord(ev))
}

// Flush writes buffered rows (and the header, if nothing else was written).
func (ew *eventWriter) Flush() error {
	if !ew.wroteHeader {
		ew.wroteHeader = true
		if err := ew.w.Write(EventsHeader); err != nil {
			return err
		}
	}
	ew.w.Flush()
	return ew.w.Error()
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
