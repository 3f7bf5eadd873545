package call

import (
	"fmt"
	"slices"
	"time"

	"github.com/callsig/callsig/internal/core"
)

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

// inputRun is what an input notes as it runs, for finish and guard.
type inputRun struct {
	locked   bool   // the input holds the lock
	counted  bool   // the input counts in r.underway (from begin to leave or finish)
	produced uint64 // r.produced() when it took the lock
	emits    uint64 // r.emits when it began (see nested)
	waited   bool   // finish waited for the backlog to shrink
}
