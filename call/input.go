package call

import (
	"fmt"
	"slices"
	"time"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// outcome is what a command returns besides its error. It is large, and
// most inputs return none: a command writes it where its caller asked
// (inputRun.result) rather than returning it up the stack.
type outcome struct {
	invite InviteResult
	failed []string
	info   Info
}

// runInput runs one input end to end: it reads the clock, before the lock
// (the Clock is host code); takes the lock; refuses a command under
// overload (C5) before anything else; processes what fell due up to the
// reading, journaling that passing of time first (the Time rule, D1:
// advance); runs the input, which journals itself once its checks pass
// (commit); and delivers its events (finish).
// A panic in host code called meanwhile leaves the Registry usable (guard,
// C6). A replayed input (Apply) is not refused for load, and takes effect
// at its journaled reading, journaling nothing.
//
// res gets what the command returns besides its error, when it returns
// more (Invite, CallingInvite, Cancel, Join): its caller must give one.
// It is a parameter of its own, not a field of inputRun, so that it stays
// on the caller's stack: the entry's slices may be kept by the Journal.
func (r *Registry) runInput(in *inputRun, res *outcome) (err error) {
	e := &in.entry
	var reading time.Time
	if in.replaying {
		reading = e.At.Round(0).UTC() // a replay takes effect at its journaled reading
	} else {
		// Read before the lock: the Clock is host code, and the reading
		// need not be taken under the lock, since the Time rule raises a
		// reading older than the present to it (D3).
		reading = r.readClock()
	}
	r.begin(in)
	defer r.guard(in)
	if !in.replaying && !r.calm() && e.Op.isCommand() {
		if err := r.overloadedLocked(e.Op, e.User, e.CallID); err != nil {
			r.stats.count(e.Op, err)
			// C5: refused before anything else is checked; nothing is
			// read, processed or journaled.
			r.leave(in)
			r.flushLogs()
			return err
		}
	}
	var now time.Time
	if e.Op == OpResume {
		now = r.resumeAt(in, reading) // it restarts the heartbeats before anything falls due (resume.go)
	} else {
		now, err = r.advance(in, reading)
	}
	if err != nil {
		err = journalRefused(e, err)
	} else {
		e.At = now
		err = r.run(in, res)
	}
	if !in.replaying && !in.askAdmit {
		r.stats.count(e.Op, err)
	}
	if in.replaying && err == nil {
		r.countReplayed()
	}
	durable := r.jnl.count // what a command's answer may depend on
	r.finish(in)
	if r.jnl.syncer != nil && !in.replaying && e.Op.isCommand() {
		// Output commit: a command returns once every entry its answer may
		// rest on is durable (Syncer).
		if serr := r.syncTo(durable); serr != nil {
			err = journalRefused(e, serr)
		}
	}
	// The lines noted under the lock; after a panic (guard), the next
	// input writes them.
	r.flushLogs()
	return err
}

// overloaded returns ErrOverloaded while Options.MaxBacklog events or more
// wait for the Sink (C5): the check a command that asks Options.Admit makes
// before it does, so that a refused command costs the host nothing.
func (r *Registry) overloaded(op Op, user, callID string) error {
	defer r.flushLogs()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.overloadedLocked(op, user, callID)
}

// calm reports whether overloadedLocked has nothing to do: the backlog is
// under Options.MaxBacklog, and no overload is over to report. Called with
// the lock held; small enough to inline, as most inputs find it so.
func (r *Registry) calm() bool {
	n := r.backlog()
	return (r.s.maxBacklog <= 0 || n < r.s.maxBacklog) && !r.stats.overloaded
}

// overloadedLocked is overloaded, called with the lock held.
func (r *Registry) overloadedLocked(op Op, user, callID string) error {
	n := r.backlog()
	over := r.s.maxBacklog > 0 && n >= r.s.maxBacklog
	if over || r.stats.overloaded {
		r.overload(over, n)
	}
	if over {
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
	r.rearm(in)
	r.leave(in)
	if p != nil { // nil: runtime.Goexit, which goes on by itself
		r.recovered("input", p)
		panic(p)
	}
}

// run dispatches one input to its command. The entry is complete but for
// the ID an Invite makes, which the command fills in before it commits.
// The commands that return more than an error write it to res.
func (r *Registry) run(in *inputRun, res *outcome) (err error) {
	e := &in.entry
	// The call and its events keep the Registry's own copy of the Push: a
	// host may reuse its Push once the command returns, and a replay must
	// emit what the original did (D1).
	e.Push = copyPush(e.Push)
	switch e.Op {
	case OpTick: // a journaled passing of time: advance processed what was due
		r.time.present = e.At
	case OpInvite:
		cfg := InviteConfig{Timeout: e.Timeout, Mode: e.Mode, ExtendedData: e.Data, Push: e.Push}
		if e.HostID {
			cfg.CallID = e.CallID
		}
		res.invite, err = r.invite(in, e.User, e.Users, &cfg)
	case OpCancel:
		res.failed, err = r.cancel(in, e.User, e.CallID, e.Users, &CancelConfig{ExtendedData: e.Data, Push: e.Push})
	case OpAccept:
		err = r.answer(in, "accept", e.User, e.CallID, true, e.Data, e.Device)
	case OpReject:
		err = r.answer(in, "reject", e.User, e.CallID, false, e.Data, e.Device)
	case OpCallingInvite:
		res.invite, err = r.callingInvite(in, e.User, e.CallID, e.Users, &CallingInviteConfig{Timeout: e.Timeout, Push: e.Push})
	case OpJoin:
		res.info, err = r.joinCall(in, e.User, e.CallID, &JoinConfig{ExtendedData: e.Data, Device: e.Device})
	case OpQuit:
		err = r.quit(in, e.User, e.CallID, &QuitConfig{ExtendedData: e.Data, Device: e.Device})
	case OpEnd:
		err = r.end(in, e.User, e.CallID, &EndConfig{ExtendedData: e.Data, Device: e.Device})
	case OpLogin:
		err = r.login(in, e.User, e.Device)
	case OpLogout:
		err = r.logout(in, e.User, e.Device)
	case OpHeartbeat:
		err = r.heartbeat(in, e.User, e.Device)
	case OpReplay:
		err = r.replay(in, e.User, e.Device)
	case OpResume:
		err = r.resume(in)
	default:
		err = unknownOp(e)
	}
	return err
}

// commit writes input in to the Journal, once its checks have passed and
// before anything changes (D1), and makes its reading the Registry's
// present (D3). Replayed inputs are not written again.
//
// Only an input that takes effect moves the present: one that is refused,
// or changes nothing (a repeated Login), is not journaled, so a replay
// could not rebuild a present it had moved (D1, D2).
func (r *Registry) commit(in *inputRun) error {
	if !in.replaying && r.s.journal == nil {
		r.jnl.count++ // counted all the same (JournalIndex)
	} else if !in.replaying {
		e := in.entry
		// The Journal gets an entry of its own, which it may keep and
		// change: the caller may reuse its slice, and the Push the call
		// and its events keep is the Registry's copy (see run).
		e.Users = slices.Clone(e.Users)
		e.Push = copyPush(e.Push)
		if err := r.journalEntry(e); err != nil {
			return journalRefused(&e, err)
		}
	}
	r.time.present = in.entry.At
	return nil
}

// journalRefused is the error of input e when the Journal refused it, or
// refused the passing of time before it (D1).
func journalRefused(e *Entry, err error) error {
	return &Error{Op: e.Op.name(), CallID: e.CallID, User: e.User, Err: ErrJournal, Cause: err}
}

// unknownOp is the error of an entry whose Op is none Apply can replay.
func unknownOp(e *Entry) error {
	return &Error{Op: "apply", CallID: e.CallID, User: e.User, Err: ErrInvalidArgument, Detail: "unknown op " + core.QuoteID(string(e.Op))}
}

// copyPush returns a copy of p (nil for nil): one the caller cannot change.
func copyPush(p *events.Push) *events.Push {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// newID returns the ID of a new call: the journaled one when replaying,
// the one Invite made before the lock with the default NewID, else the
// host's NewID's.
func (r *Registry) newID(in *inputRun) string {
	switch {
	case in.replaying:
		return in.entry.CallID
	case in.madeID != "":
		return in.madeID
	case r.s.newID != nil:
		return r.s.newID()
	}
	return randomID()
}

// inputRun is one input under way: what it is, and what it notes as it
// runs. It lives on the stack of the goroutine that runs the input and is
// passed to whatever needs it, so that nothing of an input stays in the
// Registry once it returns.
type inputRun struct {
	entry      Entry   // the input as the Journal gets it: At once time has advanced (runInput), CallID once an Invite has its ID
	admitErrs  []error // the live errors behind entry.Admit, whose identity the journal does not keep (H7)
	admitAsked bool    // Options.Admit was asked for this input, or need not be
	replaying  bool    // Apply: the entry comes from a journal; write none, make no ID

	// Invite's checks that need no state, run before the lock: checked
	// when it passed them, with the timeout they gave, and, with the
	// default NewID, the ID of the call it may create (see Invite). A
	// replay has none of them.
	checked bool
	timeout time.Duration
	madeID  string
	// askAdmit: the invite was run without asking Options.Admit, on the
	// word of a peek that said it would merge (H3), and it would not merge
	// after all. Nothing changed; Invite asks Admit and runs it again.
	askAdmit bool

	// reading is the clock's reading for this input, before D3 raises it
	// to the Registry's present (advance); zero until then. A replay's is
	// its entry's.
	reading time.Time

	// Where the input stands, for finish and guard (delivery.go).
	locked   bool   // the input holds the lock
	counted  bool   // the input counts in r.out.underway (from begin to leave or finish)
	produced uint64 // r.produced() when it took the lock
	emits    uint64 // r.out.emits when it began (see nested)
	waited   bool   // finish waited for the backlog to shrink
}
