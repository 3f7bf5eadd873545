package call

// SetSliceEvents makes a burst's slices n events long, for tests that need
// every due instant to slice; it returns what restores the length. No
// Registry may be in use meanwhile.
func SetSliceEvents(n int) (restore func()) {
	old := sliceEvents
	sliceEvents = n
	return func() { sliceEvents = old }
}
