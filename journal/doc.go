// Package journal is a durable call.Journal: an append-only log of
// call.Entry in segment files in one directory, with group commit,
// snapshots and recovery (D1, D2).
//
// # Appending and group commit
//
// Append writes an entry's record to the operating system and gives it the
// next index (1, 2, 3… for the life of the directory); it does not fsync.
// Sync returns once every entry appended before it is durable. Concurrent
// Sync callers share fsyncs: the first becomes the syncer for everything
// appended so far, and those arriving while it fsyncs wait for it or the
// next one. So N goroutines that each Append then Sync cost far fewer than
// N fsyncs, and Appends go on while an fsync runs. SyncTo waits for a given
// index only.
//
// A host must not act on an input — deliver its events, reply to its
// client — before Sync (or SyncTo its index) has returned for the entry it
// caused: until then a crash may lose the entry, and nobody must have heard
// of a change a crash can undo (output commit). The Registry is meant to do
// this itself: it appends under its lock, in the order inputs take effect,
// and waits for the entry's durability only before delivering its events,
// outside the lock.
//
// # Recovery
//
// Open checks every segment. A crash can only tear the tail of the last
// segment — a record cut short, or written and not yet fsynced with a bad
// checksum, with nothing valid after it — and Open cuts that tail off: those
// entries were never reported durable. What looks like a record inside
// that last record's own length is its payload, which holds data users
// chose, and is not taken for one. A damaged record with a valid one
// after it, a missing segment or a bad header is refused with a
// *CorruptError naming the file and offset: that is damage, not a crash,
// and guessing would lose acknowledged entries. This assumes what common
// file systems give: a crash loses or tears a suffix of what was written
// since the last fsync, not a record in its middle.
//
// Recovery is then Recover(dir, options), which does
//
//	index, snap, err := j.LatestSnapshot() // 0, nil: none
//	entries, err := j.Entries(index)       // or Replay(index, fn)
//	reg, err := call.Recover(snap, entries, opts) // opts.Journal = j
//
// # Snapshots and compaction
//
// WriteSnapshot(index, data) stores data as the state after entries
// 1..index, atomically, after making those entries durable; Compact(index)
// then removes the segments whose every entry is at or before index. The
// cut is safe if index is exactly the number of entries the snapshot's
// state has seen. A Registry supplies it (Checkpoint): it counts the
// entries it journals, and a snapshot taken under its lock — the lock its
// Appends happen under — names that count, so an entry is either in the
// snapshot or after index, never both nor neither, whatever appends and
// timer firings run meanwhile. Compact may run concurrently with Append and Sync; it never
// removes the segment being appended to or one holding an entry after index.
//
// # With a Registry
//
// Recover(dir, options) returns a Registry that journals to the directory:
// a *Journal is a call.Syncer, so the Registry appends under its lock, in
// the order inputs take effect, and waits for Sync outside it before it
// delivers an input's events or a command returns (output commit). It
// counts the entries it journals (call.Registry.JournalIndex) and names
// the count in its snapshots (call.SnapshotIndex); Checkpoint stores such
// a snapshot at that index and compacts, safely while the Registry serves
// inputs. A host with Options of its own (SegmentSize, say) calls Open and
// then the Journal's Recover method, which the package's Recover does with
// the zero Options.
//
// # Format
//
// A segment is a header (magic, format version, first index, CRC-32C)
// followed by records: length, CRC-32C (Castagnoli) of length, index and
// payload, the entry's index, and the payload, the entry in this package's
// binary encoding, which keeps every field exactly — nil and empty slices
// apart, any time.Time (any year, its zone) to the same instant. Segments
// roll over at Options.SegmentSize. The format version is in every segment
// and snapshot header; Open refuses a version it does not read with
// ErrVersion.
package journal
