package tower

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/duetrec/duet/content"
)

// Dataset is the catalog and behaviour log in the dense form training and
// evaluation work on: items and users numbered from 0, each user's
// interactions in time order.
type Dataset struct {
	Items []content.Item
	Users []string
	// History[u] is user u's interactions, oldest first.
	History [][]Interaction

	itemIndex map[string]int32
	userIndex map[string]int32
}

// Interaction is one event in dense form.
type Interaction struct {
	Item  int32
	Time  int64 // unix seconds; 0 when unknown
	Value float32
}

// NewDataset numbers the given items; users are added with AddEvent.
func NewDataset(items []content.Item) *Dataset {
	d := &Dataset{Items: items, itemIndex: make(map[string]int32, len(items)), userIndex: map[string]int32{}}
	for i, it := range items {
		d.itemIndex[it.ID] = int32(i)
	}
	return d
}

// ItemIndex returns the dense number of an item id.
func (d *Dataset) ItemIndex(id string) (int32, bool) {
	i, ok := d.itemIndex[id]
	return i, ok
}

// UserIndex returns the dense number of a user id.
func (d *Dataset) UserIndex(id string) (int32, bool) {
	u, ok := d.userIndex[id]
	return u, ok
}

// AddEvent appends an event to its user's history, keeping time order
// (events of unknown time keep their arrival order, before timed ones). It
// reports false, adding nothing, for an item the dataset does not hold.
func (d *Dataset) AddEvent(ev content.Event) bool {
	it, ok := d.itemIndex[ev.ItemID]
	if !ok {
		return false
	}
	u, ok := d.userIndex[ev.UserID]
	if !ok {
		u = int32(len(d.Users))
		d.userIndex[ev.UserID] = u
		d.Users = append(d.Users, ev.UserID)
		d.History = append(d.History, nil)
	}
	var ts int64
	if !ev.Time.IsZero() {
		ts = ev.Time.Unix()
	}
	h := append(d.History[u], Interaction{Item: it, Time: ts, Value: float32(ev.Value)})
	// Events mostly arrive in order: one insertion step is the common case.
	for i := len(h) - 1; i > 0 && h[i-1].Time > h[i].Time; i-- {
		h[i-1], h[i] = h[i], h[i-1]
	}
	d.History[u] = h
	return true
}

// Interactions returns the total number of interactions.
func (d *Dataset) Interactions() int {
	n := 0
	for _, h := range d.History {
		n += len(h)
	}
	return n
}

// LatestOrder returns the distinct items of a history, each placed at its
// latest interaction, oldest first: the form the item-to-item models and
// the evaluation's recommenders take.
func LatestOrder(h []Interaction) []int32 {
	seen := make(map[int32]bool, len(h))
	out := make([]int32, 0, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		if it := h[i].Item; !seen[it] {
			seen[it] = true
			out = append(out, it)
		}
	}
	slices.Reverse(out)
	return out
}

// Popularity counts the interactions with each item, by item id, in the
// given histories (ds.History itself, or a split's training part): the
// popularity a snapshot falls back on. Items without one are absent.
func (d *Dataset) Popularity(history [][]Interaction) map[string]float64 {
	pop := map[string]float64{}
	for _, h := range history {
		for _, x := range h {
			pop[d.Items[x.Item].ID]++
		}
	}
	return pop
}

// LoadDataset reads every item and event from the store. Events naming
// items no longer in the catalog are left out.
func LoadDataset(ctx context.Context, s *content.Store) (*Dataset, error) {
	var items []content.Item
	if err := s.ForEachItem(ctx, func(it content.Item) error {
		items = append(items, it)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load dataset: %w", err)
	}
	d := NewDataset(items)
	if err := s.ForEachEvent(ctx, func(ev content.Event) error {
		d.AddEvent(ev)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load dataset: %w", err)
	}
	return d, nil
}

// ReadItems reads a file in the generic items.jsonl format.
func ReadItems(ctx context.Context, path string) ([]content.Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []content.Item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if line%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		it, err := content.ParseItemLine(sc.Bytes())
		if err != nil {
			return nil, &content.RowError{File: path, Line: line, Err: err}
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return items, nil
}

// ReadEvents calls fn for every row of a file in the generic events.csv
// format.
func ReadEvents(ctx context.Context, path string, fn func(content.Event) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil || strings.TrimPrefix(strings.Join(head, ","), "\uFEFF") != strings.Join(content.EventsHeader, ",") {
		return &content.RowError{File: path, Line: 1, Err: fmt.Errorf("want the header %s", strings.Join(content.EventsHeader, ","))}
	}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return &content.RowError{File: path, Line: line, Err: err}
		}
		ev, err := content.ParseEventRecord(rec)
		if err != nil {
			return &content.RowError{File: path, Line: line, Err: err}
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// ReadDataset builds a dataset from files in the generic format. Events
// naming unknown items are an error: in a file pair they mean a mistake.
func ReadDataset(ctx context.Context, itemsPath, eventsPath string) (*Dataset, error) {
	items, err := ReadItems(ctx, itemsPath)
	if err != nil {
		return nil, fmt.Errorf("read dataset: %w", err)
	}
	d := NewDataset(items)
	err = ReadEvents(ctx, eventsPath, func(ev content.Event) error {
		if !d.AddEvent(ev) {
			return fmt.Errorf("event of user %q: item %q: %w", ev.UserID, ev.ItemID, content.ErrUnknownItem)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read dataset: %w", err)
	}
	return d, nil
}
