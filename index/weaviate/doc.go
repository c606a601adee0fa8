// Package weaviate keeps the catalogue's vectors and text in a Weaviate
// cluster, for catalogues larger than one machine's memory: Weaviate
// shards, replicates and searches them; Duet keeps the model, the users,
// fusion, diversity and explanations.
//
// A Collection is one snapshot's items: item-tower vectors (vectorizer
// none, dot product on unit vectors: a hit's score is the cosine, as in the
// embedded indexes), titles and descriptions as the terms Duet's own
// analyser makes of them (Weaviate does not stem; its whitespace
// tokenization then matches Duet's stemmed query terms), categories, tags
// and attributes as filterable properties. Objects have a deterministic
// UUID made from the item id, so a write is an idempotent upsert; writes
// and deletes ask for QUORUM, and so do reads but while a replica stalls;
// the collection resolves a delete racing a write by time
// (deletionStrategy TimeBasedResolution), so that a deleted item does not
// come back through read repair, and repairs replicas asynchronously.
//
// Index shows a collection to the search engine as its vector index
// (near-vector search with the engine's query vector, filters sent along
// when the filter states them) and its text index (BM25). BM25 statistics
// are per shard in Weaviate: with several shards, scores of one word differ
// a little between shards.
//
// The client talks to Weaviate's REST and GraphQL API over HTTP, trying
// the next node when one does not answer; a read also goes to the next
// node when one is slow to answer, and a node that failed or was slow is
// tried last for a while.
package weaviate
