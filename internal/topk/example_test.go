package topk_test

import (
	"fmt"

	"github.com/duetrec/duet/internal/topk"
)

func ExampleHeap() {
	h := topk.New(2)
	for id, score := range []float32{0.3, 0.9, 0.1, 0.7} {
		h.Push(int32(id), score)
	}
	for _, s := range h.Sorted() {
		fmt.Println(s.ID, s.Score)
	}
	// Output:
	// 1 0.9
	// 3 0.7
}
