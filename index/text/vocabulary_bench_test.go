package text

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/duetrec/duet/content"
)

// BenchmarkTextVocabulary times queries as a search box sends them
// (prefix, typos) with no vocabulary, with MaxSynonymSets sets that no
// query meets (what reading the words with them costs), and with as many
// that most queries meet: every word of the catalogue paired with another
// as equivalents, the rest two-word phrases paired (what searching the
// synonyms' terms costs too).
func BenchmarkTextVocabulary(b *testing.B) {
	ctx := context.Background()
	items := GenCatalog(b, 20_000, 3)
	tx := compactedText(b, items, nil)
	rng := rand.New(rand.NewPCG(9, 9))
	var words []string
	stems := map[string]bool{}
	for _, it := range items {
		for _, w := range strings.Fields(strings.ToLower(it.Title)) {
			toks := tx.en.Analyze([]byte(w))
			if len(toks) == 1 && !stems[string(toks[0].Term)] {
				stems[string(toks[0].Term)] = true
				words = append(words, w)
			}
		}
	}
	var v content.Vocabulary
	for i := 0; i+1 < len(words); i += 2 {
		v.Synonyms = append(v.Synonyms, content.Synonyms{ID: fmt.Sprint("w", i), Terms: []string{words[i], words[i+1]}})
	}
	used := map[string]bool{}
	phrase := func() string {
		for {
			p := words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
			if !used[p] {
				used[p] = true
				return p
			}
		}
	}
	for len(v.Synonyms) < content.MaxSynonymSets {
		v.Synonyms = append(v.Synonyms, content.Synonyms{ID: fmt.Sprint("p", len(v.Synonyms)), Terms: []string{phrase(), phrase()}})
	}
	voc, err := NewVocabulary(v)
	if err != nil {
		b.Fatal(err)
	}
	var apart content.Vocabulary
	for i := range content.MaxSynonymSets {
		apart.Synonyms = append(apart.Synonyms, content.Synonyms{ID: fmt.Sprint(i), Terms: []string{fmt.Sprintf("zq%dx", i), fmt.Sprintf("zq%dy zq%dz", i, i)}})
	}
	unmet, err := NewVocabulary(apart)
	if err != nil {
		b.Fatal(err)
	}
	queries := make([]Query, 256)
	for i := range queries {
		ws := strings.Fields(items[rng.IntN(len(items))].Title)
		queries[i] = Query{Text: ws[rng.IntN(len(ws))], K: 100, SkipTotal: true, Prefix: true, Typos: DefaultTypos}
		if i%2 == 0 {
			queries[i].Text += " " + ws[rng.IntN(len(ws))]
		}
	}
	b.Logf("%d distinct title words, %d sets", len(words), len(v.Synonyms))
	for _, c := range []struct {
		name string
		voc  *Vocabulary
	}{{"none", nil}, {"sets=10000,unmet", unmet}, {"sets=10000,met", voc}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				q := queries[i%len(queries)]
				q.Vocabulary = c.voc
				if _, err := tx.Search(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("compile", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewVocabulary(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
