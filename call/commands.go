package call

import (
	"cmp"
	"slices"

	"github.com/callsig/callsig/internal/core"
)

// Invite creates a call from inviter to invitees and rings them (G2). The
// caller need not be online. Every argument is checked first, in the order
// RULES.md §2 gives ("Which error wins"); on an error nothing changes and
// nothing is emitted (G1).
//
// Events: InvitationCreated to the caller (Seq 1), then InvitationReceived to
// each invitee in the order given, with Deadline = now + timeout. An invitee
// with no online device stays Inviting and its event is Offline: push it
// with the config's Push, and it is rung again when it logs in (G8).
func (r *Registry) Invite(inviter string, invitees []string, cfg InviteConfig) (InviteResult, error) {
	// The checks that need no state (RULES.md §2's order, up to the
	// host-chosen CallID) run once, before the lock; an invite they refuse
	// runs them again under it, where ErrOverloaded and a refused passing
	// of time win over them. An invite that passes them and has the
	// default NewID gets its random ID here too, so that other goroutines'
	// inputs go on meanwhile; one the invite then does not use (it merges,
	// H3, or is refused) is simply dropped. A host's NewID is asked under
	// the lock, once a call is sure to be made, so that its IDs follow one
	// another with none skipped (C4).
	a, lim := cfg.inviteArgs(inviter, invitees, &r.s), r.s.limits()
	timeout, refused := core.CheckInvite(&a, nil, &lim)
	checked := !refused.Refused()
	var madeID string
	if checked && cfg.CallID == "" && r.s.newID == nil {
		madeID = randomID()
	}
	for {
		in := inputRun{entry: Entry{
			Op: OpInvite, User: inviter, Users: invitees, Timeout: cfg.Timeout, Mode: cfg.Mode,
			Data: cfg.ExtendedData, Push: cfg.Push, CallID: cfg.CallID, HostID: cfg.CallID != "",
		}, admitAsked: true, checked: checked, timeout: timeout, madeID: madeID}
		if r.s.admit != nil {
			if err := r.overloaded(OpInvite, inviter, cfg.CallID); err != nil {
				return InviteResult{}, err // C5: asks Admit nothing either
			}
			// H7: an invite that fails a check needing no state asks Admit
			// nothing; the command, run under the lock, returns the error
			// that wins. H3: nor does an invite that will merge into a
			// ringing call. Whether it will is known only under the lock,
			// and Admit is not called under it: peek first, and should the
			// peek prove wrong (the run says so: askAdmit), start again.
			if checked {
				in.admitAsked = !r.mayMerge(inviter, invitees)
				if in.admitAsked {
					r.askAdmit(&in, inviter, invitees)
				}
			}
		}
		var o outcome
		err := r.runInput(&in, &o)
		if !in.askAdmit {
			return o.invite, err
		}
	}
}

func (r *Registry) invite(in *inputRun, inviter string, invitees []string, cfg *InviteConfig) (InviteResult, error) {
	const op = "invite"
	now := in.entry.At
	lim := r.s.limits()
	timeout := in.timeout
	if !in.checked {
		a := cfg.inviteArgs(inviter, invitees, &r.s)
		var refused core.Refusal
		timeout, refused = core.CheckInvite(&a, nil, &lim)
		if err := refusal(op, cfg.CallID, inviter, refused); err != nil {
			return InviteResult{}, err
		}
	}
	id := cfg.CallID
	if len(r.users.slots) >= warmSlots {
		r.warm(inviter, invitees, cmp.Or(id, in.madeID))
	}
	if c := r.glareCall(inviter, invitees); c != nil { // H3, before H4 and ErrCallExists
		res, err := r.merge(in, c, inviter, cfg)
		return res, err
	}
	if r.s.admit != nil && !in.admitAsked && !in.replaying {
		in.askAdmit = true
		return InviteResult{}, nil // H3 peeked wrong: nothing has changed
	}
	if id != "" {
		if c := r.calls.Get(id); c != nil {
			if res, ok := retried(c, inviter, invitees); ok {
				return res, nil // H4: the same invite again: the first answer, nothing new
			}
			return InviteResult{}, newErr(op, id, inviter, ErrCallExists, "")
		}
		if res, ok := r.retriedMerge(inviter, id, invitees); ok {
			return res, nil // H4 after H3: the first answer, a merge, again
		}
	}
	asked := invitees
	invitees, failed := in.admitted(invitees) // H7
	if len(invitees) == 0 {
		return InviteResult{}, admitRefusedAll(op, cfg.CallID, inviter)
	}
	if id == "" {
		id = r.newID(in)
		// The default NewID's IDs are valid by construction (randomID);
		// a host's, or one read from a journal, is checked.
		if id == "" || id != in.madeID && !core.ValidID(id) {
			return InviteResult{}, newErr(op, id, inviter, ErrInvalidCallID, "Options.NewID made an invalid ID")
		}
		if r.calls.Get(id) != nil {
			return InviteResult{}, newErr(op, id, inviter, ErrCallExists, "Options.NewID made an ID in use")
		}
	}
	in.entry.CallID = id
	if err := r.commit(in); err != nil {
		return InviteResult{}, err
	}
	var busy core.Set // H2
	for k, u := range invitees {
		if r.busy(u, nil) {
			busy.Add(1 + k)
		}
	}
	r.calls.created++
	c := r.alloc(1 + len(invitees))
	c.order = r.calls.created
	deadline := c.Open(now, &core.Opening{ID: id, Caller: inviter, Invitees: invitees, Mode: cfg.Mode, Timeout: timeout,
		Data: cfg.ExtendedData, Push: cfg.Push})
	for i := range c.Members() {
		r.link(c, i)
	}
	c.Ring(now, c.online(), busy, &lim, &r.out.Outbox)
	if cfg.CallID != "" { // H4: keep what a retry needs
		c.MakeExtras().Retry = &core.Retry{Invitees: slices.Clone(asked), Failed: coreFailures(failed)}
	}
	r.calls.Put(c)
	r.update(now, c)
	return InviteResult{CallID: id, Timeout: timeout, Deadline: deadline, Failed: failed}, nil
}

// inviteArgs returns what core.CheckInvite reads of an Invite.
func (cfg *InviteConfig) inviteArgs(inviter string, invitees []string, s *settings) core.InviteArgs {
	return core.InviteArgs{User: inviter, List: invitees, Timeout: cfg.Timeout, Default: s.defaultTimeout,
		Data: cfg.ExtendedData, Push: cfg.Push, Mode: cfg.Mode, CallID: cfg.CallID}
}

// lookup finds callID for user: ErrInvalidUser for a malformed user ID, and
// ErrCallNotFound if the call does not exist, is over, or user is no member
// of it (G10: a stranger cannot tell a call exists).
//
// A member's ID is valid (it was checked when the member joined, or when a
// snapshot holding it was restored), so user is checked only when it is no
// member of the call: the answer is the one checking it first would give.
func (r *Registry) lookup(op, user, callID string) (*callRecord, error) {
	c := r.calls.Get(callID)
	if c != nil && c.Index(user) >= 0 {
		return c, nil
	}
	if !core.ValidID(user) {
		return nil, newErr(op, callID, user, ErrInvalidUser, "")
	}
	return nil, newErr(op, callID, user, ErrCallNotFound, "")
}

// Cancel cancels invitations of a call; only its caller may (G4). An empty
// list means every pending invitee, and fails with ErrAlreadyAccepted,
// changing nothing, while an invitee is Accepted (in advanced mode, one
// that accepted and then quit no longer counts). A non-empty list cancels
// those of its users still pending and returns the others in failed, in
// list order. Each cancelled invitee gets InvitationCancelled with the
// config's Data and Push, also when offline, so a push can stop the ring.
// A Cancel that cancels someone is the caller's last action: the caller's
// Member.Data becomes its data (Info.ExtendedData stays the Invite's). The
// first such Cancel of a call whose data differs from the Invite's costs
// that call one allocation, to keep the Invite's; otherwise Cancel
// allocates nothing (B2).
func (r *Registry) Cancel(inviter, callID string, invitees []string, cfg CancelConfig) (failed []string, err error) {
	var o outcome
	err = r.runInput(&inputRun{entry: Entry{Op: OpCancel, User: inviter, CallID: callID, Users: invitees, Data: cfg.ExtendedData, Push: cfg.Push}, admitAsked: true}, &o)
	return o.failed, err
}

func (r *Registry) cancel(in *inputRun, inviter, callID string, invitees []string, cfg *CancelConfig) ([]string, error) {
	const op = "cancel"
	c, err := r.lookup(op, inviter, callID)
	if err != nil {
		return nil, err
	}
	p, refused := c.CheckCancel(inviter, invitees, cfg.ExtendedData, cfg.Push, r.s.maxDataLen)
	if err := refusal(op, callID, inviter, refused); err != nil {
		return nil, err
	}
	if err := r.commit(in); err != nil {
		return nil, err
	}
	now := in.entry.At
	failed := c.ApplyCancel(now, p, c.online(), &r.out.Outbox)
	r.update(now, c)
	return failed, nil
}

// Accept accepts an invitation (G3). Only a pending invitee may accept: the
// caller gets InvitationAccepted, then the invitee gets UserStateChanged about
// itself, so that its other devices stop ringing (Device says which one
// answered). Accepting again while the call is live is a no-op; once the call
// is over every command gets ErrCallNotFound.
func (r *Registry) Accept(invitee, callID string, cfg AcceptConfig) error {
	return r.runInput(&inputRun{entry: Entry{Op: OpAccept, User: invitee, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device}, admitAsked: true}, nil)
}

// Reject rejects an invitation (G3); see Accept. The caller gets
// InvitationRejected with Reason Rejected.
func (r *Registry) Reject(invitee, callID string, cfg RejectConfig) error {
	return r.runInput(&inputRun{entry: Entry{Op: OpReject, User: invitee, CallID: callID, Data: cfg.ExtendedData, Device: cfg.Device}, admitAsked: true}, nil)
}

// answer is Accept (accept set) and Reject.
func (r *Registry) answer(in *inputRun, op, invitee, callID string, accept bool, data, device string) error {
	c, err := r.lookup(op, invitee, callID)
	if err != nil {
		return err
	}
	a, refused := c.CheckAnswer(invitee, accept, data, device, r.s.maxDataLen)
	if err := refusal(op, callID, invitee, refused); err != nil || a.Noop {
		return err
	}
	if err := r.commit(in); err != nil {
		return err
	}
	now := in.entry.At
	c.ApplyAnswer(now, a, c.online(), &r.out.Outbox)
	r.update(now, c)
	return nil
}

// warmSlots is the size of the user table from which an invite loads the
// slots its lookups start at before it looks anything up (warm): below
// it the tables fit in a core's own caches, the lookups hit, and loading
// first only adds work. A variable only so that tests can have every
// invite warm.
var warmSlots = 1 << 16

// warm loads the slots where an invite's lookups will start: those of its
// caller's and invitees' IDs in the user table, and of its call ID (if
// known yet) in the call table. In a large Registry each is likely a
// cache miss, and the lookups, each run in its turn, would wait for their
// misses one after another; loaded here back to back, with nothing
// waiting on them, the misses overlap, and the lookups that follow find
// the lines in cache. The lookups hash the IDs again, which costs less
// than a miss. warm is not inlined, and keeps what it loaded (warmed), so
// that the compiler keeps the loads although nothing uses them.
//
//go:noinline
func (r *Registry) warm(inviter string, invitees []string, callID string) {
	v := r.users.touch(inviter)
	for _, u := range invitees {
		v ^= r.users.touch(u)
	}
	if callID != "" {
		v ^= r.calls.Touch(callID)
	}
	r.warmed = v
}
