package text

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

// statsOf counts items.
func statsOf(tb testing.TB, items []content.Item) *Stats {
	tb.Helper()
	s := NewStats()
	for i := range items {
		if err := s.Replace(nil, &items[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// wordyCatalog is n items whose descriptions draw 30 words each from a
// vocabulary of 3,000: far more distinct terms than items, so that a
// field's average length is above 1, unlike generated catalogues'.
func wordyCatalog(n int, seed uint64) []content.Item {
	rng := rand.New(rand.NewPCG(seed, seed))
	items := make([]content.Item, n)
	for i := range items {
		var desc []string
		for range 30 {
			desc = append(desc, fmt.Sprintf("w%d", rng.IntN(3000)))
		}
		items[i] = content.Item{ID: fmt.Sprintf("i%d", i), Title: fmt.Sprintf("w%d w%d", rng.IntN(3000), rng.IntN(50)),
			Description: strings.Join(desc, " "), Tags: []string{fmt.Sprintf("w%d", rng.IntN(40))}}
	}
	return items
}

// statsQueries returns queries of one to three words drawn from items'
// titles, descriptions and tags, some with a word repeated or a stop word.
func statsQueries(items []content.Item, n int, seed uint64) []Query {
	rng := rand.New(rand.NewPCG(seed, seed))
	var qs []Query
	for i := range n {
		var words []string
		for range 1 + i%3 {
			it := &items[rng.IntN(len(items))]
			pool := strings.Fields(it.Title + " " + it.Description + " " + strings.Join(it.Tags, " "))
			words = append(words, pool[rng.IntN(len(pool))])
		}
		switch i % 7 {
		case 3:
			words = append(words, words[0])
		case 5:
			words = append(words, "the")
		}
		qs = append(qs, Query{Text: strings.Join(words, " "), K: MaxK})
	}
	return qs
}

// TestScorer_SameAsSearch holds the scores Stats give to Search's: every
// item Search finds scores what Search says, and every other item 0, on
// generated catalogues (fields averaging one term) and wordy ones (several),
// after edits too.
func TestScorer_SameAsSearch(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		items []content.Item
		edit  bool
	}{
		{"generated", GenCatalog(t, 1500, 3), false},
		{"wordy", wordyCatalog(200, 4), false},
		{"generated, edited", GenCatalog(t, 1500, 5), true},
		{"wordy, edited", wordyCatalog(200, 6), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := compactedText(t, tc.items, &Options{BatchSize: 300})
			s := statsOf(t, tc.items)
			live := map[string]*content.Item{}
			for i := range tc.items {
				live[tc.items[i].ID] = &tc.items[i]
			}
			if tc.edit {
				// Replace every tenth item by another's text, delete every
				// seventh; merge so that deleted documents leave the
				// dictionary, as they do in a built snapshot.
				for i := 0; i < len(tc.items); i += 10 {
					it := tc.items[(i+1)%len(tc.items)]
					it.ID = tc.items[i].ID
					if err := tx.Upsert(ctx, it); err != nil {
						t.Fatal(err)
					}
					if err := s.Replace(live[it.ID], &it); err != nil {
						t.Fatal(err)
					}
					live[it.ID] = &it
				}
				for i := 3; i < len(tc.items); i += 7 {
					id := tc.items[i].ID
					if err := tx.Delete(ctx, id); err != nil {
						t.Fatal(err)
					}
					if err := s.Replace(live[id], nil); err != nil {
						t.Fatal(err)
					}
					delete(live, id)
				}
				if err := tx.Compact(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if s.Items() != len(live) {
				t.Fatalf("stats count %d items, want %d", s.Items(), len(live))
			}
			fields := map[string]Fields{}
			for id, it := range live {
				f, err := AnalyzeItem(it)
				if err != nil {
					t.Fatal(err)
				}
				fields[id] = f
			}
			for _, q := range statsQueries(tc.items, 60, 9) {
				sameScores(t, tx, s, fields, q)
			}
		})
	}
}

// sameScores fails t unless every item Search finds for q scores what
// Search says, and every other item no more than its last hit (0 when
// the page holds every match).
func sameScores(t *testing.T, tx *Index, s *Stats, fields map[string]Fields, q Query) {
	t.Helper()
	res, err := tx.Search(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := s.Scorer(q)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	floor := math.Inf(1)
	for _, h := range res.Hits {
		want[h.ID] = h.Score
		floor = min(floor, h.Score)
	}
	matched := uint64(0)
	for id, f := range fields {
		got := sc.Score(&f)
		if got > 0 {
			matched++
		}
		w, found := want[id]
		switch {
		case found && math.Abs(got-w) > 1e-12*math.Max(1, w):
			t.Fatalf("query %q, item %s: score %v, Search's %v", q.Text, id, got, w)
		case !found && got > floor*(1+1e-12):
			t.Fatalf("query %q, item %s: score %v, above Search's last hit (%v) but not found", q.Text, id, got, floor)
		}
	}
	if matched != res.Total {
		t.Fatalf("query %q: %d items score, Search matched %d", q.Text, matched, res.Total)
	}
}

// TestStats_ReadsAsIndex holds Stats, as a dictionary, to the index's:
// queries with a typo or cut mid-word, with Typos and Prefix, are read
// (corrections, completions, Interpret's one term per word) and scored as
// Search reads and scores them, and words complete alike.
func TestStats_ReadsAsIndex(t *testing.T) {
	ctx := context.Background()
	items := GenCatalog(t, 1500, 8)
	tx := compactedText(t, items, &Options{BatchSize: 300})
	s := statsOf(t, items)
	fields := map[string]Fields{}
	for i := range items {
		f, err := AnalyzeItem(&items[i])
		if err != nil {
			t.Fatal(err)
		}
		fields[items[i].ID] = f
	}
	rng := rand.New(rand.NewPCG(12, 12))
	changed, narrowed := 0, 0
	for i, q := range statsQueries(items, 80, 13) {
		q.K = 100
		words := strings.Fields(q.Text)
		last := words[len(words)-1]
		r := []rune(last)
		switch {
		case i%2 == 0 && len(r) >= 5:
			// One typo: a letter replaced, dropped or doubled.
			j := 1 + rng.IntN(len(r)-2)
			switch i % 3 {
			case 0:
				r[j] = 'q'
			case 1:
				r = append(r[:j], r[j+1:]...)
			default:
				r = append(r[:j+1], r[j:]...)
			}
			changed++
		case len(r) >= 4:
			r = r[:2+rng.IntN(len(r)-2)] // cut mid-word
			changed++
		}
		words[len(words)-1] = string(r)
		q.Text = strings.Join(words, " ")
		q.Prefix, q.Typos = true, Typos{One: 4, Two: 8}
		sameScores(t, tx, s, fields, q)

		wantRead, err := tx.Interpret(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Interpret(q); err != nil || got != wantRead {
			t.Fatalf("query %q: Interpret %q, %v; the index's %q", q.Text, got, err, wantRead)
		}
		hw, err := tx.Highlighter(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		hg, err := s.Highlighter(q)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprint(hg.Reading()), fmt.Sprint(hw.Reading()); got != want {
			t.Fatalf("query %q: reading %s, the index's %s", q.Text, got, want)
		}
		// The items a word being typed may become: those holding a word
		// Beginning gives, exactly the ones Unfinished lists.
		ids, ok, err := tx.Unfinished(ctx, q, 200)
		if err != nil {
			t.Fatal(err)
		}
		begun, err := s.Beginning(q, 200)
		if err != nil {
			t.Fatal(err)
		}
		var held []string
		for id, f := range fields {
			if slices.ContainsFunc(f.Words, func(w string) bool { return slices.Contains(begun, w) }) {
				held = append(held, id)
			}
		}
		slices.Sort(ids)
		slices.Sort(held)
		if ok != (len(held) > 0) || !slices.Equal(ids, held) {
			t.Fatalf("query %q: Unfinished %d items (ok %v), the items holding %v: %d", q.Text, len(ids), ok, begun, len(held))
		}
		if ok {
			narrowed++
		}
		prefix := string(r[:min(len(r), 2)])
		wantWords, err := tx.Complete(ctx, prefix, 8)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Complete(prefix, 8); err != nil || !slices.Equal(got, wantWords) {
			t.Fatalf("complete %q: %v, %v; the index's %v", prefix, got, err, wantWords)
		}
	}
	if changed < 60 || narrowed < 10 {
		t.Fatalf("only %d queries changed, %d narrowed", changed, narrowed)
	}
}

func TestStats_WriteRead(t *testing.T) {
	s := statsOf(t, wordyCatalog(50, 1))
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStats(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.items != s.items {
		t.Fatalf("items %d, want %d", got.items, s.items)
	}
	for f := range s.terms {
		if len(got.terms[f]) != len(s.terms[f]) {
			t.Fatalf("field %d: %d terms, want %d", f, len(got.terms[f]), len(s.terms[f]))
		}
		for term, n := range s.terms[f] {
			if got.terms[f][term] != n {
				t.Fatalf("field %d, term %q: %d, want %d", f, term, got.terms[f][term], n)
			}
		}
	}
	if len(s.words) == 0 || !maps.Equal(got.words, s.words) {
		t.Fatalf("%d words read back, %d written", len(got.words), len(s.words))
	}

	enc := buf.Bytes()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other magic", append([]byte("DUETTS9\n"), enc[len(statsMagic):]...)},
		{"truncated", enc[:len(enc)-3]},
		{"trailing byte", append(bytes.Clone(enc), 0)},
		{"count above the items", func() []byte {
			s := NewStats()
			s.items = 50
			s.terms[0]["a"] = 200
			var b bytes.Buffer
			s.WriteTo(&b)
			return b.Bytes()
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadStats(bytes.NewReader(tc.b)); !errors.Is(err, ErrBadStats) {
				t.Fatalf("err %v, want ErrBadStats", err)
			}
		})
	}
}

func TestStats_Counts(t *testing.T) {
	a := content.Item{ID: "a", Title: "Red red rocket", Tags: []string{"rocket"}}
	b := content.Item{ID: "b", Title: "Blue rocket"}
	s := NewStats()
	for _, step := range []struct {
		old, it *content.Item
		items   int
		title   map[string]uint32
	}{
		{nil, &a, 1, map[string]uint32{"red": 1, "rocket": 1}},
		{nil, &b, 2, map[string]uint32{"red": 1, "rocket": 2, "blue": 1}},
		{&a, &b, 2, map[string]uint32{"rocket": 2, "blue": 2}},
		{&b, nil, 1, map[string]uint32{"rocket": 1, "blue": 1}},
		{&b, nil, 0, map[string]uint32{}},
	} {
		if err := s.Replace(step.old, step.it); err != nil {
			t.Fatal(err)
		}
		if s.Items() != step.items || fmt.Sprint(s.terms[0]) != fmt.Sprint(step.title) {
			t.Fatalf("after %v → %v: %d items, title terms %v; want %d, %v", step.old, step.it, s.Items(), s.terms[0], step.items, step.title)
		}
	}
}

// BenchmarkStats_Scorer reads and scores a two-word query of whole words,
// and one with the last word mistyped or cut (Typos, Prefix), from
// statistics whose fields hold vocab distinct terms: the corrections and
// completions scan a field's terms.
func BenchmarkStats_Scorer(b *testing.B) {
	for _, vocab := range []int{10_000, 200_000} {
		rng := rand.New(rand.NewPCG(1, 1))
		s := NewStats()
		word := func() string {
			const letters = "abcdefghijklmnopqrstuvwxyz"
			w := make([]byte, 5+rng.IntN(6))
			for i := range w {
				w[i] = letters[rng.IntN(len(letters))]
			}
			return string(w)
		}
		var some []string
		for range vocab / 4 {
			f := Fields{Title: []string{word(), word()}, Labels: []string{word(), word()}}
			f.Words = slices.Concat(f.Title, f.Labels)
			s.Add(&f)
			some = append(some, f.Title[0])
		}
		for _, tc := range []struct {
			name string
			q    func(i int) Query
		}{
			{"whole", func(i int) Query { return Query{Text: some[i%len(some)] + " " + some[(i+7)%len(some)], K: 10} }},
			{"typo", func(i int) Query {
				w := []byte(some[(i+7)%len(some)])
				w[2] = '0'
				return Query{Text: some[i%len(some)] + " " + string(w), K: 10, Typos: Typos{One: 5, Two: 9}}
			}},
			{"prefix", func(i int) Query {
				return Query{Text: some[i%len(some)] + " " + some[(i+7)%len(some)][:3], K: 10, Prefix: true}
			}},
		} {
			b.Run(fmt.Sprintf("vocab=%d/%s", len(s.terms[0])+len(s.terms[2]), tc.name), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, err := s.Scorer(tc.q(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// levenshtein is the whole table, for editBound to be held to.
func levenshtein(a, b []rune) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestEditBound(t *testing.T) {
	for _, tc := range []struct {
		a, b  string
		edits int
		want  bool
	}{
		{"galaxy", "galaxy", 0, true},
		{"galaxy", "galaxxy", 1, true},
		{"galaxy", "galxy", 1, true},
		{"galaxy", "glaaxy", 1, false}, // a transposition is two edits
		{"galaxy", "glaaxy", 2, true},
		{"café", "cafe", 1, true}, // runes, not bytes
		{"spacecraft", "spaceecrafft", 2, true},
		{"spacecraft", "spaceecrafft", 1, false},
		{"ab", "abcd", 1, false},
		{"", "a", 1, true},
	} {
		if got := newEditBound([]rune(tc.a), tc.edits).within(tc.b); got != tc.want {
			t.Errorf("%q within %d of %q: %v, want %v", tc.b, tc.edits, tc.a, got, tc.want)
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	str := func() []rune {
		r := make([]rune, rng.IntN(9))
		for i := range r {
			r[i] = rune("abcé"[rng.IntN(3)])
			if rng.IntN(10) == 0 {
				r[i] = 'é'
			}
		}
		return r
	}
	for range 2000 {
		a, k := str(), rng.IntN(4)
		e := newEditBound(a, k) // asked of many terms, as a field's are
		for range 10 {
			b := str()
			if got, want := e.within(string(b)), levenshtein(a, b) <= k; got != want {
				t.Fatalf("%q within %d of %q: %v, distance %d", string(b), k, string(a), got, levenshtein(a, b))
			}
		}
	}
}

// The words a prefix begins are found whether they were sorted or added
// since, once each, and not once gone: across several sorts, removals
// and words removed and added again.
func TestStats_WordsByPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	s := NewStats()
	var counted []Fields
	for i := range 3000 {
		f := Fields{Words: []string{fmt.Sprintf("w%d", rng.IntN(4000)), fmt.Sprintf("v%d", i)}}
		s.Add(&f)
		counted = append(counted, f)
		if i%3 == 0 {
			j := rng.IntN(len(counted))
			s.Remove(&counted[j])
			counted = slices.Delete(counted, j, j+1)
		}
		if i%500 != 499 {
			continue
		}
		for _, p := range []string{"w1", "w23", "v2", "v29", "x"} {
			want := map[string]uint64{}
			for w, n := range s.words {
				if strings.HasPrefix(w, p) {
					want[w] = uint64(n)
				}
			}
			d, _ := statsDict{s}.prefixed(fieldWords, p)
			got := map[string]uint64{}
			for _, e := range *d.(*entries) {
				if _, dup := got[e.Term]; dup {
					t.Fatalf("after %d: %q listed twice", i, e.Term)
				}
				got[e.Term] = e.Count
			}
			if !maps.Equal(got, want) {
				t.Fatalf("after %d items, prefix %q: %d words, want %d", i+1, p, len(got), len(want))
			}
		}
	}
	if len(s.sorted) == 0 {
		t.Fatal("the words were never sorted: the test misses the sorted part")
	}
}
