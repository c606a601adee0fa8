package online_test

import (
	"fmt"

	"github.com/duetrec/duet/search/online"
)

// Two rankings interleaved by team draft: each round, the team with fewer
// picks (or the coin, when even) adds its best item not yet taken.
func ExampleTeamDraft() {
	a := []string{"x", "y", "z"}
	b := []string{"y", "w", "x"}
	heads := true
	coin := func() bool { heads = !heads; return heads } // tails (b first), then heads (a first)
	out, teams := online.TeamDraft(a, b, 4, coin)
	fmt.Println(out, string(teams))
	// Output: [y x z w] baab
}
