//go:build race

package index

// raceEnabled lets tests shrink their data under the race detector, which
// makes the graph code about ten times slower.
const raceEnabled = true
