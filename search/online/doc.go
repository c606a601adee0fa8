// Package online owns what Duet learns from its own answers: the
// impressions it records (what was shown, to whom, by which snapshot and
// ranker configuration), the online figures folded from the store's
// feedback log (click-through at K, mean reciprocal rank of clicks,
// coverage, over time windows), and experiments between two ranker
// configurations, by team-draft interleaving or A/B by user, with a
// running verdict.
//
// The store keeps the log and attributes each event that names an
// impression to it (content.Store.AppendEvents); this package only
// records and reads it, so every server sharing a store folds the same
// figures.
package online
