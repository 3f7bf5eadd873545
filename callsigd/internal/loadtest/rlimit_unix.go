//go:build unix

package loadtest

import (
	"fmt"
	"syscall"
)

// raiseNoFile makes sure this process may have need files open: it
// raises the soft RLIMIT_NOFILE to the hard one when the soft one is
// lower than need. It returns the limit in force and whether it raised
// it.
func raiseNoFile(need uint64) (uint64, bool, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false, fmt.Errorf("loadtest: getrlimit: %w", err)
	}
	if uint64(l.Cur) >= need {
		return uint64(l.Cur), false, nil
	}
	if uint64(l.Max) < need {
		return uint64(l.Cur), false, fmt.Errorf("loadtest: %d files needed, RLIMIT_NOFILE allows %d (hard limit %d): raise it (ulimit -Hn)", need, l.Cur, l.Max)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false, fmt.Errorf("loadtest: setrlimit RLIMIT_NOFILE to %d: %w", l.Max, err)
	}
	return uint64(l.Cur), true, nil
}
