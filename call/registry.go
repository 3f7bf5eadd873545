package call

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/calltable"
	"github.com/callsig/callsig/internal/core"
	"github.com/callsig/callsig/internal/deadline"
)

// Registry holds every live call and drives their machines: it owns the lock,
// reads the clock, keeps one clock timer for the earliest deadline, and
// delivers the events the machines produce to the Sink. It is safe for
// concurrent use (C1).
//
// Every input — a command, Login, Logout, or the clock's timer firing — reads
// the clock once and first processes everything that fell due up to that
// reading (the Time rule of RULES.md §2), so an answer that arrives after its
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
	calls   calltable.Table[*callRecord]
	users   userTable
	due     deadline.Heap[*callRecord]
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

	idle      idleList     // users kept only for their history, longest idle first (H8)
	freeUsers []*user      // dropped user records, for reuse (see settle)
	linkBuf   []membership // scratch for walking a user's calls

	recycler recycler // Options.TransientMembers: memory to reuse (recycle.go)

	// Delivery (delivery.go).
	out        core.Outbox    // events produced, not yet delivered
	freeQueue  []events.Event // the buffer last delivered, emptied, for the next queue
	delivering bool           // a goroutine delivers: an input's, or the drain goroutine
	inFlight   int            // events of the batch being delivered (Backlog)
	taken      uint64         // events ever taken out of out for delivery
	target     uint64         // the delivering input stops once taken reaches it (C3)
	waiters    int            // inputs waiting in passSlice
	sliceDone  sync.Cond      // on mu: a batch went out (passSlice waits for it)

	// Written outside the lock, by one goroutine while another holds it:
	// each on a cache line of its own, so that neither slows the holder.
	_        [64]byte
	underway atomic.Int64 // inputs begun and not yet at finish (handOff)
	_        [56]byte
	emits    atomic.Uint64 // batches begun and ended by deliverers: odd while one is under way (nested)
	_        [56]byte
}

// noSlot is the dueHandle of a call that is not in the deadline heap.
const noSlot = deadline.None

// Key returns the call's ID: its key in the Registry's call table.
func (c *callRecord) Key() string { return c.ID() }

// NewRegistry returns an empty Registry. It fails with ErrInvalidOption if
// an option is out of range (see Options).
func NewRegistry(o Options) (*Registry, error) {
	s, err := o.resolve()
	if err != nil {
		return nil, err
	}
	r := &Registry{
		s:         s,
		calls:     calltable.New[*callRecord](),
		users:     newUserTable(),
		freeUsers: make([]*user, 0, maxFreeUsers),
	}
	r.sliceDone.L = &r.mu
	if s.transient {
		r.out.UseArena(&r.recycler.arena)
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
func (r *Registry) inputAdmitted(e Entry, admitErrs []error, asked bool) (o outcome, err error) {
	var in inputRun
	r.begin(&in)
	defer r.guard(&in)
	if e.Op.isCommand() {
		if err := r.overloadedLocked(e.Op, e.User, e.CallID); err != nil {
			// C5: refused before anything else is checked; nothing is
			// read, processed or journaled.
			r.leave(&in)
			return o, err
		}
	}
	now, err := r.advance(r.s.clock.Now(), true, &in)
	if err != nil {
		r.retryAt = r.read.Add(time.Second) // D1: everything stays due; the timer tries again, not before then
		err = &Error{Op: e.Op.name(), CallID: e.CallID, User: e.User, Err: ErrJournal, Cause: err}
	} else {
		e.At = now
		r.entry, r.admitErrs, r.admitAsked = e, admitErrs, asked
		o, err = r.run(&r.entry)
	}
	r.entry, r.admitErrs = Entry{}, nil // hold on to nothing of the caller's
	r.finish(&in)
	return o, err
}

// overloaded returns ErrOverloaded while Options.MaxBacklog events or more
// wait for the Sink (C5): the check a command that asks Options.Admit makes
// before it does, so that a refused command costs the host nothing.
func (r *Registry) overloaded(op Op, user, callID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overloadedLocked(op, user, callID)
}

// overloadedLocked is overloaded, called with the lock held.
func (r *Registry) overloadedLocked(op Op, user, callID string) error {
	if n := len(r.out.Events) + r.inFlight; r.s.maxBacklog > 0 && n >= r.s.maxBacklog {
		return &Error{Op: op.name(), CallID: callID, User: user, Err: ErrOverloaded,
			Detail: fmt.Sprintf("%d events wait for the Sink, at most %d", n, r.s.maxBacklog)}
	}
	return nil
}

// guard is deferred by every input once it has begun. A panic in host code
// called under the lock (the Clock, NewID, Journal.Append) leaves the
// Registry usable (C6): the input under way is forgotten, which changes
// nothing, since every callback that can refuse an input runs before the
// input's first change; the timer is armed again (see rearm); events
// already queued (by the passing of time, or by the input itself when the
// Clock's AfterFunc panicked after it took effect) are left to another
// input or a drain goroutine; the lock is released; and the panic goes on
// up the caller's goroutine. A panic in the Sink is handled by the
// deliverer (deliverRun), without the lock; if the input delivered a slice
// of a burst (passSlice), it has not finished, and still counts as under
// way: guard takes the lock again and ends it the same way, so that the
// rest of the burst stays due with the timer armed, and the events put back
// are left to another input or a drain goroutine, not to this one.
func (r *Registry) guard(in *inputRun) {
	if !in.locked && !in.counted {
		return // it finished: a panic in the Sink that its delivery met goes on up
	}
	p := recover()
	if !in.locked {
		r.mu.Lock()
		in.locked = true
	}
	r.entry, r.admitErrs, r.admitAsked, r.replaying = Entry{}, nil, false, false
	r.rearm()
	r.leave(in)
	if p != nil { // nil: runtime.Goexit, which goes on by itself
		panic(p)
	}
}

// rearm arms the timer again after a panic, as after a refusal (D1): not
// before a second has passed, so that a callback that panics every time
// (a Journal that panics on the passing of time, say) cannot make the timer
// fire without pause. If the Clock panics again here, the next input arms
// it.
func (r *Registry) rearm() {
	defer func() { _ = recover() }()
	r.armed = false
	if later := r.seen.Add(time.Second); r.retryAt.Before(later) {
		r.retryAt = later
	}
	r.arm(r.seen)
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
		err = r.answer(e.At, "accept", e.User, e.CallID, true, e.Data, e.Device)
	case OpReject:
		err = r.answer(e.At, "reject", e.User, e.CallID, false, e.Data, e.Device)
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
		err = &Error{Op: "apply", Err: ErrInvalidArgument, Detail: "unknown op " + core.QuoteID(string(e.Op))}
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
		// The Journal gets an entry of its own, which it may keep and
		// change: the caller may reuse its slice, and the Push the call
		// and its events keep is the Registry's copy (see run).
		e.Users = slices.Clone(e.Users)
		if e.Push != nil {
			p := *e.Push
			e.Push = &p
		}
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

// advance brings the Registry's time to now (never backwards, D3), first
// processing every deadline due at or before it, one instant at a time:
// calls due at the same instant go in the order they were created. If
// anything is due, that passing of time is journaled first (unless journal
// is false: a replay), as an input of its own (D1); if the Journal refuses
// it, nothing changes. A burst is processed in slices, and the events of
// each go out before the next is made (passSlice), which may release the
// lock in between: another input may then process part of what is due, in
// the same order, as the Time rule has every input do; if such an input
// took effect at a later reading, advance returns that one (D3).
func (r *Registry) advance(now time.Time, journal bool, in *inputRun) (time.Time, error) {
	now = now.Round(0).UTC() // no monotonic reading, one location: times compare with == and journal exactly
	r.read = now
	if now.After(r.seen) {
		r.seen = now
	}
	if now.Before(r.last) {
		now = r.last
	}
	if _, _, _, at := r.firstDue(); !at.IsZero() && !at.After(now) {
		if journal && r.s.journal != nil {
			if err := r.s.journal.Append(Entry{Op: OpTick, At: now}); err != nil {
				return now, err
			}
		}
		r.last = now // the passing of time takes effect, as an input of its own (see commit)
	}
	r.retryAt = time.Time{}
	read := r.read
	for r.processDue(now) {
		r.passSlice(in)
		// passSlice may have released the lock, and another input taken
		// effect meanwhile at a later reading, with part of what fell due
		// up to it still to process: this input then takes effect at that
		// reading (D3), once that part is processed (the Time rule), as a
		// replay of the journal has it do.
		if now.Before(r.last) {
			now = r.last
		}
	}
	r.read = read
	return now, nil
}

// processDue processes what falls due at or before now, in due order,
// until nothing is left (false) or it has queued a slice's worth of events
// (true).
func (r *Registry) processDue(now time.Time) (more bool) {
	for start := len(r.out.Events); len(r.out.Events)-start < sliceEvents; {
		c, kind, b, at := r.firstDue()
		switch {
		case at.IsZero() || at.After(now):
			return false
		case c != nil:
			c.Expire(at, kind, c.online(), &r.out)
			r.update(at, c)
		default:
			// H5: the device missed its heartbeat; G7 applies. Part of the
			// passing of time, journaled above: not an input of its own.
			r.dropDevice(at, b.u, slices.Index(b.u.devices, b.device))
		}
	}
	_, _, _, at := r.firstDue()
	return !at.IsZero() && !at.After(now)
}

// firstDue returns what falls due first, and when: a call and what falls
// due for it, or else a device's heartbeat; both nil, and a zero time,
// when nothing is pending. At one instant calls go first, their deadlines
// and checks before any heartbeat (the Time rule).
func (r *Registry) firstDue() (*callRecord, core.DueKind, *beat, time.Time) {
	c, at, kind := r.due.Min()
	b := r.beats.min()
	if c != nil && (b == nil || !at.After(b.at)) {
		return c, core.DueKind(kind), nil, at
	}
	if b != nil {
		return nil, 0, b, b.at
	}
	return nil, 0, nil, time.Time{}
}

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
	_, _, _, at := r.firstDue()
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
	var in inputRun
	r.begin(&in)
	defer r.guard(&in)
	if gen == r.timerGen {
		r.armed = false
	}
	now := r.s.clock.Now()
	if at := now.Round(0).UTC(); at.Before(r.retryAt) { // D1: a timer armed before a refusal waits for the retry
		r.read = at
		if at.After(r.seen) {
			r.seen = at
		}
		r.finish(&in)
		return
	}
	if _, err := r.advance(now, true, &in); err != nil {
		r.retryAt = now.Round(0).UTC().Add(time.Second) // D1: everything stays due; try again later
	}
	r.finish(&in)
}

// Call returns a copy of a live call's state, and false if there is no such
// call or it is over. It reads no clock and processes nothing (D4): an
// invitation whose deadline passed a moment ago may still show as pending.
func (r *Registry) Call(callID string) (Info, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls.Get(callID)
	if c == nil {
		return Info{}, false
	}
	return c.info(), true
}

// Len returns the number of calls not yet over (D4).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls.Len()
}
