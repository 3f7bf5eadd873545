package call

import (
	"unsafe"

	"github.com/callsig/callsig/events"
)

// With Options.TransientMembers, a Sink may not keep Event.Members past
// Emit, so the Registry reuses two kinds of memory that would otherwise go
// to the collector, call after call:
//
//   - the records of calls that are over (one(i) and expire hand the Sink
//     members inside the record), kept on a free list per tier;
//   - the members lists of events (a new call's snapshot, the copies of
//     advanced mode, replays on login), cut from chunks of an arena.
//
// Memory is reused only once every event that may point into it has been
// emitted. Events are queued in the same critical section as the change
// that makes them, and the deliverer takes the queue whole (takeOut): so a
// record that ended, or a list cut, before the queue was taken is referred
// to only by events of that batch or earlier ones, and is free once the
// deliverer has emitted the batch. Each takeOut therefore moves what ended
// and what was cut since the last one to the batch's side (endedB,
// sealedB), and the deliverer recycles it after Emit has returned for the
// whole batch. A command called from inside Emit queues into the next
// batch, which the same rule covers.
type recycler struct {
	ended   []*callState                 // calls over since the queue was last taken
	endedB  []*callState                 // calls over that the batch being delivered told of
	free    [len(tierRooms)][]*callState // records ready for reuse, by tier
	chunk   []events.Member              // the arena's chunk lists are cut from; nil: start one
	used    int                          // how much of chunk is cut
	sealed  [][]events.Member            // chunks cut from since the queue was last taken (the parts used, once trimmed)
	sealedB [][]events.Member            // chunks the batch being delivered refers to
	spare   [][]events.Member            // cleared chunks ready for reuse
}

const (
	arenaChunk = 512  // members per chunk: 40 KiB
	maxFree    = 1024 // records kept per tier: enough for a burst, little when idle
	maxSpare   = 16   // chunks kept
)

// membersOffset is where a tiered record's own members array starts: the
// same in every tier, right after the callState.
const membersOffset = unsafe.Offsetof(callOf2{}.members)

// alloc returns a record for a new call of n members: a reused one with
// TransientMembers, when one of its tier is free, else a new one
// (allocCall).
func (r *Registry) alloc(n int) *callState {
	if t := tierFor(n); r.s.transient && t >= 0 && len(r.rc.free[t]) > 0 {
		free := r.rc.free[t]
		c := free[len(free)-1]
		free[len(free)-1] = nil
		r.rc.free[t] = free[:len(free)-1]
		c.n = uint8(n)
		return c
	}
	return allocCall(n)
}

// outbox is where the events of the input under way queue until they are
// delivered, and where their members lists come from: cut from the
// recycler's arena with TransientMembers (rc set), else made.
type outbox struct {
	events []events.Event
	rc     *recycler
}

// list returns an empty members list of length n for an event.
func (o *outbox) list(n int) []events.Member {
	if o.rc == nil || n > arenaChunk {
		return make([]events.Member, n)
	}
	return o.rc.list(n)
}

// clone returns a copy of ms, as an event's Members.
func (o *outbox) clone(ms []events.Member) []events.Member {
	l := o.list(len(ms))
	copy(l, ms)
	return l
}

// list cuts a list of n members from the arena.
func (rc *recycler) list(n int) []events.Member {
	if rc.chunk == nil || rc.used+n > len(rc.chunk) {
		rc.trim()
		if k := len(rc.spare); k > 0 {
			rc.chunk, rc.spare = rc.spare[k-1], rc.spare[:k-1]
		} else {
			rc.chunk = make([]events.Member, arenaChunk)
		}
		rc.used = 0
		rc.sealed = append(rc.sealed, rc.chunk)
	}
	l := rc.chunk[rc.used : rc.used+n : rc.used+n]
	rc.used += n
	return l
}

// retire notes that c is over and forgotten: with TransientMembers, its
// record is reused once the events that told of it are emitted.
func (r *Registry) retire(c *callState) {
	if r.s.transient {
		r.rc.ended = append(r.rc.ended, c)
	}
}

// seal moves what ended and what was cut since the queue was last taken to
// the side of the batch just taken. Called with the lock held, by takeOut.
func (r *Registry) seal() {
	rc := &r.rc
	if len(rc.ended) == 0 && len(rc.sealed) == 0 {
		return
	}
	rc.drop() // a batch whose delivery panicked: leave its memory to the collector
	rc.trim()
	rc.endedB, rc.ended = rc.ended, rc.endedB
	rc.sealedB, rc.sealed = rc.sealed, rc.sealedB
	rc.chunk, rc.used = nil, 0 // the next list starts a new chunk
}

// trim cuts the sealed entry of the current chunk down to what lists use,
// so that recycling clears only that.
func (rc *recycler) trim() {
	if rc.chunk != nil {
		rc.sealed[len(rc.sealed)-1] = rc.chunk[:rc.used]
	}
}

// drop forgets the batch's side without reusing it.
func (rc *recycler) drop() {
	clear(rc.endedB)
	rc.endedB = rc.endedB[:0]
	clear(rc.sealedB)
	rc.sealedB = rc.sealedB[:0]
}

// recycle makes the memory of the batch just emitted reusable. Called with
// the lock held, by the deliverer, once Emit has returned for every event
// of the batch.
func (r *Registry) recycle() {
	rc := &r.rc
	for _, c := range rc.endedB {
		// Only a record that still holds its own arrays (not one an
		// advanced call grew out of, see place) goes back on a list: its
		// room is then exactly its tier's.
		if uintptr(unsafe.Pointer(c.mem)) != uintptr(unsafe.Pointer(c))+membersOffset {
			continue
		}
		t := tierFor(int(c.room))
		if len(rc.free[t]) >= maxFree {
			continue
		}
		mem, lk, room := c.mem, c.lk, c.room
		clear(unsafe.Slice(mem, room)) // drop the users' and data strings; forget left the links zero
		*c = callState{mem: mem, lk: lk, room: room}
		rc.free[t] = append(rc.free[t], c)
	}
	for _, ch := range rc.sealedB {
		if len(rc.spare) < maxSpare {
			clear(ch) // the part lists used: drop their strings
			rc.spare = append(rc.spare, ch[:cap(ch)])
		}
	}
	rc.drop()
}
