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
//	vectors.idx         the vector index: ids, raw float32 vectors, codes, graph
//	text/               the Bleve index
//	items.bin           the catalogue the indexes were built from
//	popularity.csv.zst  interaction counts, for the popular fallback
//	neighbours.idx      the item-to-item lists, when built
//	sequence.idx        what followed each item, when built
//	nearby.idx          what was met close to each item, when built
//	cf.idx              the collaborative model's exact factor, when kept
//
// A snapshot is written under a temporary name, every file fsync'd and
// checksummed, the manifest written last, and then renamed into place: it
// is complete or absent. Load refuses one that is partial, damaged, of
// another format, holds a file its manifest does not list, or whose parts
// disagree (dimensions, item counts, a catalogued item without a vector),
// with an error matching ErrBadSnapshot.
//
// A load reads the parts at once, verifying the checksums beside them, and
// maps the big arrays of the vector index and the lists from their files.
// A loaded snapshot is never written to: Bleve writes to its directory
// even when only opening it, and live edits change the text index, so the
// text index is served from a working directory (DATA/.live-*, removed on
// Close) into which its segment files are hard-linked and the rest copied.
package snapshot
