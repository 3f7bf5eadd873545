//go:build !race

package call_test

// raceEnabled reports a -race build, whose instrumentation allocates.
const raceEnabled = false
