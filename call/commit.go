package call

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Output commit: how a Registry whose Journal makes entries durable in
// batches (a Syncer) delivers events and answers commands only once the
// entries behind them are durable (D1).
//
// Entries are appended under the lock, in the order inputs take effect,
// and counted (journalState.count). Making them durable waits outside the
// lock: the deliverer, before it hands a batch to the Sink, waits for
// every entry appended when it took the batch out (the events in a batch
// were all made by entries appended before); a command, before it
// returns, waits for every entry appended when it finished. Waiters share
// the Syncer's fsyncs, so many inputs cost one.

// Syncer is a Journal that makes its entries durable in batches (group
// commit): Append hands an entry to storage without waiting for it to be
// durable, and Sync returns once every entry appended before it was called
// is durable. *journal.Journal is one.
//
// When Options.Journal is a Syncer, the Registry delivers an input's
// events only after the entry that caused them is durable, and a command
// returns only after every entry appended by the time it finished is
// durable (output commit, D1): no client hears of a change a crash can
// undo. Sync is called outside the Registry's lock, from any goroutine,
// often by several at once, and must be safe for that; concurrent calls
// should share one fsync. It must not call back into the Registry.
//
// Login, Logout, Heartbeat and the passing of time do not wait for Sync
// before they return: their events wait for it like all others, but their
// return tells a client nothing a crash could contradict that a host does
// not repair anyway (after a crash every connection is gone, and the host
// logs out the devices that do not come back). A heartbeat therefore costs
// no fsync of its own: it is made durable by the next Sync anyone calls.
//
// A failed Sync is final: nothing is known of what reached storage, so the
// Registry refuses every later input with ErrJournal, delivers none of the
// events of entries not known to be durable (they are dropped, never
// handed to the Sink), and the command waiting for it returns an error
// matching ErrJournal and the Syncer's error, although its change is in
// the Registry's memory. The host recovers from the journal.
type Syncer interface {
	Sync() error
}

// journalState is what the Registry keeps of its Journal: how many entries
// it has journaled and, with a Syncer, how many are known durable.
//
// Invariants: count moves only under the lock, by one per input that takes
// effect and is journaled (or would be, with no Journal: the count is the
// same with a Journal or without, so that snapshots agree) or replayed, and
// never back; durable <= count; once failed is set it stays set.
type journalState struct {
	syncer  Syncer                     // Options.Journal as a Syncer; nil: appends are durable when Append returns
	count   uint64                     // entries journaled (or replayed): the index of the last one
	durable atomic.Uint64              // entries 1..durable are known durable (with a Syncer)
	failed  atomic.Pointer[syncFailed] // a Sync failed: refuse everything
}

// syncFailed holds the error of the Sync that failed.
type syncFailed struct{ err error }

// journalEntry hands e to the Journal, if any, and counts it. Called with
// the lock held, for a live input only. After a failed Sync it refuses e.
func (r *Registry) journalEntry(e Entry) error {
	if j := r.s.journal; j != nil {
		if f := r.jnl.failed.Load(); f != nil {
			return f.err
		}
		if err := r.appendEntry(j, e); err != nil {
			return err
		}
	}
	r.jnl.count++
	return nil
}

// countReplayed counts an entry Apply replayed: it is in the journal the
// Registry is rebuilt from, so it is durable. Called with the lock held.
func (r *Registry) countReplayed() {
	r.jnl.count++
	r.jnl.durable.Store(r.jnl.count)
}

// syncTo returns once entries 1..n are durable: at once without a Syncer,
// or when they are known durable; else it calls Sync, which concurrent
// callers share. It is called without the lock. A failed Sync, now or
// before, is returned, and stays.
func (r *Registry) syncTo(n uint64) error {
	if r.jnl.syncer == nil {
		return nil
	}
	if f := r.jnl.failed.Load(); f != nil {
		return f.err
	}
	if n <= r.jnl.durable.Load() {
		return nil
	}
	if err := r.sync(); err != nil {
		r.jnl.failed.CompareAndSwap(nil, &syncFailed{err: err})
		return r.jnl.failed.Load().err
	}
	for d := r.jnl.durable.Load(); d < n && !r.jnl.durable.CompareAndSwap(d, n); d = r.jnl.durable.Load() {
	}
	return nil
}

// sync calls the Syncer and records how long it took (Stats.JournalSync).
// A panic in it counts as its failure: the Registry cannot know what
// reached storage. It is called without the lock, which it takes only to
// record the latency, once the Syncer has returned.
func (r *Registry) sync() (err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("callsig: Sync panicked: %v", p)
		}
		d := time.Since(start)
		r.mu.Lock()
		r.stats.sync.observe(d)
		r.mu.Unlock()
	}()
	return r.jnl.syncer.Sync()
}

// JournalIndex returns how many entries the Registry has journaled,
// counting those of the snapshot and journal it was recovered from: the
// index of the last one, which the next snapshot names (SnapshotIndex).
//
// The count is kept with no Journal too, the same, so that the snapshots
// of a Registry with a Journal and of one without agree.
func (r *Registry) JournalIndex() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.jnl.count
}

// SnapshotIndex returns the journal index a snapshot names: how many
// entries the state it holds has seen (0 for a snapshot of a Registry
// that journaled nothing, or written before snapshots named it). The
// entries after it are those to replay on top of it (Recover), and those
// up to it may be dropped once the snapshot is stored. Bytes that are no
// snapshot give ErrInvalidArgument.
func SnapshotIndex(snap []byte) (uint64, error) {
	return readSnapshotIndex(snap)
}
