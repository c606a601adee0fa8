package content_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

// The tastes are the ones Generate's users follow: the items users took
// appeal to them far more than items drawn at random, and their late
// items more under their late tastes.
func TestGenerateTastes_MatchGenerate(t *testing.T) {
	opts := content.GenOptions{Items: 2000, Users: 300, Seed: 7}
	_, events, tastes := generateWithTastes(t, opts)
	rows, err := csv.NewReader(events).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byUser := map[string][]string{}
	for _, r := range rows[1:] {
		byUser[r[0]] = append(byUser[r[0]], r[1])
	}
	var taken, random, lateEarly, lateLate float64
	var n, nl int
	for u, its := range byUser {
		for j, it := range its {
			taken += tastes.Appeal(u, it, float64(j)/float64(max(1, len(its)-1)))
			random += tastes.Appeal(u, fmt.Sprintf("i%04d", (j*7919+len(u)*31)%opts.Items), 0.5)
			n++
		}
		for _, it := range its[len(its)*3/4:] {
			lateEarly += tastes.Appeal(u, it, 0)
			lateLate += tastes.Appeal(u, it, 1)
			nl++
		}
	}
	taken, random = taken/float64(n), random/float64(n)
	if taken < 3*random {
		t.Errorf("mean appeal of taken items %.3f, of random ones %.3f: want 3× at least", taken, random)
	}
	if lateLate <= lateEarly {
		t.Errorf("late items appeal %.3f under late tastes, %.3f under early ones", lateLate/float64(nl), lateEarly/float64(nl))
	}
	for _, bad := range [][2]string{{"nobody", "i0001"}, {"u000", "x"}, {"u999", "i0001"}, {"u000", "i9999"}} {
		if a := tastes.Appeal(bad[0], bad[1], 0); a != 0 {
			t.Errorf("Appeal(%q, %q) = %v, want 0", bad[0], bad[1], a)
		}
	}
	t.Logf("appeal: taken %.3f, random %.3f", taken, random)
}

// A user's queries name their interests: the items whose text holds a
// query's words appeal to them, under the tastes the drift says, far more
// than the catalogue does on average.
func TestGenTastes_Query(t *testing.T) {
	opts := content.GenOptions{Items: 1000, Users: 100, Seed: 5}
	items, _, tastes := generateWithTastes(t, opts)
	var texts []string // by item number
	for _, line := range strings.Split(strings.TrimSpace(items.String()), "\n") {
		var it struct{ Title, Description string }
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, " "+it.Title+" "+it.Description+" ")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, drift := range []float64{0, 1} {
		var matched, all float64
		var nm, na int
		for u := range opts.Users {
			user := fmt.Sprintf("u%02d", u)
			q := strings.Fields(tastes.Query(user, drift, r))
			if len(q) != 2 || q[0] == q[1] {
				t.Fatalf("query %q, want two words", q)
			}
			for i, text := range texts {
				a := tastes.Appeal(user, fmt.Sprintf("i%03d", i), drift)
				all += a
				na++
				if strings.Contains(text, " "+q[0]+" ") && strings.Contains(text, " "+q[1]+" ") {
					matched += a
					nm++
				}
			}
		}
		if nm < 100 {
			t.Fatalf("drift %v: %d items match the queries, too few to tell", drift, nm)
		}
		matched, all = matched/float64(nm), all/float64(na)
		t.Logf("drift %v: %d matches appeal %.3f, the catalogue %.3f", drift, nm, matched, all)
		if matched < 3*all {
			t.Errorf("drift %v: items matching the queries appeal %.3f, the catalogue %.3f: want 3× at least", drift, matched, all)
		}
	}
	if q := tastes.Query("nobody", 0, r); q != "" {
		t.Errorf("an unknown user's query is %q", q)
	}
}

// generateWithTastes generates a data set and its users' tastes.
func generateWithTastes(t *testing.T, opts content.GenOptions) (items, events *bytes.Buffer, tastes *content.GenTastes) {
	t.Helper()
	ctx := context.Background()
	items, events = new(bytes.Buffer), new(bytes.Buffer)
	if _, err := content.Generate(ctx, opts, items, events); err != nil {
		t.Fatal(err)
	}
	tastes, err := content.GenerateTastes(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return items, events, tastes
}
