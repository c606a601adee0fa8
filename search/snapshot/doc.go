// Package snapshot owns Duet's snapshots: the directory a rebuild writes
// and a server loads, holding everything a search engine needs besides
// the store. It owns their files, the checksums that vouch for them, their
// contents, the lock that lets one rebuild at a time write them, and their
// retention; nothing outside it knows a snapshot's file names or layout.
//
// A data directory DATA keeps its snapshots in DATA/snapshots (see Root),
// one directory each, named by the store sequence number they reflect and
// the time they were made, so that names sort oldest first:
//
//	manifest.json       format, sequence number, item count, dimension, meta,
//	                    and the size and SHA-256 of every other file
//	model.duet          the two-tower model
//	vectors.idx         the vector index: ids, raw float32 vectors, graph
//	text/               the Bleve index
//	items.jsonl.zst     the catalogue the indexes were built from
//	popularity.csv.zst  interaction counts, for the popular fallback
//
// A snapshot is written under a temporary name, every file fsync'd and
// checksummed, the manifest written last, and then renamed into place: it
// is complete or absent. Load refuses one that is partial, damaged, of
// another format, holds a file its manifest does not list, or whose parts
// disagree (dimensions, item counts, a catalogued item without a vector),
// with an error matching ErrBadSnapshot.
//
// A loaded snapshot is never written to: Bleve writes to its directory even
// when only opening it, and live edits change the text index, so the text
// index is copied to a working directory (DATA/.live-*, removed on Close)
// and served from there.
package snapshot
