// Package text owns Duet's full-text index: a Bleve index (on-disk scorch)
// of the catalogue with a static mapping, that matches keyword queries with
// BM25, filters on categories, tags and attributes, counts facets, marks a
// query's words in items' text (Highlighter), and takes live edits through
// one writer goroutine that groups them into batches.
//
// A query may ask for its last word to match as the beginning of longer
// words (Query.Prefix: search as you type) and for words no item holds to
// match words a few edits away (Query.Typos, Meilisearch's rule by
// default). Both expand a word into a few dictionary terms at lower
// weights, so items holding the words as typed rank first; prefixes are
// looked up among whole words (an unstemmed field), typos among the
// stems. Interpret gives the one reading of the words an embedding needs;
// Unfinished lists the items holding any word a word still being typed
// begins, for a list that cannot read part of a word to be drawn from.
//
// The editors' synonyms and stop words (Query.Vocabulary, made by
// NewVocabulary, which refuses sets that loop or contradict) are applied to
// each query as it comes, so they need no rebuild: a phrase of a synonym set
// brings in its synonyms' terms, and stop words are dropped. A Highlighter
// says how a query was read (Reading) and which of its terms an item holds
// (Matched), for explanations.
//
// Free text alone (what every unfiltered hybrid request sends) skips
// Bleve's searchers: the postings of each query term are read once per
// segment into arrays kept in a cache (Options.PostingsCache) and merged
// with Bleve's formulas and summation order, pruned with MaxScore when the
// caller skips the total. Hits and scores equal Bleve's; the tests compare
// them across segments, deletes, edits and cache budgets.
//
//	idx, _ := text.Open(ctx, dir, nil)
//	_ = idx.IndexBatch(ctx, items)
//	res, err := idx.Search(ctx, text.Query{Text: "space opera", K: 10})
package text
