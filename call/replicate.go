package call

import (
	"time"

	"github.com/callsig/callsig/internal/core"
)

// What a host that replicates a Registry needs besides Apply: the result of
// a replayed command, the next instant something falls due, and the two
// choices a proposer makes once for every replica (a call's ID, Admit's
// answers), made the way the Registry makes them.
//
// A replicated Registry changes only through ApplyResult: its proposer
// reads its own clock once for each input and writes the reading in the
// entry's At, makes an Invite's ID with NewCallID (or Options.NewID) and
// puts it in CallID, asks Options.Admit and writes AdmitAnswers(errs) in
// Admit, and proposes the passing of time as an OpTick entry once
// NextDue's instant has come. Every replica then applies the same entries
// and holds the same state (C4, D1).

// Result is what a command returns besides its error, as ApplyResult gives
// it back: the field of the entry's Op, the rest zero.
type Result struct {
	Invite InviteResult // OpInvite, OpCallingInvite
	Failed []string     // OpCancel: the listed invitees it did not cancel
	Info   Info         // OpJoin
}

// ApplyResult is Apply (D1) that also returns what the command returns:
// the InviteResult of an Invite or CallingInvite, the failed list of a
// Cancel, the Info of a Join. An Invite entry's answers from Admit (H7)
// come back as Failures whose Err has the journaled message, not the
// host's error (D2 keeps messages, not identities). Like Apply, it writes
// nothing to the Journal, asks neither NewID nor Admit, and is never
// refused for load (C5).
func (r *Registry) ApplyResult(e Entry) (Result, error) {
	if !e.Op.known() {
		return Result{}, unknownOp(&e)
	}
	if e.Op == OpInvite && !e.HostID && !core.ValidID(e.CallID) {
		return Result{}, &Error{Op: "apply", User: e.User, Err: ErrInvalidArgument, Detail: "an invite entry without the ID it made"}
	}
	var o outcome
	in := inputRun{entry: e, replaying: true}
	err := r.runInput(&in, &o)
	return Result{Invite: o.invite, Failed: o.failed, Info: o.info}, err
}

// NextDue returns the earliest instant at which something falls due — an
// invitation's deadline, an H6 check, a device's heartbeat (H5) — and false
// when nothing is pending. It reads no clock and processes nothing (D4):
// the instant may already have passed. An input whose reading is at or
// after it (an OpTick entry, say) processes what is due then.
func (r *Registry) NextDue() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _, _, at := r.firstDue()
	return at, !at.IsZero()
}

// NewCallID returns a new call ID as a Registry makes them when
// Options.NewID is nil: 128 random bits in 22 URL-safe characters (G10).
func NewCallID() string { return randomID() }

// AdmitAnswers turns the errors Options.Admit returned for each invitee of
// an Invite or CallingInvite (nil: admitted) into Entry.Admit, as the
// Registry journals them: nil when every invitee is admitted, else per
// invitee "" or the error's message ("refused" for an empty one).
func AdmitAnswers(errs []error) []string {
	for _, err := range errs {
		if err != nil {
			return admitAnswers(errs)
		}
	}
	return nil
}
