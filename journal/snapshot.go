package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteSnapshot stores snapshot as the state after entries 1..index. It
// first makes those entries durable (SyncTo), so that the journal never
// ends before a snapshot does, then writes the snapshot atomically — a
// temporary file, fsynced, renamed into place, the directory fsynced — and
// removes older snapshots. An index past Last() or below the latest
// snapshot's is ErrRange.
//
// The index must be the number of entries the snapshot's state has seen:
// a Registry takes its snapshot under its lock, which also orders its
// Appends, so the count of entries it has journaled at that moment is the
// index (see the package documentation).
func (j *Journal) WriteSnapshot(index uint64, snapshot []byte) error {
	j.snapMu.Lock()
	defer j.snapMu.Unlock()
	j.mu.Lock()
	last, prev, err := j.last, j.snap, j.usable()
	j.mu.Unlock()
	if errors.Is(err, ErrClosed) {
		return err
	}
	if index > last || index < prev {
		return fmt.Errorf("journal: snapshot of entries 1..%d: the journal ends at %d, the latest snapshot covers 1..%d: %w", index, last, prev, ErrRange)
	}
	if err := j.SyncTo(index); err != nil {
		return err
	}
	path := filepath.Join(j.dir, snapshotName(index))
	if err := writeFileAtomic(path, appendSnapHeader(nil, index, snapshot), snapshot); err != nil {
		return err
	}
	j.mu.Lock()
	j.snap = index
	j.mu.Unlock()
	des, err := os.ReadDir(j.dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if idx, ok := parseName(de.Name(), snapSuffix); ok && idx < index {
			if err := os.Remove(filepath.Join(j.dir, de.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFileAtomic writes head and data to path so that a crash leaves
// either the old file or the new one, never a mix.
func writeFileAtomic(path string, head, data []byte) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(head)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// LatestSnapshot returns the latest snapshot and the index it covers: the
// state after entries 1..index, to be followed by Replay(index, …) or
// Entries(index). With no snapshot it returns 0 and nil data. A damaged
// snapshot is a *CorruptError.
func (j *Journal) LatestSnapshot() (index uint64, data []byte, err error) {
	j.snapMu.Lock()
	defer j.snapMu.Unlock()
	j.mu.Lock()
	index, closed := j.snap, j.closed
	j.mu.Unlock()
	if closed {
		return 0, nil, ErrClosed
	}
	path := filepath.Join(j.dir, snapshotName(index))
	b, err := os.ReadFile(path)
	if index == 0 && errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	hi, data, err := readSnapshot(b)
	if err != nil {
		ce := &CorruptError{File: path, Reason: err.Error()}
		if errors.Is(err, ErrVersion) {
			ce.Err = ErrVersion
		}
		return 0, nil, ce
	}
	if hi != index {
		return 0, nil, &CorruptError{File: path, Reason: fmt.Sprintf("the header says it covers entries 1..%d", hi)}
	}
	return index, data, nil
}

// Compact removes the segments whose every entry is at or before index,
// oldest first, fsyncing the directory after each, so that a crash leaves
// the segments a contiguous run. The current segment (the one Append
// writes to) is never removed, nor any segment holding an entry after
// index. index must be covered by a snapshot: past the latest snapshot's
// index it is ErrRange. It may run while other goroutines Append and Sync.
func (j *Journal) Compact(index uint64) error {
	j.snapMu.Lock()
	defer j.snapMu.Unlock()
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if index > j.snap {
		snap := j.snap
		j.mu.Unlock()
		return fmt.Errorf("journal: compact to entry %d: the latest snapshot covers 1..%d: %w", index, snap, ErrRange)
	}
	k := 0
	for k+1 < len(j.segs) && j.segs[k+1].first-1 <= index {
		k++
	}
	drop := make([]uint64, k)
	for i, s := range j.segs[:k] {
		drop[i] = s.first
	}
	j.segs = append(j.segs[:0:0], j.segs[k:]...)
	j.mu.Unlock()
	for _, first := range drop {
		if err := os.Remove(j.path(first)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := syncDir(j.dir); err != nil {
			return err
		}
	}
	return nil
}
