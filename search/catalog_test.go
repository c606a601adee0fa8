package search_test

import (
	"testing"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/search"
)

func TestNewCatalogOf(t *testing.T) {
	chunks := [][]content.Item{
		{{ID: "a", Attributes: map[string]content.Value{"year": content.Number(2001)}}, {ID: "b"}},
		{{ID: "c", Attributes: map[string]content.Value{"lang": content.String("fr")}}, {ID: "a", Title: "later"}},
	}
	c := search.NewCatalogOf(chunks, map[string]float64{"b": 3, "c": 1})
	if c.Len() != 3 {
		t.Fatalf("%d items, want 3", c.Len())
	}
	// The later a replaced the earlier, and its number went with it.
	if it, ok := c.Item("a"); !ok || it.Title != "later" || c.HasNumber("year") || !c.HasAttribute("lang") {
		t.Fatalf("a = %+v, year %v, lang %v", it, c.HasNumber("year"), c.HasAttribute("lang"))
	}
	// Items are kept in place, not copied.
	if it, _ := c.Item("c"); it != &chunks[1][0] {
		t.Fatal("item c was copied")
	}
	pop := c.Popular(3, nil)
	if len(pop) != 3 || pop[0].ID != "b" || pop[1].ID != "c" || pop[2].ID != "a" {
		t.Fatalf("popular %v", pop)
	}
}
