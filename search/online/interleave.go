package online

import "slices"

// TeamDraft interleaves rankings a and b into at most k items by team
// draft (Radlinski, Kurup and Joachims, 2008): in each round the team with
// fewer picks, or when even the one coin chooses, adds its best item not
// yet taken. teams[i] names the ranking that proposed out[i]: 'a' or 'b'.
// A click on an item credits its team, so the ranking users prefer wins
// more impressions; position bias falls on both teams alike.
func TeamDraft(a, b []string, k int, coin func() bool) (out []string, teams []byte) {
	taken := make(map[string]bool, 2*k)
	var ia, ib, na, nb int
	next := func(list []string, i *int) (string, bool) {
		for ; *i < len(list); *i++ {
			if !taken[list[*i]] {
				return list[*i], true
			}
		}
		return "", false
	}
	for len(out) < k {
		pickA := na < nb || (na == nb && coin())
		id, ok := "", false
		if pickA {
			if id, ok = next(a, &ia); !ok {
				pickA = false
				id, ok = next(b, &ib)
			}
		} else if id, ok = next(b, &ib); !ok {
			pickA = true
			id, ok = next(a, &ia)
		}
		if !ok {
			break
		}
		taken[id] = true
		out = append(out, id)
		if pickA {
			teams = append(teams, 'a')
			na++
		} else {
			teams = append(teams, 'b')
			nb++
		}
	}
	return slices.Clip(out), teams
}
