// Package index owns Duet's vector indexes: they find the items whose
// embeddings are nearest to a user or query embedding. The text index is
// package index/text.
//
// # Vector indexes
//
// Vector is the one interface; three types implement it:
//
//   - HNSW, a hierarchical navigable small-world graph (Malkov & Yashunin,
//     2016) kept in flat arrays, for large catalogues. Searches run
//     concurrently with each other and with Add; deletes are tombstones,
//     cleaned by Rebuild.
//   - Exact, a flat scan. It is the ground truth the graph is tested
//     against, and the right choice for catalogues of a few tens of
//     thousands of items, where a scan costs about as much as a graph walk.
//   - CoderHNSW, an adapter over github.com/coder/hnsw behind guards, kept
//     for comparison until that library's fixes are released (its v0.6.1
//     has recall@10 far below HNSW's and panics after a delete).
//
// Items have external string ids. Every index stores unit-length copies of
// the vectors it is given and normalises queries, so a score is the cosine
// similarity of query and item; for the two-tower model, whose embeddings
// are unit vectors already, that is the inner product. Results come sorted
// by score, highest first. Vectors of the wrong dimension, zero vectors and
// vectors with NaN or infinite components are refused with ErrDimension,
// ErrZeroVector and ErrInvalidVector.
//
// A search may carry a Filter. A ListedFilter (an AllowSet is one) says
// how many items it may pass and lists them; for other filters the HNSW
// graph samples the pass rate. When the allowed items are few, or walking
// the graph past the rejected ones would cost more than scoring them, they
// are scored directly; otherwise the walk steps through rejected items
// without returning them until it has collected enough accepted ones, and
// gives up for the scan should it run past the scan's cost.
//
//	idx, _ := index.NewHNSW(64, index.HNSWOptions{})
//	_ = idx.Add("item-1", vec)
//	hits, err := idx.Search(ctx, query, 10, index.NewAllowSet("item-1", "item-7"))
package index
