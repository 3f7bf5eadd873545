package journal

import (
	"errors"
	"fmt"
)

// The errors of this package. Each error a method returns matches one of
// them with errors.Is, and an I/O error also matches its cause.
var (
	// ErrCorrupt: the directory holds data a crash cannot have left — a
	// damaged record with valid data after it, a segment missing, a bad
	// header, an entry that does not decode. Open and Replay return it as
	// a *CorruptError naming the file and offset.
	ErrCorrupt = errors.New("journal: corrupt")
	// ErrVersion: a segment or snapshot in a format version this package
	// does not read (written by a newer one).
	ErrVersion = errors.New("journal: unknown format version")
	// ErrClosed: the Journal was closed.
	ErrClosed = errors.New("journal: closed")
	// ErrFailed: a write or fsync failed earlier. After such a failure
	// nothing is known about what reached the disk, so the Journal refuses
	// every later Append and Sync; Open the directory again, which keeps
	// what is intact and trims what the failure left.
	ErrFailed = errors.New("journal: failed")
	// ErrRange: an index outside what the Journal holds — entries already
	// compacted away, an index past the last entry, a snapshot older than
	// the latest, or a Compact beyond what the latest snapshot covers.
	ErrRange = errors.New("journal: index out of range")
	// ErrTooLarge: an entry whose encoding is over 64 MiB.
	ErrTooLarge = errors.New("journal: entry too large")
)

// CorruptError says where a journal directory is damaged. It matches
// ErrCorrupt (and ErrVersion for a format version this package does not
// read) with errors.Is.
type CorruptError struct {
	File   string // the segment or snapshot file, a path within the directory
	Offset int64  // the byte offset of the damage in File
	Index  uint64 // the index of the entry expected there (0: none)
	Reason string // what is wrong
	Err    error  // ErrVersion, or nil
}

// Error describes the damage.
func (e *CorruptError) Error() string {
	s := fmt.Sprintf("journal: corrupt: %s at offset %d", e.File, e.Offset)
	if e.Index != 0 {
		s += fmt.Sprintf(" (entry %d)", e.Index)
	}
	return s + ": " + e.Reason
}

// Is matches ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns ErrVersion for a format version this package does not
// read, else nil.
func (e *CorruptError) Unwrap() error { return e.Err }
