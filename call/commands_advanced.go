package call

import (
	"time"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// lookupAdvanced is lookup for a command that only advanced calls know:
// ErrWrongMode on a general call, after the membership check (A6, G10).
func (r *Registry) lookupAdvanced(op, user, callID string) (*callRecord, error) {
	c, err := r.lookup(op, user, callID)
	if err != nil {
		return nil, err
	}
	if c.Mode() != events.Advanced {
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
	in := inputRun{entry: Entry{Op: OpCallingInvite, User: user, CallID: callID, Users: invitees, Timeout: cfg.Timeout,
		Push: cfg.Push}, admitAsked: true}
	if r.s.admit != nil {
		if err := r.overloaded(OpCallingInvite, user, callID); err != nil {
			return InviteResult{}, err // C5: asks Admit nothing either
		}
		// H7: a request that fails a check needing no state asks Admit
		// nothing; the command, run under the lock, returns the error that
		// wins, which may be one of the call's (ErrCallNotFound for an
		// invalid ID, which names no call). The call's timeout is not
		// known here: a zero timeout passes.
		a, lim := cfg.inviteArgs(user, invitees, 0), r.s.limits()
		if _, refused := core.CheckInvite(&a, nil, &lim); !refused.Refused() && core.ValidID(callID) {
			r.askAdmit(&in, user, invitees)
		}
	}
	var o outcome
	err := r.runInput(&in, &o)
	return o.invite, err
}

func (r *Registry) callingInvite(in *inputRun, user, callID string, invitees []string, cfg *CallingInviteConfig) (InviteResult, error) {
	const op = "calling invite"
	c, err := r.lookupAdvanced(op, user, callID)
	if err != nil {
		return InviteResult{}, err
	}
	a, lim := cfg.inviteArgs(user, invitees, c.Timeout()), r.s.limits()
	timeout, refused := c.CheckCallingInvite(&a, &lim)
	if err := refusal(op, callID, user, refused); err != nil {
		return InviteResult{}, err
	}
	list, failed := in.admitted(invitees) // H7
	if len(list) == 0 {
		return InviteResult{}, admitRefusedAll(op, callID, user)
	}
	if err := r.commit(in); err != nil {
		return InviteResult{}, err
	}
	now := in.entry.At
	c.grow(len(c.Members()) + c.Newcomers(list))
	first := len(c.Members())
	c.Enrol(list)
	for i := first; i < len(c.Members()); i++ {
		r.link(c, i)
	}
	var busy core.Set // H2
	for _, u := range list {
		if r.busy(u, c) {
			busy.Add(c.Index(u))
		}
	}
	c.ApplyCallingInvite(now, user, list, timeout, cfg.Push, c.online(), busy, &lim, &r.out.Outbox)
	r.update(now, c)
	return InviteResult{CallID: callID, Timeout: timeout, Deadline: now.Add(timeout), Failed: failed}, nil
}

// inviteArgs returns what core.CheckInvite reads of a CallingInvite into a
// call whose timeout is dflt (0: not known yet).
func (cfg *CallingInviteConfig) inviteArgs(user string, invitees []string, dflt time.Duration) core.InviteArgs {
	return core.InviteArgs{User: user, List: invitees, Timeout: cfg.Timeout, Default: dflt, Push: cfg.Push}
}

// Join enters an advanced call as Accepted (A3): a member who is pending,
// or who rejected, timed out, quit or was cancelled — a caller who quit
// included. The members are told with UserStateChanged. Joining while
// Accepted is a no-op that returns the call's Info and emits nothing.
func (r *Registry) Join(user, callID string, cfg JoinConfig) (Info, error) {
	var o outcome
	err := r.runInput(&inputRun{entry: Entry{Op: OpJoin, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device}, admitAsked: true}, &o)
	return o.info, err
}

func (r *Registry) joinCall(in *inputRun, user, callID string, cfg *JoinConfig) (Info, error) {
	const op = "join"
	c, err := r.lookupAdvanced(op, user, callID)
	if err != nil {
		return Info{}, err
	}
	a, refused := c.CheckJoin(user, cfg.ExtendedData, cfg.Device, r.s.maxDataLen)
	if err := refusal(op, callID, user, refused); err != nil {
		return Info{}, err
	}
	if !a.Noop {
		if err := r.commit(in); err != nil {
			return Info{}, err
		}
		now := in.entry.At
		c.ApplyJoin(now, a, c.online(), &r.out.Outbox)
		r.update(now, c)
	}
	return c.info(), nil
}

// Quit leaves an advanced call (A4); only a member in it (Accepted) may, else
// ErrNotAccepted. The members are told with UserStateChanged. When nobody is
// left Accepted or pending, the call ends by itself: InvitationEnded with
// ReasonEmpty goes to the members that were pending or Accepted just before.
func (r *Registry) Quit(user, callID string, cfg QuitConfig) error {
	err := r.runInput(&inputRun{entry: Entry{Op: OpQuit, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device}, admitAsked: true}, nil)
	return err
}

func (r *Registry) quit(in *inputRun, user, callID string, cfg *QuitConfig) error {
	const op = "quit"
	c, err := r.lookupAdvanced(op, user, callID)
	if err != nil {
		return err
	}
	a, refused := c.CheckQuit(user, cfg.ExtendedData, cfg.Device, r.s.maxDataLen)
	if err := refusal(op, callID, user, refused); err != nil {
		return err
	}
	if err := r.commit(in); err != nil {
		return err
	}
	now := in.entry.At
	c.ApplyQuit(now, a, c.online(), &r.out.Outbox)
	r.update(now, c)
	return nil
}

// End ends an advanced call for everyone (A5); only a member in it
// (Accepted) may, else ErrNotAccepted. Every member pending or Accepted gets
// InvitationEnded with ReasonEnded; pending members end as Cancelled, the
// others keep their states; the call is over and no timeout fires after.
// The ender's Member.Data becomes the End's data (its last action).
func (r *Registry) End(user, callID string, cfg EndConfig) error {
	err := r.runInput(&inputRun{entry: Entry{Op: OpEnd, User: user, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device}, admitAsked: true}, nil)
	return err
}

func (r *Registry) end(in *inputRun, user, callID string, cfg *EndConfig) error {
	const op = "end"
	c, err := r.lookupAdvanced(op, user, callID)
	if err != nil {
		return err
	}
	a, refused := c.CheckEnd(user, cfg.ExtendedData, cfg.Device, r.s.maxDataLen)
	if err := refusal(op, callID, user, refused); err != nil {
		return err
	}
	if err := r.commit(in); err != nil {
		return err
	}
	now := in.entry.At
	c.ApplyEnd(now, a, c.online(), &r.out.Outbox)
	r.update(now, c)
	return nil
}
