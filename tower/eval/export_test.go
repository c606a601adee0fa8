package eval

// SetHoldoutChunk sets how many items ScoreHoldout scores a block of users
// against at once, and returns a function that restores it.
func SetHoldoutChunk(n int) (restore func()) {
	old := holdoutChunk
	holdoutChunk = n
	return func() { holdoutChunk = old }
}
