// Package eval owns offline evaluation of recommenders over a
// tower.Dataset: the splits (leave-last-out, per-user random, predefined
// train/test files, held-out items for cold start), the ranking metrics
// (Recall, NDCG, HR, MRR and catalogue coverage at K), the baselines every
// model is compared against (popularity, ItemKNN, EASE, BPR-MF, random) and
// the harness behind `duet eval` that tunes each model on the validation
// split, evaluates it on the test split and writes the report.
//
// # Protocol
//
// A Split divides every user's interactions into training interactions and
// validation and test item sets. Models are fit on the training part only:
// Fit receives a copy of the dataset whose History holds just the training
// interactions, so nothing of validation or test can leak through it. A
// model that lists Candidates is fit once per candidate on training, each
// fitted candidate ranks the validation items, and the one with the best
// NDCG at Options.SelectK is kept; that same fitted model then ranks the
// test items, with the validation items added to the user's history (as
// input and as seen items). There is no refit on training plus validation:
// the cost of a fit is paid once per candidate, and every model is judged
// on the same footing.
//
// Ranking is over the full catalogue, with the items in the user's history
// excluded. Ties in score are broken by a fixed hash of user and item:
// deterministic, and blind to catalogue order, which often follows age or
// popularity. Users without a test item are not counted. Metrics are means over users, summed in user order,
// so a report does not depend on how many workers computed it.
//
// Recall@K is the number of test items in the top K divided by the number
// of test items (with leave-last-out there is one, and Recall@K equals
// HR@K). NDCG@K uses binary relevance and an ideal DCG over min(|test|, K)
// hits. HR@K is 1 when any test item is in the top K. MRR@K is the
// reciprocal rank of the first test item in the top K, 0 when there is
// none. Coverage@K is the number of distinct items in anyone's top K
// divided by the number of rankable items (the catalogue, or the held-out
// items in a cold-only ranking).
//
// # Cold start
//
// HoldOutItems removes a fraction of the items from training and
// validation altogether and keeps, as test items, only those among them.
// Run then reports two rankings: over the full catalogue (does the model
// retrieve a never-seen item at all?) and among the held-out items only
// (can it order new items?). Models that learn only from interactions know
// nothing of held-out items; they show what chance looks like next to a
// model that reads item content.
package eval
