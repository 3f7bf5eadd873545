//go:build !unix

package loadtest

// raiseNoFile does nothing where there is no RLIMIT_NOFILE.
func raiseNoFile(uint64) (uint64, bool, error) { return 0, false, nil }
