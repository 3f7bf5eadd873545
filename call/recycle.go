package call

import "github.com/callsig/callsig/internal/core"

// With Options.TransientMembers, a Sink may not keep Event.Members past
// Emit, so the Registry reuses two kinds of memory that would otherwise go
// to the collector, call after call:
//
//   - the records of calls that are over (the events of answers and
//     timeouts hand the Sink members inside the record), kept on a free
//     list per tier;
//   - the members lists of events, cut from the outbox's arena
//     (core.Arena).
//
// Memory is reused only once every event that may point into it has been
// emitted. Events are queued in the same critical section as the change
// that makes them, and the deliverer takes the queue whole (takeOut): so a
// record that ended, or a list cut, before the queue was taken is referred
// to only by events of that batch or earlier ones, and is free once the
// deliverer has emitted the batch. Each takeOut therefore moves what ended
// and what was cut since the last one to the batch's side (endedInBatch,
// core.Arena.Seal); once Emit has returned for the whole batch, the next
// takeOut recycles it, before it moves the next batch's to that side. A
// command called from inside Emit queues into the next batch, which the
// same rule covers.
type recycler struct {
	ended        []*callRecord                 // calls over since the queue was last taken
	endedInBatch []*callRecord                 // calls over that the batch being delivered told of
	free         [len(tierRooms)][]*callRecord // records ready for reuse, by tier
	arena        core.Arena                    // the members lists of events
}

// maxFree is how many records are kept per tier: enough for a burst, little
// when idle.
const maxFree = 1024

// alloc returns an empty record for a new call of n members: a reused one
// with TransientMembers, when one of its tier is free, else a new one
// (newRecord).
func (r *Registry) alloc(n int) *callRecord {
	if t := tierFor(n); r.s.transient && t >= 0 && len(r.recycler.free[t]) > 0 {
		free := r.recycler.free[t]
		c := free[len(free)-1]
		free[len(free)-1] = nil
		r.recycler.free[t] = free[:len(free)-1]
		return c
	}
	return newRecord(n)
}

// retire notes that c is over and forgotten: with TransientMembers, its
// record is reused once the events that told of it are emitted.
func (r *Registry) retire(c *callRecord) {
	if r.s.transient {
		r.recycler.ended = append(r.recycler.ended, c)
	}
}

// seal moves what ended and what was cut since the queue was last taken to
// the side of the batch just taken. Called with the lock held, by takeOut.
func (r *Registry) seal() {
	reuse := &r.recycler
	if len(reuse.ended) == 0 && !reuse.arena.Cut() {
		return
	}
	reuse.drop() // a batch whose delivery panicked: leave its memory to the collector
	reuse.arena.Seal()
	reuse.endedInBatch, reuse.ended = reuse.ended, reuse.endedInBatch
}

// drop forgets the records of the batch's side without reusing them.
func (reuse *recycler) drop() {
	clear(reuse.endedInBatch)
	reuse.endedInBatch = reuse.endedInBatch[:0]
}

// recycle makes the memory of the batch last emitted reusable. Called with
// the lock held, by takeOut, once Emit has returned for every event of
// that batch (delivery.freeQueue).
func (r *Registry) recycle() {
	reuse := &r.recycler
	for i, c := range reuse.endedInBatch {
		reuse.endedInBatch[i] = nil // the batch's side keeps nothing (as drop leaves it)
		// Only a record that still holds its own arrays (not one an
		// advanced call grew out of, see place) goes back on a list: its
		// room is then exactly its tier's.
		if !c.ownArrays() {
			continue
		}
		t := tierFor(c.Room())
		if len(reuse.free[t]) >= maxFree {
			continue
		}
		// forget left the links zero; the record keeps nothing else of
		// the call it served.
		*c = callRecord{Call: c.Call, firstLink: c.firstLink, dueHandle: noSlot}
		c.Reset()
		reuse.free[t] = append(reuse.free[t], c)
	}
	reuse.arena.Recycle()
	reuse.endedInBatch = reuse.endedInBatch[:0]
}
