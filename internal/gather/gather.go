// Package gather takes what is waiting on a channel without waiting for
// more: the group commit of Duet's writers (the store's committer, the text
// index's edits), where the writes that queue while one group is applied
// make up the next, with no delay added to gather them.
package gather

// Waiting returns group[:0] with first and then whatever is waiting on ch
// appended, at most max in all, without blocking. A closed channel ends
// the group.
func Waiting[T any](group []T, first T, ch <-chan T, max int) []T {
	group = append(group[:0], first)
	for len(group) < max {
		select {
		case v, ok := <-ch:
			if !ok {
				return group
			}
			group = append(group, v)
		default:
			return group
		}
	}
	return group
}
