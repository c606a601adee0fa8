//go:build race

package main

// raceEnabled lets the process-killing tests step aside under the race
// detector, which makes each of their many restarts several times slower;
// make test runs them without it.
const raceEnabled = true
