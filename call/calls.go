package call

import (
	"time"

	"github.com/callsig/callsig/internal/deadline"
)

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
	r.due.Set(&c.dueHandle, c, c.order, next, uint8(kind))
}

// forget drops every trace of a call that ended at now: no memory, no timer
// (G6).
func (r *Registry) forget(now time.Time, c *callRecord) {
	r.due.Remove(&c.dueHandle)
	r.calls.Del(c.ID())
	r.remember(c, now)
	for i := range c.links() {
		r.unlink(c, i)
	}
	r.retire(c)
}
