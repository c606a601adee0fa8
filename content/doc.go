// Package content owns the catalog and the behaviour log: items, events, the
// durable store that holds them (and the editors' search vocabulary:
// synonym sets and stop words, as records), the importers that bring data
// in, and the deterministic synthetic data set used by the demo.
//
// The store is the source of truth for the rest of Duet. Every write is
// durable (fsync'd) before it returns and carries a sequence number, so that
// indexes built from a snapshot can replay the item changes made after it
// with ChangesSince.
//
// Nothing here knows about vectors, indexes or HTTP.
package content
