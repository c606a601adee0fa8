package tower_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/internal/race"
	"github.com/duetrec/duet/tower"
)

func TestTrain_DeterministicSingleWorker(t *testing.T) {
	ds := smallDataset(t)
	sp := leaveLastOut(ds)
	cfg := tower.Config{Dim: 8, Buckets: 1 << 10, Epochs: 2, Workers: 1, Seed: 42, Negatives: 8, UserExamples: 5, HistoryLen: 10}
	a, err := tower.Train(context.Background(), ds, sp.train, sp.val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tower.Train(context.Background(), ds, sp.train, sp.val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saveBytes(t, a), saveBytes(t, b)) {
		t.Fatal("two single-worker runs with one seed differ")
	}
	cfg.Seed = 43
	c, err := tower.Train(context.Background(), ds, sp.train, sp.val, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(saveBytes(t, a), saveBytes(t, c)) {
		t.Fatal("another seed gives the same model")
	}
}

func TestTrain_Errors(t *testing.T) {
	ds := smallDataset(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		train [][]int32
		cfg   tower.Config
		want  error
	}{
		{"bad encoder", ctx, nil, tower.Config{Encoder: "lstm"}, tower.ErrConfig},
		{"bad dim", ctx, nil, tower.Config{Dim: -1}, tower.ErrConfig},
		{"too many members", ctx, nil, tower.Config{Members: 17}, tower.ErrConfig},
		{"members too wide", ctx, nil, tower.Config{Dim: 512, Members: 4}, tower.ErrConfig},
		// Off is a Disable… field, not a negative value.
		{"negative logq", ctx, nil, tower.Config{LogQ: -1}, tower.ErrConfig},
		{"negative id dropout", ctx, nil, tower.Config{IDDropout: -1}, tower.ErrConfig},
		{"negative average", ctx, nil, tower.Config{Average: -1}, tower.ErrConfig},
		{"negative user examples", ctx, nil, tower.Config{UserExamples: -1}, tower.ErrConfig},
		{"no examples", ctx, [][]int32{{1}, {2}}, tower.Config{}, tower.ErrNoData},
		{"canceled", func() context.Context { c, cancel := context.WithCancel(ctx); cancel(); return c }(), nil, tower.Config{Buckets: 64}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tower.Train(tc.ctx, ds, tc.train, nil, tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := tower.Train(ctx, ds, [][]int32{{0, 99999}}, nil, tower.Config{}); err == nil {
		t.Fatal("an out-of-range item index was accepted")
	}
}

// TestColdStart removes every interaction with a tenth of the items from
// training; their content-only vectors must still rank them for the users
// who chose them well above chance among the other cold items.
func TestColdStart(t *testing.T) {
	ds := smallDataset(t)
	cold := func(i int32) bool { return i%10 == 3 }
	train := make([][]int32, len(ds.History))
	userCold := make([][]int32, len(ds.History))
	for u, h := range ds.History {
		for _, x := range h {
			if cold(x.Item) {
				userCold[u] = append(userCold[u], x.Item)
			} else {
				train[u] = append(train[u], x.Item)
			}
		}
	}
	cfg := tower.Config{Dim: 32, Buckets: 1 << 12, Epochs: 6, Workers: 1}
	if race.Enabled {
		cfg.Epochs, cfg.HistoryLen, cfg.UserExamples = 3, 10, 10
	}
	m, err := tower.Train(context.Background(), ds, train, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var coldItems []int32
	vecs := map[int32][]float32{}
	for i := range int32(len(ds.Items)) {
		if cold(i) {
			coldItems = append(coldItems, i)
			it := ds.Items[i]
			it.ID = "" // content only, as for an item new to the model
			vecs[i] = m.ItemVector(it, nil)
			// A catalog item never seen in training has no id embedding
			// to add: its catalog vector is its content vector.
			if byIndex := m.ItemVectorByIndex(i, nil); !equal(byIndex, vecs[i]) {
				t.Fatalf("item %d: catalog vector differs from its content vector", i)
			}
		}
	}
	// AUC: how often a user's cold item outscores a cold item they did not choose.
	var wins, pairs float64
	for u, pos := range userCold {
		if len(pos) == 0 || len(train[u]) == 0 {
			continue
		}
		uv := m.UserVector(train[u], nil)
		chosen := map[int32]bool{}
		for _, i := range pos {
			chosen[i] = true
		}
		for _, p := range pos {
			sp := dot(uv, vecs[p])
			for _, n := range coldItems {
				if chosen[n] {
					continue
				}
				switch sn := dot(uv, vecs[n]); {
				case sp > sn:
					wins++
				case sp == sn:
					wins += 0.5
				}
				pairs++
			}
		}
	}
	auc := wins / pairs
	t.Logf("cold-start AUC %.3f over %.0f pairs (chance 0.5)", auc, pairs)
	if auc < 0.75 {
		t.Fatalf("cold-start AUC %.3f, want at least 0.75", auc)
	}
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestModel_Concurrent runs the inference methods from many goroutines;
// with -race it checks they share no unsynchronised state.
func TestModel_Concurrent(t *testing.T) {
	m, ds := tinyModel(t, true)
	want := m.UserVector([]int32{0, 1, 2}, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if got := m.UserVector([]int32{0, 1, 2}, nil); !equal(got, want) {
					t.Errorf("goroutine %d: user vector changed", g)
					return
				}
				m.UserVectorItems([]content.Item{ds.Items[0], {ID: "new", Title: "blue apple boat"}}, nil)
				m.UserVectorID("u", []int32{1}, nil)
				m.ItemVector(ds.Items[g%len(ds.Items)], nil)
				m.ItemVectorByIndex(int32(g%len(ds.Items)), nil)
				m.QueryVector("red car", nil)
			}
		}()
	}
	wg.Wait()
}

func TestModel_VectorsAreUnit(t *testing.T) {
	m, ds := tinyModel(t, false)
	check := func(what string, v []float32) {
		t.Helper()
		if n := dot(v, v); n < 0.999 || n > 1.001 || len(v) != m.Dim() {
			t.Errorf("%s: squared norm %v, length %d", what, n, len(v))
		}
	}
	check("item", m.ItemVectorByIndex(0, nil))
	check("new item", m.ItemVector(content.Item{ID: "zz", Title: "unknown words entirely", Categories: []string{"food", "nope"}}, nil))
	check("user", m.UserVector([]int32{0, 1}, nil))
	check("empty history", m.UserVector(nil, nil))
	check("out-of-range history", m.UserVector([]int32{-1, 1000}, nil))
	check("new items history", m.UserVectorItems([]content.Item{{ID: "zz", Title: "apple"}, ds.Items[2]}, nil))
	q, ok := m.QueryVector("apple pie", nil)
	if !ok {
		t.Fatal("QueryVector: no tokens in \"apple pie\"")
	}
	check("query", q)
	if _, ok := m.QueryVector("the of and", nil); ok {
		t.Error("QueryVector: stop words only reported ok")
	}
	if v := m.ItemVectorByIndex(99, nil); v != nil {
		t.Error("ItemVectorByIndex out of range returned a vector")
	}
	dst := make([]float32, m.Dim())
	if v := m.UserVector([]int32{0}, dst); &v[0] != &dst[0] {
		t.Error("UserVector did not write into dst")
	}
}

// TestTrainProgress_Best checks that the progress reports carry the best
// validation recall so far and its epoch, for every member of a joined
// model: the figures a progress bar and a summary quote for the weights
// Train keeps.
func TestTrainProgress_Best(t *testing.T) {
	ds := smallDataset(t)
	sp := leaveLastOut(ds)
	var reports []tower.TrainProgress
	cfg := tower.Config{Dim: 8, Buckets: 1 << 10, Epochs: 4, Patience: 4, Workers: 1, UserExamples: 5, HistoryLen: 10, Members: 2,
		Progress: func(p tower.TrainProgress) { reports = append(reports, p) }}
	if _, err := tower.Train(context.Background(), ds, sp.train, sp.val, cfg); err != nil {
		t.Fatal(err)
	}
	best, bestEpoch, member, epochs := -1.0, 0, 0, 0
	for _, p := range reports {
		if p.Member != member {
			member, best, bestEpoch = p.Member, -1, 0
		}
		if p.EpochDone {
			epochs++
			if p.Recall < 0 {
				t.Fatalf("member %d epoch %d: no validation recall at the end of the epoch", p.Member, p.Epoch)
			}
			if p.Recall > best {
				best, bestEpoch = p.Recall, p.Epoch
			}
		}
		if p.BestRecall != best || p.BestEpoch != bestEpoch {
			t.Fatalf("member %d epoch %d (done %v): best %v at epoch %d, want %v at %d",
				p.Member, p.Epoch, p.EpochDone, p.BestRecall, p.BestEpoch, best, bestEpoch)
		}
	}
	if member != 2 || epochs != 8 {
		t.Errorf("reports reached member %d and %d finished epochs, want 2 and 8", member, epochs)
	}
}
