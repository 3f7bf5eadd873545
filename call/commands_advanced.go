package call

import (
	"time"

	"github.com/callsig/callsig/events"
)

// lookupAdvanced is lookup for a command that only advanced calls know:
// ErrWrongMode on a general call, after the membership check (A6, G10).
func (r *Registry) lookupAdvanced(op, user, callID string) (*callState, error) {
	c, err := r.lookup(op, user, callID)
	if err != nil {
		return nil, err
	}
	if c.mode != events.Advanced {
		return nil, newErr(op, callID, user, ErrWrongMode, "the call is in general mode")
	}
	return c, nil
}

// CallingInvite invites more users into an advanced call (A2). Only a member
// in the call (Accepted) may, else ErrNotAccepted. Each invitee gets its own
// deadline — now plus the config's timeout, or the call's — and
// InvitationReceived with the call's extended data; the members are told
// with UserStateChanged (A1). A user who rejected, timed out, quit or was
// cancelled is invited again in place; naming the caller, or a member who is
// pending or Accepted, is ErrDuplicateInvitee; the members ever listed may
// not pass MaxInvitees+1 (ErrTooManyInvitees).
func (r *Registry) CallingInvite(user, callID string, invitees []string, cfg CallingInviteConfig) (InviteResult, error) {
	var admitErrs []error
	if r.s.admit != nil {
		if err := r.overloaded(OpCallingInvite, user, callID); err != nil {
			return InviteResult{}, err // C5: asks Admit nothing either
		}
		// H7: a request that fails a check needing no state asks Admit
		// nothing; the command, run under the lock, returns the error that
		// wins, which may be one of the call's (ErrCallNotFound for an
		// invalid ID, which names no call). The call's timeout is not
		// known here: a zero timeout passes.
		a := cfg.inviteArgs(user, callID, invitees, 0)
		if _, err := r.s.checkInvite(&a, nil); err == nil && validID(callID) {
			admitErrs = r.admit(user, invitees)
		}
	}
	o, err := r.inputAdmitted(Entry{Op: OpCallingInvite, User: user, CallID: callID, Users: invitees, Timeout: cfg.Timeout,
		Push: cfg.Push, Admit: admitAnswers(admitErrs)}, admitErrs, true)
	return o.invite, err
}

func (r *Registry) callingInvite(now time.Time, user, callID string, invitees []string, cfg *CallingInviteConfig) (InviteResult, error) {
	c, err := r.lookupAdvanced("calling invite", user, callID)
	if err != nil {
		return InviteResult{}, err
	}
	res, err := c.callingInvite(now, user, invitees, cfg, &r.s, r, &r.out)
	r.update(c)
	return res, err
}

// Join enters an advanced call as Accepted (A3): a member who is pending,
// or who rejected, timed out, quit or was cancelled — a caller who quit
// included. The members are told with UserStateChanged. Joining while
// Accepted is a no-op that returns the call's Info and emits nothing.
func (r *Registry) Join(user, callID string, cfg JoinConfig) (Info, error) {
	o, err := r.input(Entry{Op: OpJoin, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
	return o.info, err
}

func (r *Registry) joinCall(now time.Time, user, callID string, cfg *JoinConfig) (Info, error) {
	c, err := r.lookupAdvanced("join", user, callID)
	if err != nil {
		return Info{}, err
	}
	info, err := c.join(now, user, cfg, r.s.maxDataLen, r, &r.out)
	r.update(c)
	return info, err
}

// Quit leaves an advanced call (A4); only a member in it (Accepted) may, else
// ErrNotAccepted. The members are told with UserStateChanged. When nobody is
// left Accepted or pending, the call ends by itself: InvitationEnded with
// ReasonEmpty goes to the members that were pending or Accepted just before.
func (r *Registry) Quit(user, callID string, cfg QuitConfig) error {
	_, err := r.input(Entry{Op: OpQuit, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
	return err
}

func (r *Registry) quit(now time.Time, user, callID string, cfg *QuitConfig) error {
	c, err := r.lookupAdvanced("quit", user, callID)
	if err != nil {
		return err
	}
	err = c.quit(now, user, cfg, r.s.maxDataLen, r, &r.out)
	r.update(c)
	return err
}

// End ends an advanced call for everyone (A5); only a member in it
// (Accepted) may, else ErrNotAccepted. Every member pending or Accepted gets
// InvitationEnded with ReasonEnded; pending members end as Cancelled, the
// others keep their states; the call is over and no timeout fires after.
// The ender's Member.Data becomes the End's data (its last action).
func (r *Registry) End(user, callID string, cfg EndConfig) error {
	_, err := r.input(Entry{Op: OpEnd, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device})
	return err
}

func (r *Registry) end(now time.Time, user, callID string, cfg *EndConfig) error {
	c, err := r.lookupAdvanced("end", user, callID)
	if err != nil {
		return err
	}
	err = c.end(now, user, cfg, r.s.maxDataLen, r, &r.out)
	r.update(c)
	return err
}
