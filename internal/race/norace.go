//go:build !race

// Package race tells whether the binary was built with the race detector:
// training then runs one worker, since its lock-free updates race by
// design, and tests shrink work that the detector makes many times slower.
package race

// Enabled is true in a race-detector build.
const Enabled = false
