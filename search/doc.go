// Package search owns the hybrid ranker: one Request in, ranked hits with a
// score breakdown out. It fetches vector candidates (from the user's
// history, the query text, or both) and keyword candidates, filters both the
// same way, fuses them (reciprocal rank, relative score or weighted sum),
// drops what the user has seen, diversifies, and explains every hit.
//
// It reads the indexes, the model and the user's history through small
// interfaces; it never parses HTTP or opens the store itself.
package search
