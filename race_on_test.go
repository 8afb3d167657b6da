//go:build race

package recstore

// raceEnabled says the race detector is on: tests that measure time size
// their work down.
const raceEnabled = true
