package search

// mmr re-orders candidates (sorted by relevance, best first) by maximal
// marginal relevance and returns the first n. Relevance is min-max
// normalised so that λ means the same whatever the fusion's scale; sim gives
// the similarity of two candidates (cosine of their item vectors).
func mmr(cands []fused, n int, lambda float64, sim func(a, b string) float64) []fused {
	if lambda <= 0 || lambda >= 1 || len(cands) <= 1 {
		return cands[:min(n, len(cands))]
	}
	list := make([]Scored, len(cands))
	for i, c := range cands {
		list[i] = Scored{ID: c.id, Score: c.score}
	}
	norm := minMax(list)
	rel := make([]float64, len(cands))
	for i, c := range cands {
		rel[i] = norm(c.score)
	}
	// maxSim[i] is candidate i's greatest similarity to a chosen hit.
	maxSim := make([]float64, len(cands))
	used := make([]bool, len(cands))
	out := make([]fused, 0, min(n, len(cands)))
	for len(out) < n && len(out) < len(cands) {
		best, bestVal := -1, 0.0
		for i := range cands {
			if used[i] {
				continue
			}
			v := lambda*rel[i] - (1-lambda)*maxSim[i]
			if best < 0 || v > bestVal {
				best, bestVal = i, v
			}
		}
		used[best] = true
		out = append(out, cands[best])
		for i := range cands {
			if !used[i] {
				maxSim[i] = max(maxSim[i], sim(cands[i].id, cands[best].id))
			}
		}
	}
	return out
}

// capPerCategory keeps candidates in order while no more than max of them
// share a primary category; items without a category are never capped.
func capPerCategory(cands []fused, max int, category func(id string) string) []fused {
	if max <= 0 {
		return cands
	}
	seen := map[string]int{}
	out := cands[:0:0]
	for _, c := range cands {
		cat := category(c.id)
		if cat != "" {
			if seen[cat] >= max {
				continue
			}
			seen[cat]++
		}
		out = append(out, c)
	}
	return out
}
