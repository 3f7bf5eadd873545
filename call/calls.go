package call

import (
	"time"

	"github.com/callsig/callsig/internal/calltable"
	"github.com/callsig/callsig/internal/deadline"
)

// liveCalls holds the live calls: by ID, and by next due instant.
//
// Invariants: a call is in Table from the Invite that opens it until it is
// over (G6), and then in neither; it is in due exactly when it has a
// deadline or a check pending (its dueHandle is then its place, else
// noSlot); created counts the calls ever opened, and each call's order is
// its rank among them, which orders calls due at one instant (the Time
// rule).
type liveCalls struct {
	calltable.Table[*callRecord]                            // by ID
	due                          deadline.Heap[*callRecord] // by next due instant, then order
	created                      uint64                     // calls opened so far
}

// noSlot is the dueHandle of a call that is not in the deadline heap.
const noSlot = deadline.None

// Key returns the call's ID: its key in the Registry's call table.
func (c *callRecord) Key() string { return c.ID() }

// update files c after a change at now: forgotten once over (G6), else
// moved in the deadline heap.
func (r *Registry) update(now time.Time, c *callRecord) {
	if c.Over() {
		r.forget(now, c)
		return
	}
	next, kind := c.NextDue()
	r.calls.due.Set(&c.dueHandle, c, c.order, next, uint8(kind))
}

// forget drops every trace of a call that ended at now: no memory, no timer
// (G6).
func (r *Registry) forget(now time.Time, c *callRecord) {
	r.calls.due.Remove(&c.dueHandle)
	r.calls.Del(c.ID())
	r.remember(c, now)
	for i := range c.links() {
		r.unlink(c, i)
	}
	r.retire(c)
}
