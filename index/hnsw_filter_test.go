package index

import (
	"context"
	"iter"
	"maps"
	"slices"
	"sort"
	"testing"
)

// listedFunc is a ListedFilter whose Len is a bound, the ids it may list
// (as the engine's catalogue filters count the items of a category and
// leave the rest of a request's filters to the listing), and whose hints
// are positions given by hint.
type listedFunc struct {
	ids   []string
	allow func(string) bool
	hint  func(string) int32
}

func (f listedFunc) Allow(id string) bool { return f.allow(id) }
func (f listedFunc) Len() int             { return len(f.ids) }
func (f listedFunc) Listed() iter.Seq2[string, int32] {
	return func(yield func(string, int32) bool) {
		for _, id := range f.ids {
			h := int32(-1)
			if f.hint != nil {
				h = f.hint(id)
			}
			if f.allow(id) && !yield(id, h) {
				return
			}
		}
	}
}

// TestHNSW_FilterStrategies checks which way filtered searches run and
// that each answers right: few listed items are scored directly, exactly;
// a filter passing half the items walks the graph; a walk toward allowed
// items that all lie far from the query gives up at the scan's cost and
// scans, exactly; a predicate passing few items is answered by a scan of
// every node.
func TestHNSW_FilterStrategies(t *testing.T) {
	ctx := context.Background()
	// One size under the race detector too: which way a search runs
	// depends on the catalogue's size.
	n := 8000
	d := clusteredData(n, 32, 50, 11)
	q := clusteredQueries(sized(60, 20), 32, 50, 11)
	// EfSearch 32: at this size, the walks the cases want stay cheaper
	// than the scans.
	h, e := buildHNSW(t, d, HNSWOptions{Seed: 4, EfSearch: 32})
	vecOf := map[string][]float32{}
	for i, id := range d.ids {
		vecOf[id] = d.row(i)
	}

	every := func(pct int) (ids []string, in map[string]bool) {
		in = map[string]bool{}
		for i, id := range d.ids {
			if (i*7919)%100 < pct {
				ids = append(ids, id)
				in[id] = true
			}
		}
		return ids, in
	}
	fewIDs, few := every(1)
	halfIDs, half := every(50)
	// The 30% of the items highest on the first axis, and queries from
	// the other end of it: the allowed items lie far from every query.
	order := slices.Clone(d.ids)
	sort.Slice(order, func(i, j int) bool { return vecOf[order[i]][0] > vecOf[order[j]][0] })
	capIDs := order[:n*3/10]
	capSet := map[string]bool{}
	for _, id := range capIDs {
		capSet[id] = true
	}
	var far dataset
	far.dim = d.dim
	for _, id := range order[len(order)-q.len():] {
		far.ids = append(far.ids, id)
		far.vecs = append(far.vecs, vecOf[id]...)
	}
	// Listing other items too, so that Allow has to reject some.
	pad := func(ids []string, in map[string]bool, every int) []string {
		out := slices.Clone(ids)
		for i := 0; i < len(d.ids); i += every {
			if !in[d.ids[i]] {
				out = append(out, d.ids[i])
			}
		}
		return out
	}
	fewList, halfList := pad(fewIDs, few, 7), pad(halfIDs, half, 3)
	// Hints: the right positions, and wrong ones, which the index must
	// check and ignore.
	pos := maps.Clone(h.pos)
	right := func(id string) int32 { return pos[id] }
	wrong := func(id string) int32 { return (pos[id] + 1) % int32(n) }

	for _, c := range []struct {
		name    string
		f       Filter
		q       dataset
		want    string // the strategy every query takes
		exactly bool   // results equal to the exact scan's
	}{
		{"few listed", listedFunc{fewList, func(id string) bool { return few[id] }, nil}, q, "scan", true},
		{"few listed, right hints", listedFunc{fewList, func(id string) bool { return few[id] }, right}, q, "scan", true},
		{"few listed, wrong hints", listedFunc{fewList, func(id string) bool { return few[id] }, wrong}, q, "scan", true},
		{"few in a set", NewAllowSet(fewIDs...), q, "scan", true},
		{"few by predicate", FilterFunc(func(id string) bool { return few[id] }), q, "full scan", true},
		{"half listed", listedFunc{halfList, func(id string) bool { return half[id] }, right}, q, "walk", false},
		{"half by predicate", FilterFunc(func(id string) bool { return half[id] }), q, "walk", false},
		{"far listed", listedFunc{capIDs, func(id string) bool { return capSet[id] }, right}, far, "fallback", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := h.FilterStats()
			r := recallAt(t, h, e, c.q, 10, c.f)
			after := h.FilterStats()
			got := map[string]uint64{
				"walk":      after.Walks - before.Walks,
				"scan":      after.Scans - before.Scans - (after.Fallbacks - before.Fallbacks),
				"full scan": after.FullScans - before.FullScans,
				"fallback":  after.Fallbacks - before.Fallbacks,
			}
			t.Logf("recall@10 %.4f, strategies %v", r, got)
			if got[c.want] != uint64(c.q.len()) {
				t.Errorf("%d of %d queries took the %s, want all: %v", got[c.want], c.q.len(), c.want, got)
			}
			if c.exactly && r != 1 {
				t.Errorf("recall@10 %.4f, want the exact scan's results", r)
			}
			if r < 0.95 {
				t.Errorf("recall@10 %.4f < 0.95", r)
			}
		})
	}

	// Deleted items are never found, whatever the hints say.
	for _, id := range fewIDs[:len(fewIDs)/2] {
		if err := h.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []Filter{NewAllowSet(fewIDs...), listedFunc{fewIDs, func(id string) bool { return few[id] }, right}} {
		res, err := h.Search(ctx, q.row(0), len(fewIDs), f)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(fewIDs) - len(fewIDs)/2; len(res) != want {
			t.Errorf("%T: %d results from a set with half its items deleted, want %d", f, len(res), want)
		}
	}
}
