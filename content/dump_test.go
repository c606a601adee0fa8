package content_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/duetrec/duet/content"
)

// Dump, restore into an empty store, dump again: the same bytes.
func TestDumpRestore_RoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	dir := t.TempDir()
	if _, err := content.GenerateFiles(ctx, dir, content.GenOptions{Items: 150, Users: 40, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	items, events := filepath.Join(dir, content.GenItemsFile), filepath.Join(dir, content.GenEventsFile)
	if _, err := content.ImportGeneric(ctx, s, items, events, content.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	// Events with a fractional time and an unknown time, an edited item.
	s.AppendEvents(ctx, []content.Event{
		{UserID: "odd", ItemID: "i001", Kind: "rating", Value: 3.25, Time: time.Unix(1700000000, 123456789)},
		{UserID: "odd", ItemID: "i002", Kind: "view", Value: 1},
	})
	s.PutItem(ctx, content.Item{ID: "i003", Title: "Edited", Attributes: map[string]content.Value{"n": content.Number(0.1)}})
	// A deleted item whose events stay in the log.
	if _, err := s.DeleteItem(ctx, "i002"); err != nil {
		t.Fatal(err)
	}
	// A vocabulary.
	if _, err := s.PutSynonyms(ctx, content.Synonyms{ID: "sf", Terms: []string{"sci-fi", "science fiction"}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutStopWords(ctx, []string{"movie", "film"}); err != nil {
		t.Fatal(err)
	}

	first := filepath.Join(t.TempDir(), "dump1")
	st1, err := content.Dump(ctx, s, first)
	if err != nil {
		t.Fatal(err)
	}
	r := openStore(t, t.TempDir())
	got, err := content.Restore(ctx, r, first, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Items != st1.Items || got.Events != st1.Events {
		t.Fatalf("restored %+v, dumped %+v", got, st1)
	}
	wantVoc, _ := s.Vocabulary(ctx)
	gotVoc, err := r.Vocabulary(ctx)
	if err != nil || !reflect.DeepEqual(gotVoc.Synonyms, wantVoc.Synonyms) || !reflect.DeepEqual(gotVoc.StopWords, wantVoc.StopWords) {
		t.Fatalf("vocabulary restored as %+v (%v), dumped %+v", gotVoc, err, wantVoc)
	}
	orig, _ := s.Item(ctx, "i003")
	back, _ := r.Item(ctx, "i003")
	if !back.CreatedAt.Equal(orig.CreatedAt) || !back.UpdatedAt.Equal(orig.UpdatedAt) || back.Title != "Edited" {
		t.Fatalf("times or content lost: %+v vs %+v", back, orig)
	}
	second := filepath.Join(t.TempDir(), "dump2")
	if _, err := content.Dump(ctx, r, second); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{content.DumpItems, content.DumpEvents, content.DumpVocabulary} {
		a, _ := os.ReadFile(filepath.Join(first, name))
		b, _ := os.ReadFile(filepath.Join(second, name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Fatalf("%s differs between the dumps (%d and %d bytes)", name, len(a), len(b))
		}
	}
	// Only into an empty store.
	if _, err := content.Restore(ctx, r, first, nil); !errors.Is(err, content.ErrNotEmpty) {
		t.Fatalf("restore into a full store: %v", err)
	}
}

func TestRestore_Corrupt(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	s.PutItem(ctx, content.Item{ID: "a"})
	dump := filepath.Join(t.TempDir(), "d")
	if _, err := content.Dump(ctx, s, dump); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dump, content.DumpItems)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:len(b)/2], 0o644)
	fresh := openStore(t, t.TempDir())
	if _, err := content.Restore(ctx, fresh, dump, nil); err == nil {
		t.Fatal("restored a truncated dump")
	}
	if st, _ := fresh.Stats(ctx); st.Items != 0 || st.Events != 0 {
		t.Fatalf("a failed restore wrote %+v", st)
	}
}

// A dump whose vocabulary is damaged, or disagrees with its manifest,
// restores nothing; a dump made before the vocabulary restores without one.
func TestRestore_Vocabulary(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	s.PutItem(ctx, content.Item{ID: "a", Title: "A"})
	s.PutSynonyms(ctx, content.Synonyms{ID: "x", Terms: []string{"tv", "television"}}, 0)
	dump := filepath.Join(t.TempDir(), "d")
	if _, err := content.Dump(ctx, s, dump); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dump, content.DumpVocabulary)
	good, _ := os.ReadFile(p)
	for name, body := range map[string]string{
		"not JSON":        `{"synonyms": [`,
		"a set of one":    `{"synonyms": [{"id": "x", "terms": ["tv"]}], "stop_words": []}`,
		"one set missing": `{"synonyms": [], "stop_words": []}`,
		"a stop phrase":   `{"synonyms": [{"id": "x", "terms": ["tv", "television"]}], "stop_words": ["the end"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(p, []byte(body), 0o644)
			fresh := openStore(t, t.TempDir())
			if _, err := content.Restore(ctx, fresh, dump, nil); err == nil {
				t.Fatal("restored it")
			}
			st, _ := fresh.Stats(ctx)
			v, _ := fresh.Vocabulary(ctx)
			if st.Items != 0 || len(v.Synonyms) != 0 || v.Seq != 0 {
				t.Fatalf("a failed restore wrote %+v and %+v", st, v)
			}
		})
	}
	// Without the file and its counts: an older dump.
	os.Remove(p)
	m := filepath.Join(dump, "dump.json")
	mb, _ := os.ReadFile(m)
	var manifest map[string]any
	json.Unmarshal(mb, &manifest)
	delete(manifest, "synonyms")
	older, _ := json.Marshal(manifest)
	os.WriteFile(m, older, 0o644)
	fresh := openStore(t, t.TempDir())
	if _, err := content.Restore(ctx, fresh, dump, nil); err != nil {
		t.Fatalf("an older dump: %v (manifest %s)", err, mb)
	}
	if v, _ := fresh.Vocabulary(ctx); len(v.Synonyms) != 0 || len(v.StopWords) != 0 {
		t.Fatalf("vocabulary from nowhere: %+v", v)
	}
	// And the good file restores.
	os.WriteFile(p, good, 0o644)
	os.WriteFile(m, mb, 0o644)
	fresh = openStore(t, t.TempDir())
	if _, err := content.Restore(ctx, fresh, dump, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := fresh.Vocabulary(ctx); len(v.Synonyms) != 1 {
		t.Fatalf("restored %+v", v)
	}
}
