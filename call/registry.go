package call

import (
	"slices"
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
// reading earlier than the last one counts as the last one (D3), where the
// last one is that of the latest input that took effect: a refused command,
// or one that changes nothing, is not journaled and leaves it, so that a
// replay rebuilds it (D1, D2).
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

	mu      sync.Mutex
	calls   callTable
	users   map[string]*user
	due     deadlineHeap
	beats   beatHeap  // H5: online devices by heartbeat deadline
	beatSeq uint64    // H5: heartbeats so far, for their order
	last    time.Time // the latest clock reading an input took effect at (D3; see commit)
	seen    time.Time // the latest clock reading, refused inputs included: timers count from it
	read    time.Time // the clock's reading at the input under way, not clamped (D3)
	order   uint64    // calls created so far: the creation order of the Time rule

	timer    clock.Timer // the clock timer, once made (nil before)
	armed    bool        // timer is pending, for timerAt
	timerAt  time.Time
	timerGen uint64    // which timer a firing belongs to, for Clocks whose timers cannot be reset
	retryAt  time.Time // after the Journal refused the passing of time: not before then (D1)

	entry      Entry   // the input under way, for the Journal
	admitErrs  []error // the live Admit errors behind entry.Admit
	admitAsked bool    // Options.Admit was asked for the input under way
	replaying  bool    // Apply: the entry comes from a journal; write none, make no ID
	recovering bool    // Recover: arm no timer until the last entry is applied

	idle       idleList     // user records that hold nothing, kept a while for their return
	spareUsers []*user      // records of users who left, for reuse
	linkBuf    []membership // scratch for walking a user's calls

	rc         recycler       // Options.TransientMembers: memory to reuse (recycle.go)
	out        outbox         // events produced, not yet delivered
	spare      []events.Event // the buffer last delivered, kept for reuse
	delivering bool           // a goroutine is draining out
	inFlight   int            // events of the batch being delivered (Backlog)
}

// NewRegistry returns an empty Registry. It fails with ErrInvalidOption if
// an option is out of range (see Options).
func NewRegistry(o Options) (*Registry, error) {
	s, err := o.resolve()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		s:          s,
		calls:      newCallTable(),
		users:      make(map[string]*user),
		spareUsers: make([]*user, 0, 256),
	}
	if s.transient {
		r.out.rc = &r.rc
	}
	return r, nil
}

// outcome is what a command returns besides its error.
type outcome struct {
	invite InviteResult
	failed []string
	info   Info
}

// input runs one input: it takes the lock, reads the clock, processes what
// fell due (journaling that passing of time first), runs the command and
// delivers its events.
func (r *Registry) input(e Entry) (outcome, error) { return r.inputAdmitted(e, nil, true) }

// inputAdmitted is input for a command that may have asked Options.Admit
// first (asked says whether it did).
func (r *Registry) inputAdmitted(e Entry, admitErrs []error, asked bool) (outcome, error) {
	r.mu.Lock()
	now, err := r.advance(r.s.clock.Now())
	var o outcome
	if err != nil {
		r.retryAt = r.read.Add(time.Second) // D1: everything stays due; the timer tries again, not before then
		err = &Error{Op: e.Op.name(), CallID: e.CallID, User: e.User, Err: ErrJournal, Cause: err}
	} else {
		e.At = now
		r.entry, r.admitErrs, r.admitAsked = e, admitErrs, asked
		o, err = r.run(&r.entry)
	}
	r.entry, r.admitErrs = Entry{}, nil // hold on to nothing of the caller's
	r.finish()
	return o, err
}

// run dispatches one input to its command. The entry is complete but for
// the ID an Invite makes, which the command fills in before it commits.
func (r *Registry) run(e *Entry) (o outcome, err error) {
	if e.Push != nil {
		// The call and its events keep the Registry's own copy: a host may
		// reuse its Push once the command returns, and a replay must emit
		// what the original did (D1).
		p := *e.Push
		e.Push = &p
	}
	switch e.Op {
	case OpTick: // a journaled passing of time: advance processed what was due
		r.last = e.At
	case OpInvite:
		cfg := InviteConfig{Timeout: e.Timeout, Mode: e.Mode, ExtendedData: e.Data, Push: e.Push}
		if e.HostID {
			cfg.CallID = e.CallID
		}
		o.invite, err = r.invite(e.At, e.User, e.Users, &cfg)
	case OpCancel:
		o.failed, err = r.cancel(e.At, e.User, e.CallID, e.Users, &CancelConfig{ExtendedData: e.Data, Push: e.Push})
	case OpAccept:
		err = r.answer(e.At, "accept", e.User, e.CallID, cmdAccept, e.Data, e.Device)
	case OpReject:
		err = r.answer(e.At, "reject", e.User, e.CallID, cmdReject, e.Data, e.Device)
	case OpCallingInvite:
		o.invite, err = r.callingInvite(e.At, e.User, e.CallID, e.Users, &CallingInviteConfig{Timeout: e.Timeout, Push: e.Push})
	case OpJoin:
		o.info, err = r.joinCall(e.At, e.User, e.CallID, &JoinConfig{ExtendedData: e.Data, Device: e.Device})
	case OpQuit:
		err = r.quit(e.At, e.User, e.CallID, &QuitConfig{ExtendedData: e.Data, Device: e.Device})
	case OpEnd:
		err = r.end(e.At, e.User, e.CallID, &EndConfig{ExtendedData: e.Data, Device: e.Device})
	case OpLogin:
		r.login(e.At, e.User, e.Device)
	case OpLogout:
		r.logout(e.At, e.User, e.Device)
	case OpHeartbeat:
		r.heartbeat(e.At, e.User, e.Device)
	default:
		err = &Error{Op: "apply", Err: ErrInvalidArgument, Detail: "unknown op " + quoteID(string(e.Op))}
	}
	return o, err
}

// commit writes the input under way to the Journal, once its checks have
// passed and before anything changes (D1), and makes its reading the
// Registry's last (D3). Replayed inputs are not written again.
//
// Only an input that takes effect moves the last reading: one that is
// refused, or changes nothing (a repeated Login), is not journaled, so a
// replay could not rebuild a last reading it had moved (D1, D2).
func (r *Registry) commit() error {
	if j := r.s.journal; j != nil && !r.replaying {
		e := r.entry
		e.Users = slices.Clone(e.Users) // the Journal may keep the entry; the caller may reuse its slice (Push is the Registry's copy, see run)
		if err := j.Append(e); err != nil {
			return &Error{Op: e.Op.name(), CallID: e.CallID, User: e.User, Err: ErrJournal, Cause: err}
		}
	}
	r.last = r.entry.At
	return nil
}

// newID returns the ID of a new call: the journaled one when replaying.
func (r *Registry) newID() string {
	if r.replaying {
		return r.entry.CallID
	}
	return r.s.newID()
}

// finish ends an input: it arms the timer for the next deadline, releases the
// lock and, unless another goroutine (or an outer call on this one) is
// already delivering, delivers every queued event.
func (r *Registry) finish() {
	r.arm(r.seen)
	if r.delivering || len(r.out.events) == 0 {
		r.mu.Unlock()
		return
	}
	r.delivering = true
	batch := r.takeOut()
	r.mu.Unlock()
	r.deliver(batch)
}

// takeOut returns the queued events and starts a new queue. It is called
// with the lock held.
func (r *Registry) takeOut() []events.Event {
	r.seal()
	batch := r.out.events
	r.out.events, r.spare = r.spare[:0], nil
	r.inFlight = len(batch)
	return batch
}

// advance brings the Registry's time to now (never backwards, D3), first
// processing every deadline due at or before it, one instant at a time:
// calls due at the same instant go in the order they were created. If
// anything is due, that passing of time is journaled first, as an input of
// its own (D1); if the Journal refuses it, nothing changes.
func (r *Registry) advance(now time.Time) (time.Time, error) {
	now = now.Round(0).UTC() // no monotonic reading, one location: times compare with == and journal exactly
	r.read = now
	if now.After(r.seen) {
		r.seen = now
	}
	if now.Before(r.last) {
		now = r.last
	}
	if _, _, at := r.firstDue(); !at.IsZero() && !at.After(now) {
		if r.s.journal != nil && !r.replaying {
			if err := r.s.journal.Append(Entry{Op: OpTick, At: now}); err != nil {
				return now, err
			}
		}
		r.last = now // the passing of time takes effect, as an input of its own (see commit)
	}
	r.retryAt = time.Time{}
	for {
		c, b, at := r.firstDue()
		switch {
		case at.IsZero() || at.After(now):
			return now, nil
		case c != nil:
			call := c.c
			call.expire(at, c.kind, &r.out)
			r.update(call)
		default:
			// H5: the device missed its heartbeat; G7 applies. Part of the
			// passing of time, journaled above: not an input of its own.
			r.dropDevice(at, b.u, slices.Index(b.u.devices, b.device))
		}
	}
}

// firstDue returns what falls due first, and when: a call's slot in the
// deadline heap, or else a device's heartbeat; both nil, and a zero time,
// when nothing is pending. At one instant calls go first, their deadlines
// and checks before any heartbeat (the Time rule).
func (r *Registry) firstDue() (*heapSlot, *beat, time.Time) {
	c, b := r.due.min(), r.beats.min()
	if c != nil {
		if at := r.due.when(c); b == nil || !at.After(b.at) {
			return c, nil, at
		}
	}
	if b != nil {
		return nil, b, b.at
	}
	return nil, nil, time.Time{}
}

// update files c after a change: forgotten once over (G6), else moved in the
// deadline heap.
func (r *Registry) update(c *callState) {
	if c.status == callOver {
		r.forget(c)
		return
	}
	next, kind := c.nextDeadline()
	r.due.set(c, next, kind)
}

// forget drops every trace of a call that is over: no memory, no timer (G6).
func (r *Registry) forget(c *callState) {
	r.due.remove(c)
	r.calls.del(c.id)
	r.remember(c)
	for i := range c.links() {
		r.unlink(c, i)
	}
	r.retire(c)
}

// arm keeps one clock timer for the earliest deadline. A timer armed for an
// earlier time than needed is left alone: when it fires it finds nothing due
// and re-arms, which is cheaper than stopping and re-arming on every answer.
// With nothing due, the timer is stopped (so Manual.Pending reaches 0). The
// timer is made once and reset after that when the Clock's timers are
// clock.Resetters (those of clock.Real and clock.Manual are), which spares
// an allocation every time a call becomes the earliest (B1). now is the
// time the timer's delay counts from.
func (r *Registry) arm(now time.Time) {
	if r.recovering {
		return
	}
	_, _, at := r.firstDue()
	if at.IsZero() {
		if r.armed {
			r.timer.Stop()
			r.armed = false
		}
		return
	}
	if at.Before(r.retryAt) {
		at = r.retryAt
	}
	if r.armed && !r.timerAt.After(at) {
		return
	}
	d := at.Sub(now)
	if d <= 0 && !r.read.IsZero() && r.read.Before(now) {
		// A deadline before the latest reading, not yet processed: the
		// clock stepped back, and the input under way took effect at a
		// reading before it (D3). Counting from the latest reading would
		// fire at once, find nothing due and arm again, for as long as the
		// clock is behind; count from the clock's reading now instead.
		d = at.Sub(r.read)
	}
	if t, ok := r.timer.(clock.Resetter); ok {
		t.Reset(d)
	} else {
		if r.armed {
			r.timer.Stop()
		}
		r.timerGen++
		gen := r.timerGen
		r.timer = r.s.clock.AfterFunc(d, func() { r.fire(gen) })
	}
	r.armed, r.timerAt = true, at
}

// fire is the clock timer's callback: an input of its own. gen tells a
// stale firing of a timer that was replaced apart; a reset timer keeps its
// generation, and if it fires late for an arming since replaced, arm
// simply resets it again.
func (r *Registry) fire(gen uint64) {
	r.mu.Lock()
	if gen == r.timerGen {
		r.armed = false
	}
	now := r.s.clock.Now()
	if at := now.Round(0).UTC(); at.Before(r.retryAt) { // D1: a timer armed before a refusal waits for the retry
		r.read = at
		if at.After(r.seen) {
			r.seen = at
		}
		r.finish()
		return
	}
	if _, err := r.advance(now); err != nil {
		r.retryAt = now.Round(0).UTC().Add(time.Second) // D1: everything stays due; try again later
	}
	r.finish()
}

// deliver hands batch, and the events queued meanwhile, to the Sink,
// outside the lock, until none are left. Only one goroutine delivers at a
// time (the one that set r.delivering), so the events of a call reach the
// Sink in Seq order and Emit is never called concurrently for one call.
func (r *Registry) deliver(batch []events.Event) {
	done := false
	defer func() {
		if !done { // the Sink panicked: let the next input deliver what is left
			r.mu.Lock()
			r.delivering, r.inFlight = false, 0
			r.mu.Unlock()
		}
	}()
	for {
		for i := range batch {
			r.s.sink.Emit(batch[i])
		}
		clear(batch) // drop references to Members and Push
		r.mu.Lock()
		r.recycle()
		r.spare, r.inFlight = batch[:0], 0
		if len(r.out.events) == 0 {
			break
		}
		batch = r.takeOut()
		r.mu.Unlock()
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
	c := r.calls.get(callID)
	if c == nil {
		return Info{}, false
	}
	return c.info(), true
}

// Len returns the number of calls not yet over (D4).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls.len()
}

// Backlog returns how many events the Registry has produced and not yet
// handed to the Sink, counting the batch being delivered whole until its
// last Emit returns. Used from one goroutine it is 0 between commands
// (C3); from inside Emit it counts the rest of the batch and what nested
// commands queued.
//
// Under concurrent use one goroutine at a time delivers for all, and the
// other goroutines' commands return without waiting for it, so a Sink
// slower than the commands that feed it lets the backlog grow without
// bound, and the command whose goroutine is delivering returns only once
// the backlog is empty. A host that must bound it can shed load the way a SIP server
// answers 503: refuse the commands that start work (Invite, CallingInvite
// and Join) while Backlog is over a limit it chooses, before calling them
// or in Options.Admit. What is left (answers, cancellations, quits, ends
// and timeouts) only winds down calls already made, each of which has a
// bounded number of events left to make. Like the other queries, Backlog
// reads no clock and processes nothing (D4).
func (r *Registry) Backlog() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.out.events) + r.inFlight
}
