package search_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/search"
)

// catalogItems is n items shaped like the generator's: two of 50
// categories, three of 2,000 tags, a year and a price.
func catalogItems(n int) []content.Item {
	rng := rand.New(rand.NewPCG(1, 2))
	items := make([]content.Item, n)
	for i := range items {
		items[i] = content.Item{
			ID:         fmt.Sprintf("item-%d", i),
			Categories: []string{fmt.Sprintf("c%d", rng.IntN(50)), fmt.Sprintf("c%d", rng.IntN(50))},
			Tags:       []string{fmt.Sprintf("t%d", rng.IntN(2000)), fmt.Sprintf("t%d", rng.IntN(2000)), fmt.Sprintf("t%d", rng.IntN(2000))},
			Attributes: map[string]content.Value{
				"year":  content.Number(float64(1950 + rng.IntN(75))),
				"price": content.Number(rng.Float64() * 100),
			},
		}
	}
	return items
}

// BenchmarkNewCatalogOf measures what a snapshot load spends making the
// catalog of 100k items, postings included.
func BenchmarkNewCatalogOf(b *testing.B) {
	items := catalogItems(100000)
	b.ReportAllocs()
	for b.Loop() {
		search.NewCatalogOf([][]content.Item{items}, map[string]float64{})
	}
}

// BenchmarkCatalogPut measures a live edit of the catalog: an item
// replaced with other categories, tags and numbers.
func BenchmarkCatalogPut(b *testing.B) {
	items := catalogItems(100000)
	c := search.NewCatalogOf([][]content.Item{items}, map[string]float64{})
	edits := catalogItems(1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		it := edits[i%len(edits)]
		it.ID = items[(i*7919)%len(items)].ID
		c.Put(it)
		i++
	}
}

// BenchmarkCatalogPostings measures the first filtered search's wait on a
// catalog of 100k items: its postings are made then (this includes
// NewCatalogOf's time, BenchmarkNewCatalogOf alone).
func BenchmarkCatalogPostings(b *testing.B) {
	items := catalogItems(100000)
	b.ReportAllocs()
	for b.Loop() {
		c := search.NewCatalogOf([][]content.Item{items}, map[string]float64{})
		f, err := c.VectorFilter(search.Filters{Categories: []string{"c1"}})
		if err != nil {
			b.Fatal(err)
		}
		if f.(index.ListedFilter).Len() == 0 {
			b.Fatal("nothing listed")
		}
	}
}
