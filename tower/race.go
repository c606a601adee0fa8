//go:build race

package tower

// raceEnabled reports a race-detector build: training then runs one worker,
// since Hogwild updates race by design.
const raceEnabled = true
