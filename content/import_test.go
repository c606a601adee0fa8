package content_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportMovieLens(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	rep, err := content.ImportMovieLens(ctx, s, "testdata/movielens-tiny", content.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 3 || rep.Events != 4 || rep.Users != 2 || rep.TagRows != 4 || rep.DistinctTag != 3 || rep.Skipped != 0 {
		t.Fatalf("report %+v", rep)
	}
	m1, err := s.Item(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if m1.Title != "Harbour Lights (1994)" || fmt.Sprint(m1.Categories) != "[Drama Romance]" ||
		fmt.Sprint(m1.Tags) != "[slow burn seaside]" || m1.Attributes["year"] != content.Number(1994) {
		t.Fatalf("movie 1: %+v", m1)
	}
	if m2, _ := s.Item(ctx, "2"); m2.Title != "Night, Again (2001)" {
		t.Fatalf("quoted title: %q", m2.Title)
	}
	if m3, _ := s.Item(ctx, "3"); len(m3.Categories) != 0 || m3.Attributes != nil {
		t.Fatalf("movie 3: %+v", m3)
	}
	evs, _ := s.UserEvents(ctx, "1", 0)
	if len(evs) != 2 || evs[0].ItemID != "2" || evs[0].Value != 3.5 || evs[0].Kind != "rating" || evs[0].Time.Unix() != 964981247 {
		t.Fatalf("user 1 events: %+v", evs)
	}
}

func TestImportGeneric(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	items := writeFile(t, dir, "items.jsonl", `{"id":"a","title":"Alpha","tags":["x"],"attributes":{"price":9.5,"lang":"en"}}
{"id":"b"}

{"id":"c","description":"third"}
`)
	events := writeFile(t, dir, "events.csv", `user_id,item_id,kind,value,timestamp
u1,a,view,,1700000000
u1,b,rating,4,2023-11-14T22:13:21Z
u2,c,click,1,
`)
	s := openStore(t, t.TempDir())
	rep, err := content.ImportGeneric(ctx, s, items, events, content.ImportOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Items != 3 || rep.Events != 3 || rep.Users != 2 {
		t.Fatalf("report %+v", rep)
	}
	a, _ := s.Item(ctx, "a")
	if a.Attributes["price"] != content.Number(9.5) || a.Attributes["lang"] != content.String("en") {
		t.Fatalf("item a: %+v", a)
	}
	u1, _ := s.UserEvents(ctx, "u1", 0)
	if len(u1) != 2 || u1[0].Value != 1 || u1[1].Value != 4 || u1[1].Time.Unix() != 1700000001 {
		t.Fatalf("u1: %+v", u1)
	}
	// Events alone, against items already in the store.
	more := writeFile(t, dir, "more.csv", "user_id,item_id,kind,value,timestamp\nu3,a,view,1,\n")
	if rep, err := content.ImportGeneric(ctx, s, "", more, content.ImportOptions{}); err != nil || rep.Events != 1 {
		t.Fatalf("events only: %+v %v", rep, err)
	}
}

// A malformed row anywhere stops the import with file:line and leaves the
// store exactly as it was; with SkipBad it is skipped and counted.
func TestImport_BadRows(t *testing.T) {
	ctx := context.Background()
	goodItems := `{"id":"a"}` + "\n" + `{"id":"b"}` + "\n"
	goodEvents := "user_id,item_id,kind,value,timestamp\nu,a,view,1,\nu,b,view,1,\n"
	cases := []struct {
		name, items, events string
		file                string
		line                int
		reason              string
	}{
		{"bad JSON", `{"id":"a"}` + "\n" + `{"id":` + "\n", goodEvents, "items.jsonl", 2, "bad JSON"},
		{"missing id", `{"title":"x"}` + "\n", goodEvents, "items.jsonl", 1, "id: is missing"},
		{"unknown field", `{"id":"a","tittle":"x"}` + "\n", goodEvents, "items.jsonl", 1, "unknown field"},
		{"attribute not string or number", `{"id":"a","attributes":{"k":true}}` + "\n", goodEvents, "items.jsonl", 1, "string or a number"},
		{"invalid UTF-8", `{"id":"a"}` + "\n" + "{\"id\":\"b\",\"title\":\"caf\xe9\"}\n", goodEvents, "items.jsonl", 2, "not valid UTF-8"},
		{"id too long", `{"id":"` + strings.Repeat("x", 300) + `"}` + "\n", goodEvents, "items.jsonl", 1, "more than 256"},
		{"bad header", goodItems, "user,item,kind,value,timestamp\n", "events.csv", 1, "header"},
		{"bad value", goodItems, "user_id,item_id,kind,value,timestamp\nu,a,view,1,\nu,a,view,lots,\n", "events.csv", 3, "not a number"},
		{"infinite value", goodItems, "user_id,item_id,kind,value,timestamp\nu,a,view,+Inf,\n", "events.csv", 2, "finite"},
		{"bad time", goodItems, "user_id,item_id,kind,value,timestamp\nu,a,view,1,yesterday\n", "events.csv", 2, "timestamp"},
		{"unknown item", goodItems, "user_id,item_id,kind,value,timestamp\nu,a,view,1,\nu,zz,view,1,\n", "events.csv", 3, "unknown item"},
		{"wrong field count", goodItems, "user_id,item_id,kind,value,timestamp\nu,a,view\n", "events.csv", 2, "has 3 fields"},
		{"bare quote", goodItems, "user_id,item_id,kind,value,timestamp\nu,a\"b,view,1,\n", "events.csv", 2, "quote"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			items := writeFile(t, dir, "items.jsonl", c.items)
			events := writeFile(t, dir, "events.csv", c.events)
			s := openStore(t, t.TempDir())
			_, err := content.ImportGeneric(ctx, s, items, events, content.ImportOptions{})
			var re *content.RowError
			if !errors.As(err, &re) {
				t.Fatalf("err %v, want a RowError", err)
			}
			if filepath.Base(re.File) != c.file || re.Line != c.line || !strings.Contains(err.Error(), c.reason) {
				t.Fatalf("err %q, want %s:%d with %q", err, c.file, c.line, c.reason)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: ", re.File, re.Line)) {
				t.Fatalf("err %q does not start with file:line", err)
			}
			if st, _ := s.Stats(ctx); st.Items != 0 || st.Events != 0 {
				t.Fatalf("store changed: %+v", st)
			}
			rep, err := content.ImportGeneric(ctx, s, items, events, content.ImportOptions{SkipBad: true})
			if c.reason == "header" {
				if err == nil {
					t.Fatal("a bad header is not a row to skip")
				}
				return
			}
			if err != nil {
				t.Fatalf("skip-bad: %v", err)
			}
			if rep.Skipped < 1 || len(rep.SkippedRows) != rep.Skipped {
				t.Fatalf("skip-bad report %+v", rep)
			}
		})
	}
}

func TestImportMovieLens_BadRow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "movies.csv", "movieId,title,genres\n1,A (1990),Drama\n2,B,Comedy\n")
	writeFile(t, dir, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,9,4.0,964982703\n")
	s := openStore(t, t.TempDir())
	_, err := content.ImportMovieLens(ctx, s, dir, content.ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "ratings.csv:3: ") || !errors.Is(err, content.ErrUnknownItem) {
		t.Fatalf("err %v", err)
	}
	if st, _ := s.Stats(ctx); st.Items != 0 || st.Events != 0 {
		t.Fatalf("store changed: %+v", st)
	}
	rep, err := content.ImportMovieLens(ctx, s, dir, content.ImportOptions{SkipBad: true})
	if err != nil || rep.Items != 2 || rep.Events != 1 || rep.Skipped != 1 {
		t.Fatalf("skip-bad: %+v, %v", rep, err)
	}
}

func TestImportMovieLens_ManyTagsKeepsMostUsed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "movies.csv", "movieId,title,genres\n1,A (1990),Drama\n")
	writeFile(t, dir, "ratings.csv", "userId,movieId,rating,timestamp\n")
	var tags strings.Builder
	tags.WriteString("userId,movieId,tag,timestamp\n")
	for i := range content.MaxTags + 20 {
		fmt.Fprintf(&tags, "1,1,tag%d,1\n", i)
	}
	fmt.Fprintf(&tags, "2,1,TAG%d,1\n", content.MaxTags+19) // the last tag, used twice, comes first
	writeFile(t, dir, "tags.csv", tags.String())
	s := openStore(t, t.TempDir())
	rep, err := content.ImportMovieLens(ctx, s, dir, content.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := s.Item(ctx, "1")
	if len(it.Tags) != content.MaxTags || it.Tags[0] != fmt.Sprint("tag", content.MaxTags+19) || rep.TagsDropped != 20 {
		t.Fatalf("tags %d (first %q), dropped %d", len(it.Tags), it.Tags[0], rep.TagsDropped)
	}
}

type countingProgress struct {
	stages []string
	bytes  int64
	open   int
}

func (p *countingProgress) Start(stage string, total int64) {
	p.stages = append(p.stages, stage)
	p.open++
}
func (p *countingProgress) Add(n int64) { p.bytes += n }
func (p *countingProgress) Done()       { p.open-- }

func TestImport_Progress(t *testing.T) {
	s := openStore(t, t.TempDir())
	p := &countingProgress{}
	if _, err := content.ImportMovieLens(context.Background(), s, "testdata/movielens-tiny", content.ImportOptions{Progress: p}); err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, f := range []string{"movies.csv", "tags.csv", "ratings.csv", "ratings.csv"} {
		fi, _ := os.Stat(filepath.Join("testdata/movielens-tiny", f))
		size += fi.Size()
	}
	if len(p.stages) != 4 || p.bytes != size || p.open != 0 {
		t.Fatalf("stages %v, bytes %d of %d, open %d", p.stages, p.bytes, size, p.open)
	}
}

func TestImport_Cancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := openStore(t, t.TempDir())
	if _, err := content.ImportMovieLens(ctx, s, "testdata/movielens-tiny", content.ImportOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}
