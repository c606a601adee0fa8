package text_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index/text"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "duet-text")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	tx, err := text.Open(ctx, filepath.Join(dir, "text"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Close()

	// Bulk load, then a live edit: searchable as soon as Upsert returns.
	err = tx.IndexBatch(ctx, []content.Item{
		{ID: "m1", Title: "Rocket Science", Description: "How engines lift a payload.",
			Tags: []string{"engineering"}, Categories: []string{"space"},
			Attributes: map[string]content.Value{"year": content.Number(1999)}},
		{ID: "m2", Title: "Bread", Description: "A rocket engineer bakes.",
			Tags: []string{"baking"}, Categories: []string{"cooking"},
			Attributes: map[string]content.Value{"year": content.Number(2010)}},
	})
	if err != nil {
		log.Fatal(err)
	}
	err = tx.Upsert(ctx, content.Item{ID: "m3", Title: "Rockets of the Cold War",
		Categories: []string{"history"}, Attributes: map[string]content.Value{"year": content.Number(2021)}})
	if err != nil {
		log.Fatal(err)
	}

	since := 2000.0
	res, err := tx.Search(ctx, text.Query{
		Text:      "cold war rockets",
		Filter:    text.Filter{Ranges: []text.Range{{Attribute: "year", Min: &since}}},
		K:         10,
		FacetSize: 5,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("total:", res.Total)
	for _, h := range res.Hits {
		fmt.Println(h.ID)
	}
	fmt.Println("categories:", res.Categories)
	// Output:
	// total: 2
	// m3
	// m2
	// categories: map[cooking:1 history:1]
}

func ExampleNewVocabulary() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "duet-text")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tx, err := text.Open(ctx, filepath.Join(dir, "text"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Close()
	err = tx.IndexBatch(ctx, []content.Item{
		{ID: "a", Title: "Science Fiction Classics"},
		{ID: "b", Title: "A Sci-Fi Romp"},
		{ID: "c", Title: "The Matrix", Description: "A movie."},
	})
	if err != nil {
		log.Fatal(err)
	}

	// What editors keep in the store, read as queries read it.
	voc, err := text.NewVocabulary(content.Vocabulary{
		Synonyms:  []content.Synonyms{{ID: "sf", Terms: []string{"sci-fi", "science fiction"}}},
		StopWords: []string{"movie"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range []string{"sci-fi", "movie matrix"} {
		res, err := tx.Search(ctx, text.Query{Text: q, K: 10, Vocabulary: voc})
		if err != nil {
			log.Fatal(err)
		}
		var ids []string
		for _, h := range res.Hits {
			ids = append(ids, h.ID)
		}
		slices.Sort(ids) // a and b tie: they say the same
		fmt.Println(q+":", strings.Join(ids, " "))
	}

	// A one-way rule back to its own root loops, and is refused.
	_, err = text.NewVocabulary(content.Vocabulary{Synonyms: []content.Synonyms{
		{ID: "x", Root: "laptop", Terms: []string{"notebook"}},
		{ID: "y", Root: "notebook", Terms: []string{"laptop"}},
	}})
	fmt.Println(err)
	// Output:
	// sci-fi: a b
	// movie matrix: c
	// invalid vocabulary: set "y": the one-way rules loop: "laptop" → "notebook" → "laptop" (sets x, y); make those terms one set of equivalents
}
