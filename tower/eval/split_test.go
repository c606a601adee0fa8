package eval_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/duetrec/duet/tower"
	"github.com/duetrec/duet/tower/eval"
)

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

func items(h []tower.Interaction) []int32 {
	var out []int32
	for _, x := range h {
		out = append(out, x.Item)
	}
	return out
}

func TestSplitLast(t *testing.T) {
	ds := dataset(t, 6, []event{
		// a: by time x0, z2, y1, w3 (arrival order differs)
		{"a", "i0", 10}, {"a", "i1", 30}, {"a", "i2", 20}, {"a", "i3", 40},
		// b: too few items, all training
		{"b", "i4", 1}, {"b", "i5", 2}, {"b", "i4", 3},
		// c: a repeated item; the latest interaction with i1 makes it validation
		{"c", "i1", 1}, {"c", "i2", 2}, {"c", "i1", 3}, {"c", "i3", 4},
	})
	s := eval.SplitLast(ds)
	tests := []struct {
		user            string
		train, val, tst []int32
	}{
		{"a", []int32{0, 2}, []int32{1}, []int32{3}},
		{"b", []int32{4, 5, 4}, nil, nil},
		{"c", []int32{2}, []int32{1}, []int32{3}},
	}
	for _, tt := range tests {
		u, _ := ds.UserIndex(tt.user)
		if got := items(s.Train[u]); !reflect.DeepEqual(got, tt.train) {
			t.Errorf("user %s: train %v, want %v", tt.user, got, tt.train)
		}
		if !reflect.DeepEqual(s.Val[u], tt.val) || !reflect.DeepEqual(s.Test[u], tt.tst) {
			t.Errorf("user %s: val %v test %v, want %v and %v", tt.user, s.Val[u], s.Test[u], tt.val, tt.tst)
		}
	}
	if s.Protocol != "last" || s.Items != 6 {
		t.Errorf("protocol %q items %d", s.Protocol, s.Items)
	}
}

func TestSplitRandom(t *testing.T) {
	ds := generated(t)
	a, err := eval.SplitRandom(ds, 0.2, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := eval.SplitRandom(ds, 0.2, 1)
	c, _ := eval.SplitRandom(ds, 0.2, 2)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different splits")
	}
	if reflect.DeepEqual(a.Test, c.Test) {
		t.Error("different seeds, same test sets")
	}
	var nTest, nAll int
	for u, h := range ds.History {
		all := map[int32]bool{}
		for _, x := range h {
			all[x.Item] = true
		}
		parts := append(append(slices.Clone(items(a.Train[u])), a.Val[u]...), a.Test[u]...)
		got := map[int32]bool{}
		for _, it := range parts {
			got[it] = true
		}
		if !reflect.DeepEqual(all, got) {
			t.Fatalf("user %d: parts do not cover the history", u)
		}
		for _, it := range a.Test[u] {
			if slices.Contains(a.Val[u], it) || slices.Contains(items(a.Train[u]), it) {
				t.Fatalf("user %d: test item %d also elsewhere", u, it)
			}
		}
		n := len(all)
		want := int(float64(n)*0.2 + 0.5)
		if n >= 3 && len(a.Test[u]) != max(1, want) {
			t.Errorf("user %d: %d test items of %d, want %d", u, len(a.Test[u]), n, max(1, want))
		}
		nTest += len(a.Test[u])
		nAll += n
	}
	if f := float64(nTest) / float64(nAll); f < 0.18 || f > 0.22 {
		t.Errorf("test share %.3f, want about 0.2", f)
	}
	for _, frac := range []float64{0, 1, -0.5} {
		if _, err := eval.SplitRandom(ds, frac, 1); err == nil {
			t.Errorf("fraction %v accepted", frac)
		}
	}
}

func TestSplitPredefined(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"items.jsonl": `{"id":"a","title":"A"}` + "\n" + `{"id":"b","title":"B"}` + "\n" + `{"id":"c","title":"C"}` + "\n" + `{"id":"d","title":"D"}` + "\n",
		"train.csv":   "user_id,item_id,kind,value,timestamp\nu1,a,view,1,10\nu1,b,view,1,20\nu1,c,view,1,30\nu2,a,view,1,5\n",
		"test.csv":    "user_id,item_id,kind,value,timestamp\nu1,d,view,1,40\nu2,a,view,1,50\nu2,b,view,1,60\nu3,c,view,1,70\n",
	}
	for name, body := range files {
		if err := writeFile(filepath.Join(dir, name), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	ds, s, err := eval.SplitPredefined(context.Background(), filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv"), eval.PredefinedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.Users; !reflect.DeepEqual(got, []string{"u1", "u2", "u3"}) {
		t.Fatalf("users %v", got)
	}
	want := []struct {
		train, val, test []int32
	}{
		{[]int32{0, 1}, []int32{2}, []int32{3}}, // u1: validation carved by last
		{[]int32{0}, nil, []int32{1}},           // u2: a is seen in training, dropped from test
		{nil, nil, []int32{2}},                  // u3: test only
	}
	for u, w := range want {
		if got := items(s.Train[u]); !reflect.DeepEqual(got, w.train) || !reflect.DeepEqual(s.Val[u], w.val) || !reflect.DeepEqual(s.Test[u], w.test) {
			t.Errorf("user %d: train %v val %v test %v, want %v", u, got, s.Val[u], s.Test[u], w)
		}
	}
	if ds.Interactions() != 4 {
		t.Errorf("dataset holds %d interactions, want the 4 training ones", ds.Interactions())
	}
	if _, _, err := eval.SplitPredefined(context.Background(), filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "train.csv"), filepath.Join(dir, "missing.csv"), eval.PredefinedOptions{}); err == nil {
		t.Error("missing test file accepted")
	}
}

func TestSplitPredefined_Val(t *testing.T) {
	// u1 to u3 each met a to e, one a time unit apart; the test events
	// come after training (leave-last) or among it (random), with and
	// without timestamps.
	catalogue := ""
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		catalogue += `{"id":"` + id + `","title":"` + id + `"}` + "\n"
	}
	train, trainUntimed := "user_id,item_id,kind,value,timestamp\n", "user_id,item_id,kind,value,timestamp\n"
	for _, u := range []string{"u1", "u2", "u3"} {
		for i, it := range []string{"a", "b", "c", "d", "e"} {
			train += fmt.Sprintf("%s,%s,view,1,%d\n", u, it, 10*(i+1))
			trainUntimed += fmt.Sprintf("%s,%s,view,1,\n", u, it)
		}
	}
	tests := []struct {
		name, train, test, val string
		want                   string
	}{
		{"later: last", train, "user_id,item_id,kind,value,timestamp\nu1,f,view,1,60\nu2,f,view,1,70\nu3,g,view,1,60\nu3,f,view,1,80\n", "auto", eval.ValLast},
		{"among: random", train, "user_id,item_id,kind,value,timestamp\nu1,f,view,1,25\nu2,f,view,1,70\nu3,g,view,1,15\n", "auto", eval.ValRandom},
		{"no times, one each: last", trainUntimed, "user_id,item_id,kind,value,timestamp\nu1,f,view,1,\nu2,f,view,1,\nu3,g,view,1,\n", "auto", eval.ValLast},
		{"no times, several: random", trainUntimed, "user_id,item_id,kind,value,timestamp\nu1,f,view,1,\nu1,g,view,1,\nu2,f,view,1,\n", "auto", eval.ValRandom},
		{"asked for random", train, "user_id,item_id,kind,value,timestamp\nu1,f,view,1,60\n", "random", eval.ValRandom},
		{"the default", train, "user_id,item_id,kind,value,timestamp\nu1,f,view,1,25\n", "", eval.ValLast},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string]string{"items.jsonl": catalogue, "train.csv": tc.train, "test.csv": tc.test} {
				if err := writeFile(filepath.Join(dir, name), []byte(body)); err != nil {
					t.Fatal(err)
				}
			}
			_, s, err := eval.SplitPredefined(context.Background(), filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv"), eval.PredefinedOptions{Val: tc.val, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if s.ValShape != tc.want {
				t.Fatalf("validation %q, want %q", s.ValShape, tc.want)
			}
			for u := range s.Train {
				// Five items: one validation item either way (a fifth),
				// the latest one when last.
				if len(s.Val[u]) != 1 || len(items(s.Train[u])) != 4 {
					t.Fatalf("user %d: val %v train %v", u, s.Val[u], items(s.Train[u]))
				}
				if tc.want == eval.ValLast && s.Val[u][0] != 4 {
					t.Fatalf("user %d: validation %v, want the latest item (4)", u, s.Val[u])
				}
			}
		})
	}
	if _, _, err := eval.SplitPredefined(context.Background(), "x", "y", "z", eval.PredefinedOptions{Val: "first"}); err == nil {
		t.Fatal("validation shape first accepted")
	}
}

func TestHoldOutItems(t *testing.T) {
	ds := generated(t)
	base := eval.SplitLast(ds)
	s, err := eval.HoldOutItems(base, 0.1, 7)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := eval.HoldOutItems(base, 0.1, 7)
	if !reflect.DeepEqual(s, again) {
		t.Error("same seed, different hold-out")
	}
	if n := len(s.Cold); n < 25 || n > 35 {
		t.Errorf("%d items held out of 300, want about 30", n)
	}
	cold := map[int32]bool{}
	for _, it := range s.Cold {
		cold[it] = true
	}
	users := 0
	for u := range s.Train {
		for _, x := range s.Train[u] {
			if cold[x.Item] {
				t.Fatalf("user %d trains on held-out item %d", u, x.Item)
			}
		}
		for _, it := range s.Val[u] {
			if cold[it] {
				t.Fatalf("user %d validates on held-out item %d", u, it)
			}
		}
		for _, it := range s.Test[u] {
			if !cold[it] {
				t.Fatalf("user %d tests on warm item %d", u, it)
			}
		}
		if len(s.Test[u]) > 0 {
			users++
		}
	}
	if users == 0 {
		t.Error("no test user left")
	}
	if s.Protocol != "last+cold" || s.ValShape != eval.ValLast {
		t.Errorf("protocol %q", s.Protocol)
	}
	if _, err := eval.HoldOutItems(s, 0.1, 7); err == nil {
		t.Error("holding out twice accepted")
	}
}
