package gather_test

import (
	"slices"
	"testing"

	"github.com/duetrec/duet/internal/gather"
)

func TestWaiting(t *testing.T) {
	for _, tc := range []struct {
		name    string
		waiting []int
		closed  bool
		max     int
		want    []int
	}{
		{"nothing waiting", nil, false, 4, []int{0}},
		{"all that waits", []int{1, 2}, false, 4, []int{0, 1, 2}},
		{"at most max", []int{1, 2, 3, 4, 5}, false, 3, []int{0, 1, 2}},
		{"closed", []int{1}, true, 4, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan int, 8)
			for _, v := range tc.waiting {
				ch <- v
			}
			if tc.closed {
				close(ch)
			}
			group := make([]int, 7) // reused: its old contents go
			if got := gather.Waiting(group, 0, ch, tc.max); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if left := len(ch); left != max(0, len(tc.waiting)-(tc.max-1)) {
				t.Fatalf("%d left waiting", left)
			}
		})
	}
}
