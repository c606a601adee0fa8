package text

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"
)

func TestOpen_WrongLayout(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "text")
	tx, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.idx.SetInternal(textVersionKey, []byte("0")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if tx, err := Open(ctx, dir, nil); err == nil || !strings.Contains(err.Error(), "rebuild") {
		if err == nil {
			tx.Close()
		}
		t.Fatalf("open of another layout: %v, want a refusal", err)
	}
}

// TestIndex_CompactManySegments builds an index of more segments than one
// merge pass takes (ten a task), the background merger held back, and
// checks that Compact leaves one.
func TestIndex_CompactManySegments(t *testing.T) {
	defer func(c map[string]any) { textTestConfig = c }(textTestConfig)
	textTestConfig = map[string]any{
		"scorchMergePlanOptions": map[string]any{"MaxSegmentsPerTier": 1000, "SegmentsPerMergeTask": 1000, "TierGrowth": 10.0, "FloorSegmentSize": 1},
		"scorchPersisterOptions": map[string]any{"NumPersisterWorkers": 1, "MaxSizeInMemoryMergePerWorker": 0, "PersisterNapTimeMSec": 0},
	}
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "text")
	tx, err := Open(ctx, dir, &Options{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	s := scorchOf(t, tx)
	items := GenCatalog(t, 300, 2)
	for i := 0; i < len(items); i += 5 {
		if err := tx.IndexBatch(ctx, items[i:i+5]); err != nil {
			t.Fatal(err)
		}
		// Each batch on disk as its own segment before the next comes:
		// the persister merges the ones it finds in memory together.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if n, _ := s.StatsMap()["num_root_memorysegments"].(uint64); n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("batch not persisted within 5 s")
			}
		}
	}
	before, err := segmentCount(s)
	if err != nil {
		t.Fatal(err)
	}
	if before <= 10 {
		t.Fatalf("%d segments before Compact, want more than one merge pass takes", before)
	}
	if err := tx.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := segmentCount(s); err != nil || n != 1 {
		t.Fatalf("after Compact: %d segments (%v), want 1 (%d before)", n, err, before)
	}
	// The files of the segments merged away are gone when Compact
	// returns: a snapshot would copy them.
	if zaps, _ := filepath.Glob(filepath.Join(dir, "store", "*.zap")); len(zaps) != 1 {
		t.Fatalf("after Compact: %d segment files, want 1: %v", len(zaps), zaps)
	}
	if n, err := tx.Count(); err != nil || n != uint64(len(items)) {
		t.Fatalf("count %d, %v, want %d", n, err, len(items))
	}
}

func scorchOf(t *testing.T, tx *Index) *scorch.Scorch {
	t.Helper()
	adv, err := tx.idx.Advanced()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		t.Fatalf("index type %T", adv)
	}
	return s
}

// TestOpen_Bulk: an index filled in bulk merges by a wider plan, which
// Bleve accepts, and after Compact it is one segment answering as an
// index filled the default way does.
func TestOpen_Bulk(t *testing.T) {
	ctx := context.Background()
	items := GenCatalog(t, 300, 2)
	var queries []string
	for _, it := range items[:20] {
		queries = append(queries, strings.Fields(it.Title)[0])
	}
	answers := make([][]Result, 2)
	for i, bulk := range []bool{false, true} {
		tx, err := Open(ctx, filepath.Join(t.TempDir(), "text"), &Options{BatchSize: 10, Bulk: bulk})
		if err != nil {
			t.Fatalf("bulk %v: %v", bulk, err)
		}
		if err := tx.IndexBatch(ctx, items); err != nil {
			t.Fatal(err)
		}
		if err := tx.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := segmentCount(scorchOf(t, tx)); err != nil || n != 1 {
			t.Fatalf("bulk %v: %d segments after Compact (%v), want 1", bulk, n, err)
		}
		for _, q := range queries {
			res, err := tx.Search(ctx, Query{Text: q, K: 10})
			if err != nil {
				t.Fatal(err)
			}
			answers[i] = append(answers[i], res)
		}
		tx.Close()
	}
	for j, q := range queries {
		a, b := answers[0][j].Hits, answers[1][j].Hits
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("%q: %d hits by default, %d in bulk", q, len(a), len(b))
		}
		for k := range a {
			if a[k].ID != b[k].ID || math.Abs(a[k].Score-b[k].Score) > 1e-9*math.Abs(a[k].Score) {
				t.Fatalf("%q, hit %d: %+v by default, %+v in bulk", q, k, a[k], b[k])
			}
		}
	}
}
