package journal

import (
	"fmt"

	"github.com/callsig/callsig/call"
)

// Recover opens the journal in dir (Open, with the zero Options) and
// rebuilds the Registry it records: the latest snapshot, then every entry
// after the index it covers, replayed by call.Recover under o, with
// o.Journal set to the Journal so that the Registry appends to it from
// there on, with group commit (the Journal is a call.Syncer). The events
// Recover replays go to o.RecoverySink if set, else to o.Sink. An empty
// or new directory gives an empty Registry. On an error the Journal is
// closed.
//
// The Registry's JournalIndex is then the Journal's Last, and every later
// entry it appends gets the next index: Checkpoint relies on it.
//
// A host that sets Options (SegmentSize, say) opens the Journal itself
// and calls its Recover method.
func Recover(dir string, o call.Options) (*call.Registry, *Journal, error) {
	j, err := Open(dir, Options{})
	if err != nil {
		return nil, nil, err
	}
	r, err := j.Recover(o)
	if err != nil {
		j.Close()
		return nil, nil, err
	}
	return r, j, nil
}

// Recover rebuilds the Registry j records, as the package's Recover does
// after opening j: the latest snapshot, then every entry after it, with
// o.Journal set to j. It is called once, on a Journal just opened, before
// anything is appended to it. On an error j stays open: the caller closes
// it.
func (j *Journal) Recover(o call.Options) (*call.Registry, error) {
	index, snap, err := j.LatestSnapshot()
	if err != nil {
		return nil, err
	}
	if snap != nil {
		n, err := call.SnapshotIndex(snap)
		if err != nil {
			return nil, err
		}
		if n != index {
			return nil, &CorruptError{File: j.dir, Reason: fmt.Sprintf("the snapshot of entries 1..%d says it has seen %d", index, n)}
		}
	}
	entries, err := j.Entries(index)
	if err != nil {
		return nil, err
	}
	o.Journal = j
	r, err := call.Recover(snap, entries, o)
	if err != nil {
		return nil, err
	}
	if n := r.JournalIndex(); n != j.Last() {
		return nil, &CorruptError{File: j.dir, Reason: fmt.Sprintf("the Registry has seen %d entries, the journal holds %d", n, j.Last())}
	}
	return r, nil
}

// Checkpoint stores a snapshot of r and removes the segments it covers: it
// takes r.Snapshot, reads the journal index it names (call.SnapshotIndex),
// stores it with WriteSnapshot at that index — after making the entries up
// to it durable — and Compacts to it.
//
// r must journal to j, with its JournalIndex numbered as j numbers its
// entries: a Registry that Recover returned, or a new one with a new
// directory. The cut is then safe under any load: r's snapshot is taken
// under the lock its Appends run under, so every entry is either in the
// snapshot or after its index, whatever commands and timer firings run
// meanwhile. Checkpoints are serialized; one may run while r serves
// inputs.
//
// A Registry recovered from the snapshot does not emit again the events of
// the entries it covers: those still waiting for delivery when the process
// died are not delivered. Nobody heard of them; the state holds their
// changes, and a device that logs in again is told of the invitations
// waiting for it (G8).
func (j *Journal) Checkpoint(r *call.Registry) (index uint64, err error) {
	j.ckMu.Lock()
	defer j.ckMu.Unlock()
	snap, err := r.Snapshot()
	if err != nil {
		return 0, err
	}
	index, err = call.SnapshotIndex(snap)
	if err != nil {
		return 0, err
	}
	if err := j.WriteSnapshot(index, snap); err != nil {
		return 0, err
	}
	if err := j.Compact(index); err != nil {
		return 0, err
	}
	return index, nil
}
