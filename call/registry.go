package call

import (
	"sync"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Registry holds every live call and drives their machines: it owns the lock,
// reads the clock, keeps one clock timer for the earliest deadline, and
// delivers the events the machines produce to the Sink. It is safe for
// concurrent use (C1).
//
// Every input — a command, Login, Logout, or the clock's timer firing — reads
// the clock once and first processes everything that fell due up to that
// reading (the Time rule of SPEC §2), so an answer that arrives after its
// deadline finds the invitation timed out however late the timer fired. A
// reading earlier than the last one counts as the last one (D3).
//
// Events reach the Sink after the change that made them is complete and
// outside every lock (C2). A Sink may call the Registry from inside Emit;
// such a nested command queues its events, and the outermost call delivers
// them, in Seq order, before it returns (C3).
//
// The Clock, and Options.NewID, are called with the Registry's lock held:
// they must not call back into the Registry (clock.Real and clock.Manual
// never do).
type Registry struct {
	s settings

	mu    sync.Mutex
	calls map[string]*callState
	users map[string]*user
	due   deadlineHeap
	last  time.Time // the latest clock reading (D3)
	order uint64    // calls created so far: the creation order of the Time rule

	timer    clock.Timer // armed for timerAt, or nil
	timerAt  time.Time
	timerGen uint64 // which arming a firing belongs to

	out        []events.Event // produced, not yet delivered
	spare      []events.Event // the buffer last delivered, kept for reuse
	delivering bool           // a goroutine is draining out
}

// NewRegistry returns an empty Registry. It fails with ErrInvalidOption if
// an option is out of range (see Options).
func NewRegistry(o Options) (*Registry, error) {
	s, err := o.resolve()
	if err != nil {
		return nil, err
	}
	return &Registry{
		s:     s,
		calls: make(map[string]*callState),
		users: make(map[string]*user),
	}, nil
}

// begin starts an input: it takes the lock, reads the clock and processes
// what fell due. It returns the input's reading.
func (r *Registry) begin() time.Time {
	r.mu.Lock()
	return r.tick(r.s.clock.Now())
}

// finish ends an input: it arms the timer for the next deadline, releases the
// lock and, unless another goroutine (or an outer call on this one) is
// already delivering, delivers every queued event.
func (r *Registry) finish() {
	r.arm()
	deliver := !r.delivering && len(r.out) > 0
	if deliver {
		r.delivering = true
	}
	r.mu.Unlock()
	if deliver {
		r.deliver()
	}
}

// tick brings the Registry's time to now (never backwards, D3), first
// processing every deadline due at or before it, one instant at a time:
// calls due at the same instant go in the order they were created.
func (r *Registry) tick(now time.Time) time.Time {
	now = now.Round(0) // drop the monotonic reading: times compare with == and journal exactly
	if now.Before(r.last) {
		now = r.last
	}
	r.last = now
	for c := r.due.min(); c != nil && !c.next.After(now); c = r.due.min() {
		c.expire(c.next, r, &r.out)
		r.update(c)
	}
	return now
}

// update files c after a change: forgotten once over (G6), else moved in the
// deadline heap.
func (r *Registry) update(c *callState) {
	if c.status == callOver {
		r.forget(c)
		return
	}
	if c.mode == events.Advanced { // members have deadlines of their own
		c.next = c.nextDeadline()
	}
	r.due.set(c)
}

// forget drops every trace of a call that is over: no memory, no timer (G6).
func (r *Registry) forget(c *callState) {
	r.due.remove(c)
	delete(r.calls, c.id)
	for i := range c.members {
		r.removeMember(c.members[i].User, c)
	}
}

// arm keeps one clock timer for the earliest deadline. A timer armed for an
// earlier time than needed is left alone: when it fires it finds nothing due
// and re-arms, which is cheaper than stopping and re-arming on every answer.
// With nothing due, no timer is left (so Manual.Pending reaches 0).
func (r *Registry) arm() {
	c := r.due.min()
	if c == nil {
		if r.timer != nil {
			r.timer.Stop()
			r.timer = nil
		}
		return
	}
	if r.timer != nil && !r.timerAt.After(c.next) {
		return
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timerGen++
	gen := r.timerGen
	r.timer = r.s.clock.AfterFunc(c.next.Sub(r.last), func() { r.fire(gen) })
	r.timerAt = c.next
}

// fire is the clock timer's callback: an input of its own.
func (r *Registry) fire(gen uint64) {
	r.mu.Lock()
	if gen == r.timerGen {
		r.timer = nil
	}
	r.tick(r.s.clock.Now())
	r.finish()
}

// deliver hands queued events to the Sink, outside the lock, until none are
// left. Only one goroutine delivers at a time, so the events of a call reach
// the Sink in Seq order and Emit is never called concurrently for one call.
func (r *Registry) deliver() {
	done := false
	defer func() {
		if !done { // the Sink panicked: let the next input deliver what is left
			r.mu.Lock()
			r.delivering = false
			r.mu.Unlock()
		}
	}()
	r.mu.Lock()
	for len(r.out) > 0 {
		batch := r.out
		r.out, r.spare = r.spare[:0], nil
		r.mu.Unlock()
		for i := range batch {
			r.s.sink.Emit(batch[i])
		}
		clear(batch) // drop references to Members and Push
		r.mu.Lock()
		r.spare = batch[:0]
	}
	r.delivering = false
	r.mu.Unlock()
	done = true
}

// Call returns a copy of a live call's state, and false if there is no such
// call or it is over. It reads no clock and processes nothing (D4): an
// invitation whose deadline passed a moment ago may still show as pending.
func (r *Registry) Call(callID string) (Info, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls[callID]
	if c == nil {
		return Info{}, false
	}
	return c.info(), true
}

// Len returns the number of calls not yet over (D4).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}
