package call

// SetSliceEvents makes a burst's slices n events long, for tests that need
// every due instant to slice; it returns what restores the length. No
// Registry may be in use meanwhile.
func SetSliceEvents(n int) (restore func()) {
	old := sliceEvents
	sliceEvents = n
	return func() { sliceEvents = old }
}

// SetWarmSlots sets the user table size from which an invite loads its
// lookups' slots first (warm), 0 for every invite; it returns what
// restores it. No Registry may be in use meanwhile.
func SetWarmSlots(n int) (restore func()) {
	old := warmSlots
	warmSlots = n
	return func() { warmSlots = old }
}
