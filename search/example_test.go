package search_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/duetrec/duet/content"
	"github.com/duetrec/duet/index"
	"github.com/duetrec/duet/index/text"
	"github.com/duetrec/duet/search"
)

// wordEncoder is a stand-in for the two-tower model: three axes, "space",
// "cooking" and "jazz", and a text or item lies along the axes of the
// words it holds. A served engine uses search.ModelEncoder.
type wordEncoder struct{}

func (wordEncoder) vector(s string) []float32 {
	v := make([]float32, 3)
	for i, w := range []string{"space", "cooking", "jazz"} {
		if strings.Contains(strings.ToLower(s), w) {
			v[i] = 1
		}
	}
	v[0] += 0.1 // no zero vectors
	return v
}

func (e wordEncoder) ItemVector(it content.Item) []float32 {
	return e.vector(it.Title + " " + strings.Join(it.Categories, " "))
}

func (e wordEncoder) QueryVector(q string) ([]float32, bool) { return e.vector(q), true }

func (e wordEncoder) UserVector(history []content.Item) ([]float32, bool) {
	if len(history) == 0 {
		return nil, false
	}
	return e.ItemVector(history[len(history)-1]), true
}

// An engine over a real vector index and text index answers a hybrid
// search for a user, and explains each hit: its rank in the vector list
// (the blend of the user's and the query's vectors) and in the keyword
// list, and the fused score.
func ExampleEngine_Search() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "duet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	vectors, err := index.NewExact(3)
	if err != nil {
		log.Fatal(err)
	}
	words, err := text.Open(ctx, filepath.Join(dir, "text"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer words.Close()
	history := search.StaticHistory{"chef": {{UserID: "chef", ItemID: "bread", Kind: "view"}}}
	e := search.New(search.Parts{Vectors: vectors, Text: words, Encoder: wordEncoder{}, History: history, Catalog: search.NewCatalog()}, search.Options{})
	for _, it := range []content.Item{
		{ID: "rocket", Title: "Rocket launch", Categories: []string{"space"}},
		{ID: "bread", Title: "Bread baking", Categories: []string{"cooking"}},
		{ID: "soup", Title: "Soup for space travellers", Categories: []string{"cooking"}},
		{ID: "bebop", Title: "Bebop nights", Categories: []string{"jazz"}},
	} {
		if err := e.ItemPut(ctx, it); err != nil {
			log.Fatal(err)
		}
	}

	res, err := e.Search(ctx, search.Request{Query: "space", UserID: "chef", K: 3, ExcludeSeen: true, Explain: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("vector list from:", res.Source)
	for _, h := range res.Hits {
		x := h.Explain
		fmt.Printf("%s: vector rank %d, keyword rank %d, fused %.4f\n", h.ID, x.VectorRank, x.KeywordRank, x.Fused)
	}
	// Output:
	// vector list from: blend
	// soup: vector rank 1, keyword rank 1, fused 0.0328
	// rocket: vector rank 2, keyword rank 2, fused 0.0323
	// bebop: vector rank 3, keyword rank 0, fused 0.0159
}
