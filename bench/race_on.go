//go:build race

package bench

// RaceEnabled reports whether the race detector is on; the benchmarks then
// skip their 1,000,000-record sizes.
const RaceEnabled = true
