package core

import "github.com/callsig/callsig/events"

// Outbox is where the events of the changes under way queue until the
// driver delivers them, and where their members lists come from: cut from
// an Arena with TransientMembers, else made.
type Outbox struct {
	Events []events.Event
	arena  *Arena // nil: lists are made
}

// UseArena makes o cut its members lists from a (Options.TransientMembers:
// a Sink may not keep Event.Members past Emit).
func (o *Outbox) UseArena(a *Arena) { o.arena = a }

// list returns an empty members list of length n for an event.
func (o *Outbox) list(n int) []events.Member {
	if o.arena == nil || n > arenaChunk {
		return make([]events.Member, n)
	}
	return o.arena.list(n)
}

// clone returns a copy of ms, as an event's Members. Lists are short:
// member by member costs less than copy's call to typedslicecopy.
func (o *Outbox) clone(ms []events.Member) []events.Member {
	l := o.list(len(ms))
	for i := range l {
		l[i] = ms[i]
	}
	return l
}

// Arena is where, with TransientMembers, the members lists of events (a new
// call's snapshot, the copies of advanced mode, replays on login) are cut
// from: chunks reused once every event that may point into them has been
// emitted, instead of a list made for each event and left to the
// collector.
//
// The driver queues events in the same critical section as the change that
// makes them, and takes the queue whole for delivery: so a list cut before
// the queue was taken is referred to only by events of that batch or
// earlier ones, and is free once the batch has been emitted. Each time it
// takes the queue, the driver calls Seal, which moves the chunks cut from
// since the last Seal to the batch's side; once Emit has returned for the
// whole batch, Recycle makes them reusable. A change made from inside
// Emit queues into the next batch, which the same rule covers.
type Arena struct {
	chunk      []events.Member   // the chunk lists are cut from; nil: start one
	used       int               // how much of chunk is cut
	cut        [][]events.Member // chunks cut from since the last Seal (the parts used, once trimmed)
	batch      [][]events.Member // chunks the batch being delivered refers to
	freeChunks [][]events.Member // cleared chunks ready for reuse
}

const (
	arenaChunk    = 512 // members per chunk: 40 KiB
	maxFreeChunks = 16  // chunks kept for reuse
)

// list cuts a list of n members from the arena.
func (a *Arena) list(n int) []events.Member {
	if a.chunk == nil || a.used+n > len(a.chunk) {
		a.trim()
		if k := len(a.freeChunks); k > 0 {
			a.chunk, a.freeChunks = a.freeChunks[k-1], a.freeChunks[:k-1]
		} else {
			a.chunk = make([]events.Member, arenaChunk)
		}
		a.used = 0
		a.cut = append(a.cut, a.chunk)
	}
	l := a.chunk[a.used : a.used+n : a.used+n]
	a.used += n
	return l
}

// Cut reports whether a list was cut since the last Seal.
func (a *Arena) Cut() bool { return len(a.cut) > 0 }

// Seal moves the chunks cut from since the last Seal to the side of the
// batch just taken, and drops what that side held: a batch whose delivery
// panicked, whose memory is left to the collector.
func (a *Arena) Seal() {
	a.Drop()
	a.trim()
	a.batch, a.cut = a.cut, a.batch
	a.chunk, a.used = nil, 0 // the next list starts a new chunk
}

// trim cuts the entry of the current chunk down to what lists use, so
// that recycling clears only that.
func (a *Arena) trim() {
	if a.chunk != nil {
		a.cut[len(a.cut)-1] = a.chunk[:a.used]
	}
}

// Drop forgets the batch's side without reusing it.
func (a *Arena) Drop() {
	clear(a.batch)
	a.batch = a.batch[:0]
}

// Recycle makes the chunks of the batch last emitted reusable, keeping a
// bounded number of them, cleared.
func (a *Arena) Recycle() {
	for i, ch := range a.batch {
		a.batch[i] = nil // the batch's side keeps nothing (as Drop leaves it)
		if len(a.freeChunks) < maxFreeChunks {
			clear(ch) // the part lists used: drop their strings
			a.freeChunks = append(a.freeChunks, ch[:cap(ch)])
		}
	}
	a.batch = a.batch[:0]
}
