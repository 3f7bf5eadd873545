//go:build unix

package durable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockName is the file in a -data directory that Lock locks.
const LockName = "LOCK"

// Lock takes the lock of dir, a -data directory, which it makes if need
// be, and returns its release: a second server on the same directory, a
// single server's journal or a node's raft stores, would interleave its
// writes with the first's, and a node's would wait on the raft log's own
// lock with no word said. The lock is an flock on dir/LOCK: the system
// releases it when the process ends, however it ends, so a server killed
// leaves no stale lock behind.
func Lock(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, LockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("-data %s is in use by another callsigd", dir)
		}
		return nil, fmt.Errorf("-data %s: lock: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
