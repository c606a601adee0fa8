package content

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// genData is a generated data set, parsed back.
type genData struct {
	stats  GenStats
	state  *genState
	items  map[string]Item
	ids    []string // items in file order
	events []Event
	byUser [][]Event // in file order
}

func genBytes(t testing.TB, opts GenOptions) (items, events []byte, st GenStats) {
	t.Helper()
	var ib, eb bytes.Buffer
	st, err := Generate(context.Background(), opts, &ib, &eb)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	return ib.Bytes(), eb.Bytes(), st
}

// genParse reads a data set back with the importers' parsers, which
// validate every item and event.
func genParse(items, events []byte) (*genData, error) {
	d := &genData{items: map[string]Item{}}
	sc := bufio.NewScanner(bytes.NewReader(items))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		it, err := ParseItemLine(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("items line %d: %w", n, err)
		}
		if _, dup := d.items[it.ID]; dup {
			return nil, fmt.Errorf("items line %d: duplicate id %s", n, it.ID)
		}
		d.items[it.ID] = it
		d.ids = append(d.ids, it.ID)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(events))
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("events header: %w", err)
	}
	if !slices.Equal(header, EventsHeader) {
		return nil, fmt.Errorf("events header is %q, want %q", header, EventsHeader)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ev, err := ParseEventRecord(rec)
		if err != nil {
			return nil, fmt.Errorf("events row %d: %w", len(d.events)+2, err)
		}
		d.events = append(d.events, ev)
		if n := len(d.byUser); n == 0 || d.byUser[n-1][0].UserID != ev.UserID {
			d.byUser = append(d.byUser, nil)
		}
		d.byUser[len(d.byUser)-1] = append(d.byUser[len(d.byUser)-1], ev)
	}
	return d, nil
}

// genSample is the data set the statistical tests share: 2000 items and
// 500 users, about 16k events.
var genSample = sync.OnceValues(func() (*genData, error) {
	var ib, eb bytes.Buffer
	st, g, err := generate(context.Background(), GenOptions{Items: 2000, Users: 500, Seed: 7}, &ib, &eb)
	if err != nil {
		return nil, err
	}
	d, err := genParse(ib.Bytes(), eb.Bytes())
	if err != nil {
		return nil, err
	}
	d.stats, d.state = st, g
	return d, nil
})

func genSampleData(t *testing.T) *genData {
	t.Helper()
	d, err := genSample()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGenerate_Deterministic(t *testing.T) {
	base := GenOptions{Items: 200, Users: 30, Seed: 3}
	tests := []struct {
		name                  string
		a, b                  GenOptions
		sameItems, sameEvents bool
	}{
		{"same options", base, base, true, true},
		{"zero seed is seed 1", GenOptions{Items: 200, Users: 30}, GenOptions{Items: 200, Users: 30, Seed: 1}, true, true},
		{"other seed", base, GenOptions{Items: 200, Users: 30, Seed: 4}, false, false},
		{"other size", base, GenOptions{Items: 201, Users: 30, Seed: 3}, false, false},
		{"zero median is 20", base, GenOptions{Items: 200, Users: 30, Seed: 3, MedianEvents: 20}, true, true},
		{"other median: same catalogue", base, GenOptions{Items: 200, Users: 30, Seed: 3, MedianEvents: 30}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ia, ea, _ := genBytes(t, tt.a)
			ib, eb, _ := genBytes(t, tt.b)
			if got := bytes.Equal(ia, ib); got != tt.sameItems {
				t.Errorf("items equal = %v, want %v", got, tt.sameItems)
			}
			if got := bytes.Equal(ea, eb); got != tt.sameEvents {
				t.Errorf("events equal = %v, want %v", got, tt.sameEvents)
			}
		})
	}
}

// More users extend the log without changing the first users' events.
func TestGenerate_UsersPrefix(t *testing.T) {
	_, small, _ := genBytes(t, GenOptions{Items: 300, Users: 10, Seed: 5})
	_, large, _ := genBytes(t, GenOptions{Items: 300, Users: 100, Seed: 5})
	// User ids are wider with 100 users: compare by number.
	widen := strings.NewReplacer("\nu", "\nu0")
	if !bytes.HasPrefix(large, []byte(widen.Replace(string(small)))) {
		t.Error("events of the first 10 users changed when Users grew to 100")
	}
}

func TestGenerate_Valid(t *testing.T) {
	d := genSampleData(t)
	st := d.stats
	if st.Items != 2000 || st.Users != 500 || len(d.items) != st.Items || len(d.events) != st.Events {
		t.Fatalf("stats %+v; parsed %d items, %d events", st, len(d.items), len(d.events))
	}
	if len(d.byUser) > st.Users || len(d.byUser) < st.Users*9/10 {
		t.Errorf("%d users have events, want about %d", len(d.byUser), st.Users)
	}
	for i, id := range d.ids {
		it := d.items[id]
		if want := fmt.Sprintf("i%04d", i); id != want {
			t.Fatalf("item %d has id %s, want %s", i, id, want)
		}
		if n := len(strings.Fields(it.Title)); n < 2 || n > 4 {
			t.Errorf("%s: title %q has %d words, want 2 to 4", id, it.Title, n)
		}
		if n := len(strings.Fields(it.Description)); n < 12 || n > 30 {
			t.Errorf("%s: description has %d words, want 12 to 30", id, n)
		}
		if n := len(it.Tags); n < 2 || n > 4 {
			t.Errorf("%s: %d tags, want 2 to 4", id, n)
		}
		if n := len(it.Categories); n < 1 || n > 2 {
			t.Errorf("%s: %d categories, want 1 or 2", id, n)
		}
		year, price, lang := it.Attributes["year"], it.Attributes["price"], it.Attributes["language"]
		if !year.IsNum || year.Num < 1990 || year.Num > 2025 || year.Num != math.Trunc(year.Num) {
			t.Errorf("%s: year %v", id, year)
		}
		if !price.IsNum || price.Num <= 0 || math.Abs(price.Num*100-math.Round(price.Num*100)) > 1e-6 {
			t.Errorf("%s: price %v", id, price)
		}
		if lang.IsNum || lang.Str == "" {
			t.Errorf("%s: language %v", id, lang)
		}
	}

	kinds := map[string]int{}
	for u, evs := range d.byUser {
		seen := map[string]bool{}
		for j, ev := range evs {
			if _, ok := d.items[ev.ItemID]; !ok {
				t.Fatalf("event %+v names an unknown item", ev)
			}
			if seen[ev.ItemID] {
				t.Errorf("user %s meets item %s twice", ev.UserID, ev.ItemID)
			}
			seen[ev.ItemID] = true
			if ev.Time.Before(genEpoch) || ev.Time.Nanosecond() != 0 || ev.Time.Location() != genEpoch.Location() {
				t.Errorf("event %+v: time is not whole UTC seconds after the epoch", ev)
			}
			if j > 0 && !ev.Time.After(evs[j-1].Time) {
				t.Errorf("user %s: event %d at %v is not after %v", ev.UserID, j, ev.Time, evs[j-1].Time)
			}
			want := ev.Value == 1
			if ev.Kind == "rating" {
				want = ev.Value >= 1 && ev.Value <= 5 && ev.Value*2 == math.Trunc(ev.Value*2)
			}
			if !want {
				t.Errorf("event %+v: bad value for its kind", ev)
			}
			kinds[ev.Kind]++
		}
		if u > 0 && evs[0].UserID <= d.byUser[u-1][0].UserID {
			t.Errorf("user %s comes after %s", evs[0].UserID, d.byUser[u-1][0].UserID)
		}
	}
	for kind, want := range map[string]float64{"view": 0.60, "click": 0.25, "purchase": 0.10, "rating": 0.05} {
		if got := float64(kinds[kind]) / float64(len(d.events)); math.Abs(got-want) > 0.02 {
			t.Errorf("%s share is %.3f, want about %.2f", kind, got, want)
		}
	}
}

// The smallest catalogs leave most topics empty and run dry quickly: the
// output must still parse and validate.
func TestGenerate_Tiny(t *testing.T) {
	for _, opts := range []GenOptions{{Items: 1, Users: 3}, {Items: 2, Users: 1}, {Items: 17, Users: 40}} {
		items, events, st := genBytes(t, opts)
		d, err := genParse(items, events)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		if len(d.items) != opts.Items || st.Users != opts.Users || len(d.events) != st.Events {
			t.Errorf("%+v: stats %+v, parsed %d items, %d events", opts, st, len(d.items), len(d.events))
		}
	}
}

func TestGenerate_Popularity(t *testing.T) {
	d := genSampleData(t)
	counts := map[string]int{}
	for _, ev := range d.events {
		counts[ev.ItemID]++
	}
	var c []int
	for _, id := range d.ids {
		c = append(c, counts[id])
	}
	sort.Sort(sort.Reverse(sort.IntSlice(c)))
	top := 0
	for _, n := range c[:len(c)/10] {
		top += n
	}
	share := float64(top) / float64(len(d.events))
	t.Logf("top 10%% of items get %.3f of events", share)
	// With uniform popularity within topics this set gives 0.18 (noise
	// and uneven topic demand); with Zipf it gives 0.34.
	if share < 0.3 {
		t.Errorf("top 10%% of items get %.3f of events, want > 0.3", share)
	}
}

// genModeShare is the share of each user's events in the user's most frequent
// label, over all users.
func genModeShare(labels [][]string) float64 {
	hit, all := 0, 0
	for _, ls := range labels {
		n := map[string]int{}
		best := 0
		for _, l := range ls {
			n[l]++
			best = max(best, n[l])
		}
		hit += best
		all += len(ls)
	}
	return float64(hit) / float64(all)
}

// genShuffled returns labels with each user's labels drawn from all users'
// at random: the same popularity, no personal taste.
func genShuffled(labels [][]string, seed uint64) [][]string {
	var all []string
	for _, ls := range labels {
		all = append(all, ls...)
	}
	r := rand.New(rand.NewPCG(seed, 0))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	out := make([][]string, len(labels))
	for i, ls := range labels {
		out[i], all = all[:len(ls)], all[len(ls):]
	}
	return out
}

// categories maps each user's events to their items' primary categories.
func (d *genData) categories() [][]string {
	out := make([][]string, len(d.byUser))
	for i, evs := range d.byUser {
		for _, ev := range evs {
			out[i] = append(out[i], d.items[ev.ItemID].Categories[0])
		}
	}
	return out
}

func TestGenerate_TopicSignal(t *testing.T) {
	d := genSampleData(t)
	cats := d.categories()
	// Measured: 0.50 against 0.15 by chance (0.67 without drift, which
	// spreads a user over more topics).
	got, chance := genModeShare(cats), genModeShare(genShuffled(cats, 1))
	t.Logf("share of events in the user's top category: %.3f (shuffled: %.3f)", got, chance)
	if got < 0.4 || got < chance+0.2 {
		t.Errorf("share of events in the user's top category is %.3f, want > 0.4 and well above chance %.3f", got, chance)
	}
}

// The style is hidden from the text but shows in behaviour: within a topic,
// a user's events concentrate on one style.
func TestGenerate_StyleSignal(t *testing.T) {
	d := genSampleData(t)
	g := d.state
	index := map[string]int{}
	for i, id := range d.ids {
		index[id] = i
	}
	// One row per user and topic with at least 5 events.
	var styles [][]string
	for _, evs := range d.byUser {
		byTopic := map[uint8][]string{}
		for _, ev := range evs {
			i := index[ev.ItemID]
			byTopic[g.topic[i]] = append(byTopic[g.topic[i]], fmt.Sprint(g.style[i]))
		}
		for _, s := range byTopic {
			if len(s) >= 5 {
				styles = append(styles, s)
			}
		}
	}
	// Shuffling all rows would mix topics, which is harmless: styles are
	// labels 0..3 in every topic.
	got, chance := genModeShare(styles), genModeShare(genShuffled(styles, 1))
	t.Logf("share of a user's events in a topic that fall in the top style: %.3f (shuffled: %.3f, %d user-topics)", got, chance, len(styles))
	if got < chance+0.15 {
		t.Errorf("top style share is %.3f, want well above chance %.3f", got, chance)
	}
}

// genTotalVariation is the total variation distance between the label
// distributions of a and b.
func genTotalVariation(a, b []string) float64 {
	diff := map[string]float64{}
	for _, l := range a {
		diff[l] += 1 / float64(len(a))
	}
	for _, l := range b {
		diff[l] -= 1 / float64(len(b))
	}
	var tv float64
	for _, x := range diff {
		tv += math.Abs(x)
	}
	return tv / 2
}

// genMeanDrift is the mean total variation distance between the categories of
// the first and the last third of each user's events.
func genMeanDrift(cats [][]string) float64 {
	var sum float64
	for _, c := range cats {
		sum += genTotalVariation(c[:len(c)/3], c[len(c)-len(c)/3:])
	}
	return sum / float64(len(cats))
}

func TestGenerate_Drift(t *testing.T) {
	d := genSampleData(t)
	var long [][]string
	for _, c := range d.categories() {
		if len(c) >= 30 {
			long = append(long, c)
		}
	}
	if len(long) < 50 {
		t.Fatalf("only %d users with 30 events or more", len(long))
	}
	// The baseline is the same users with their events in random order:
	// the same interests, no drift. What remains is sampling noise.
	// Measured: 0.50 against a baseline of 0.20. With drift switched off
	// in the generator the distance falls to 0.12 (baseline 0.11).
	r := rand.New(rand.NewPCG(1, 0))
	still := make([][]string, len(long))
	for i, c := range long {
		still[i] = slices.Clone(c)
		r.Shuffle(len(c), func(a, b int) { still[i][a], still[i][b] = still[i][b], still[i][a] })
	}
	got, base := genMeanDrift(long), genMeanDrift(still)
	t.Logf("mean TV distance, first vs last third: %.3f (no drift: %.3f, %d users)", got, base, len(long))
	if got < base+0.15 {
		t.Errorf("mean TV distance between first and last third is %.3f, want well above %.3f without drift", got, base)
	}
}

type genCancelWriter struct{ cancel context.CancelFunc }

func (w genCancelWriter) Write(p []byte) (int, error) { w.cancel(); return len(p), nil }

type genFailWriter struct{}

func (genFailWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestGenerate_Errors(t *testing.T) {
	tests := []struct {
		name    string
		opts    GenOptions
		ctx     func() context.Context
		items   io.Writer // io.Discard if nil
		events  io.Writer
		wantErr error // nil means any error
	}{
		{name: "negative items", opts: GenOptions{Items: -1}},
		{name: "too many items", opts: GenOptions{Items: 10_000_001}},
		{name: "negative users", opts: GenOptions{Users: -1}},
		{name: "too many users", opts: GenOptions{Users: 10_000_001}},
		{name: "median events below the least", opts: GenOptions{MedianEvents: 4}},
		{name: "median events above the most", opts: GenOptions{MedianEvents: 201}},
		{name: "items write fails", opts: GenOptions{Items: 10, Users: 1}, items: genFailWriter{}},
		{name: "events write fails", opts: GenOptions{Items: 10, Users: 1}, events: genFailWriter{}},
		{
			name: "cancelled",
			opts: GenOptions{Items: 10, Users: 10},
			ctx: func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantErr: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			items, events := tt.items, tt.events
			if items == nil {
				items = io.Discard
			}
			if events == nil {
				events = io.Discard
			}
			_, err := Generate(ctx, tt.opts, items, events)
			if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Generate(%+v) = %v, want error %v", tt.opts, err, tt.wantErr)
			}
		})
	}
}

// Cancelling while items are being written stops Generate.
func TestGenerate_CancelMidway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := Generate(ctx, GenOptions{Items: 2000, Users: 10}, genCancelWriter{cancel}, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if st.Items == 0 || st.Items == 2000 || st.Events != 0 {
		t.Errorf("stats %+v, want a partial item count and no events", st)
	}
}

// Topic words are disjoint, so that text alone tells topics apart.
func TestGenVocabulary(t *testing.T) {
	owner := map[string]string{}
	for _, w := range strings.Fields(genFiller) {
		owner[w] = "filler"
	}
	for _, tp := range genTopics {
		words, tags := strings.Fields(tp.words), strings.Fields(tp.tags)
		if len(words) < 25 || len(tags) < 8 {
			t.Errorf("%s: %d words and %d tags, want at least 25 and 8", tp.name, len(words), len(tags))
		}
		if len(tags) != len(slices.Compact(slices.Sorted(slices.Values(tags)))) {
			t.Errorf("%s: repeated tag", tp.name)
		}
		for _, w := range words {
			if o, ok := owner[w]; ok {
				t.Errorf("%q is in %s and %s", w, o, tp.name)
			}
			owner[w] = tp.name
		}
	}
}

func ExampleGenerate() {
	var items bytes.Buffer
	st, err := Generate(context.Background(), GenOptions{Items: 100, Users: 10}, &items, io.Discard)
	if err != nil {
		fmt.Println(err)
		return
	}
	first, _, _ := strings.Cut(items.String(), "\n")
	fmt.Println(first)
	fmt.Println(st.Items, "items,", st.Users, "users")
	// Output:
	// {"id":"i00","title":"Molecule Reaction Element","description":"Solvent electron lessons treadmill titration electron oxidation valence periodic equilibrium deep timeless spectroscopy reaction neutron base acid enzyme polymer neutron equilibrium.","tags":["elements","bodyweight"],"categories":["chemistry","fitness"],"attributes":{"language":"es","price":37.71,"year":2025}}
	// 100 items, 10 users
}

func TestGenerateFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "new")
	opts := GenOptions{Items: 40, Users: 10, Seed: 5}
	st, err := GenerateFiles(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	var items, events bytes.Buffer
	want, _ := Generate(ctx, opts, &items, &events)
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	for name, b := range map[string][]byte{GenItemsFile: items.Bytes(), GenEventsFile: events.Bytes()} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s differs from Generate's output (%v)", name, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	other := filepath.Join(t.TempDir(), "x")
	if _, err := GenerateFiles(cancelled, other, opts); err == nil {
		t.Fatal("a cancelled generation succeeded")
	}
	if left, _ := os.ReadDir(other); len(left) != 0 {
		t.Fatalf("a failed generation left %v", left)
	}
}

// The median number of events a user has scales the log roughly in
// proportion: the count is log-normal around it, clamped.
func TestGenerate_MedianEvents(t *testing.T) {
	tests := []struct {
		median   int
		min, max float64 // bounds of the mean events a user
	}{
		{0, 25, 40}, // the default, 20: the mean is e^½ ≈ 1.65 times it
		{10, 13, 20},
		{30, 40, 60},
	}
	for _, tt := range tests {
		_, _, st := genBytes(t, GenOptions{Items: 3000, Users: 400, Seed: 2, MedianEvents: tt.median})
		mean := float64(st.Events) / float64(st.Users)
		if mean < tt.min || mean > tt.max {
			t.Errorf("MedianEvents %d: %.1f events a user, want %.0f to %.0f", tt.median, mean, tt.min, tt.max)
		}
	}
}
