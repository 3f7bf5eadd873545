package calltest

import (
	"slices"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// Advanced mode (RULES.md §4): CallingInvite, Join, Quit, End, and the
// branches of Cancel, the answers, the timeouts and Login for advanced
// calls (A1–A7). The choices the specification leaves open are listed on
// Model.

// lookupAdvanced finds the call of a command that only advanced calls
// know: the acting user's ID (ErrInvalidUser), then the call and the user's
// membership (G10, ErrCallNotFound), then the mode (A6, ErrWrongMode), as
// "Which error wins" orders them. It returns the call and the user's index.
func (m *Model) lookupAdvanced(user, callID string) (*modelCall, int, error) {
	if !validID(user) {
		return nil, -1, call.ErrInvalidUser
	}
	c := m.live(callID)
	if c == nil || c.index(user) < 0 {
		return nil, -1, call.ErrCallNotFound
	}
	if c.mode != events.Advanced {
		return nil, -1, call.ErrWrongMode
	}
	return c, c.index(user), nil
}

// CallingInvite is Registry.CallingInvite at the Model's time (A2): a
// member in an advanced call (Accepted) invites more users.
func (m *Model) CallingInvite(user, callID string, invitees []string, cfg call.CallingInviteConfig) (call.InviteResult, []events.Event, error) {
	// "Which error wins": the acting user's ID, the call, the mode.
	c, actor, err := m.lookupAdvanced(user, callID)
	if err != nil {
		return call.InviteResult{}, nil, err
	}
	// The user's state: only a member in the call invites (A2, A6).
	if c.members[actor].State != events.Accepted {
		return call.InviteResult{}, nil, call.ErrNotAccepted
	}
	// The list, each check over the whole list before the next: empty;
	if len(invitees) == 0 {
		return call.InviteResult{}, nil, call.ErrNoInvitees
	}
	// every entry a valid ID;
	for _, u := range invitees {
		if !validID(u) {
			return call.InviteResult{}, nil, call.ErrInvalidUser
		}
	}
	// not the acting user (A2: ErrSelfInvite);
	if slices.Contains(invitees, user) {
		return call.InviteResult{}, nil, call.ErrSelfInvite
	}
	// no duplicates: none twice in the list, and (A2) neither the caller
	// nor a member who is pending or Accepted;
	if hasDuplicate(invitees) {
		return call.InviteResult{}, nil, call.ErrDuplicateInvitee
	}
	added := 0
	for _, u := range invitees {
		switch i := c.index(u); {
		case i == 0:
			return call.InviteResult{}, nil, call.ErrDuplicateInvitee
		case i < 0:
			added++
		case c.members[i].State == events.Accepted || c.members[i].State.Pending():
			return call.InviteResult{}, nil, call.ErrDuplicateInvitee
		}
	}
	// the count: the members ever listed may not pass MaxInvitees+1 (A2);
	if len(c.members)+added > m.maxInvitees+1 {
		return call.InviteResult{}, nil, call.ErrTooManyInvitees
	}
	// the timeout: 0 means the call's (A2); else [1s, MaxTimeout];
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = c.timeout
	}
	if timeout < minTimeout || timeout > m.maxTimeout {
		return call.InviteResult{}, nil, call.ErrInvalidTimeout
	}
	// the push (CallingInvite has no extended data and no device).
	if !m.validPush(cfg.Push) {
		return call.InviteResult{}, nil, call.ErrInvalidArgument
	}

	// H7: Admit refuses single invitees, after every other check: they are
	// listed in Failed and get nothing; all refused is ErrNoInvitees.
	invitees, failed := m.admitted(user, invitees)
	if len(invitees) == 0 {
		return call.InviteResult{}, nil, call.ErrNoInvitees
	}

	// A2: a user new to the call is added at the end; one who rejected,
	// timed out, quit or was cancelled is invited again in place (keeping
	// its Data). Each has the acting user as inviter and its own deadline,
	// and is Received at once if it has an online device (G2). H2: one
	// Accepted in another live call is Rejected at once instead, not rung.
	deadline := m.now.Add(timeout)
	var rung []int
	n := len(c.members) + len(invitees)
	rang, busy := make([]bool, n), make([]bool, n)
	for _, u := range invitees {
		isBusy := m.isBusy(u, c)
		i := c.index(u)
		if i < 0 {
			i = len(c.members)
			c.members = append(c.members, events.Member{User: u})
		}
		st := events.Inviting
		if m.online(u) {
			st = events.Received
		}
		mb := &c.members[i]
		mb.State, mb.Inviter, mb.Deadline = st, user, deadline
		c.rungBy[u] = cfg.Push
		c.rungAt[u] = m.now // H6: checked if it is left Inviting
		if isBusy {
			mb.State, mb.Deadline = events.Rejected, time.Time{}
			busy[i] = true
			continue
		}
		rung = append(rung, i)
		rang[i] = true
	}
	var out []events.Event
	// A1: the members hear of the new invitees (not those rung: they get
	// their ring instead), then each invitee gets InvitationReceived From
	// the acting user with the call's Data, the command's Push, its own
	// Deadline and every member (A2).
	if len(rung) > 0 {
		m.tell(c, m.now, events.Event{From: user, Members: c.copies(rung)}, actor, rang, &out)
	}
	all := slices.Clone(c.members)
	for _, i := range rung {
		m.emit(c, &out, events.Event{
			Kind: events.InvitationReceived, To: all[i].User, At: m.now, From: user,
			Data: c.data, Push: cfg.Push, Deadline: deadline, Members: all,
		})
	}
	// H2: then the busy ones, in member order, are told of.
	m.busyRejects(c, busy, rang, &out)
	return call.InviteResult{CallID: c.id, Timeout: timeout, Deadline: deadline, Failed: failed}, out, nil
}

// Join is Registry.Join at the Model's time (A3): a member not in the
// call enters it as Accepted. It returns the call's Info after the join.
func (m *Model) Join(user, callID string, cfg call.JoinConfig) (call.Info, []events.Event, error) {
	c, i, err := m.lookupAdvanced(user, callID)
	if err != nil {
		return call.Info{}, nil, err
	}
	// A3: joining while Accepted is a no-op that returns the call's Info
	// (the user's state decides before the data and device are checked).
	if c.members[i].State == events.Accepted {
		info, _ := m.Call(callID)
		return info, nil, nil
	}
	if err := m.checkAction(cfg.ExtendedData, cfg.Device); err != nil {
		return call.Info{}, nil, err
	}
	// A3: pending, or it rejected, timed out, quit or was cancelled (the
	// caller who quit included): it is Accepted now; its Data is the join's.
	mb := &c.members[i]
	mb.State, mb.Deadline, mb.Data = events.Accepted, time.Time{}, cfg.ExtendedData
	var out []events.Event
	// A1: every member pending or Accepted after the change (the joiner
	// among them) hears of it. Joining cannot empty a call.
	m.tell(c, m.now, events.Event{From: user, Device: cfg.Device, Data: cfg.ExtendedData,
		Members: []events.Member{*mb}}, i, nil, &out)
	info, _ := m.Call(callID)
	return info, out, nil
}

// Quit is Registry.Quit at the Model's time (A4): a member in the call
// leaves it; a call left with nobody in it and nobody rung ends by itself.
func (m *Model) Quit(user, callID string, cfg call.QuitConfig) ([]events.Event, error) {
	c, i, err := m.lookupAdvanced(user, callID)
	if err != nil {
		return nil, err
	}
	if c.members[i].State != events.Accepted { // A6
		return nil, call.ErrNotAccepted
	}
	if err := m.checkAction(cfg.ExtendedData, cfg.Device); err != nil {
		return nil, err
	}
	before := c.active()
	mb := &c.members[i]
	mb.State, mb.Data = events.Quit, cfg.ExtendedData
	var out []events.Event
	// A1: the members pending or Accepted after the change, and the one
	// who quit (the actor), hear of it; then A4.
	m.tell(c, m.now, events.Event{From: user, Device: cfg.Device, Data: cfg.ExtendedData,
		Members: []events.Member{*mb}}, i, nil, &out)
	m.endIfEmpty(c, m.now, before, &out)
	return out, nil
}

// End is Registry.End at the Model's time (A5): a member in the call ends
// it for everyone.
func (m *Model) End(user, callID string, cfg call.EndConfig) ([]events.Event, error) {
	c, i, err := m.lookupAdvanced(user, callID)
	if err != nil {
		return nil, err
	}
	if c.members[i].State != events.Accepted { // A6
		return nil, call.ErrNotAccepted
	}
	if err := m.checkAction(cfg.ExtendedData, cfg.Device); err != nil {
		return nil, err
	}
	// A5: the members pending or Accepted get InvitationEnded, in member
	// order; pending members end as Cancelled (and no timeout fires: the
	// call is over), the others keep their states. Reason Ended, From,
	// Device and Data the ender's, Members every member after the change.
	who := c.active()
	c.members[i].Data = cfg.ExtendedData // End is the ender's last action
	for j := range c.members {
		if c.members[j].State.Pending() {
			c.members[j].State, c.members[j].Deadline = events.Cancelled, time.Time{}
		}
	}
	var out []events.Event
	m.ended(c, m.now, events.Event{From: user, Device: cfg.Device, Data: cfg.ExtendedData, Reason: events.ReasonEnded}, who, &out)
	m.remove(c)
	return out, nil
}

// cancelAdvanced is Cancel's effect on an advanced call (A1), once every
// check has passed: targets are the pending invitees to cancel, in list
// (or member) order; before is who was pending or Accepted before.
func (m *Model) cancelAdvanced(c *modelCall, targets []int, cfg call.CancelConfig, before []bool) []events.Event {
	if len(targets) == 0 {
		return nil // nobody was still pending: nothing changes
	}
	for _, i := range targets {
		c.members[i].State, c.members[i].Deadline = events.Cancelled, time.Time{}
	}
	c.members[0].Data = cfg.ExtendedData // a Cancel that cancels someone is the caller's last action
	var out []events.Event
	// A1: the members pending or Accepted after the change, and the caller
	// (the actor, even if it quit), hear of the cancelled invitees (From the
	// caller, the cancel's Data, Reason Cancelled); then each of those gets
	// InvitationCancelled as in general mode (G4); then A4.
	m.tell(c, m.now, events.Event{From: c.caller, Data: cfg.ExtendedData,
		Members: c.copies(targets), Reason: events.ReasonCancelled}, 0, nil, &out)
	for _, i := range targets {
		m.emit(c, &out, events.Event{
			Kind: events.InvitationCancelled, To: c.members[i].User, At: m.now, From: c.caller,
			Data: cfg.ExtendedData, Push: cfg.Push, Members: []events.Member{c.members[i]}, Reason: events.ReasonCancelled,
		})
	}
	m.endIfEmpty(c, m.now, before, &out)
	return out
}

// expireAdvanced is G5 in an advanced call (A1): the invitees at
// timedOut, in member order, timed out at instant. The members pending or
// Accepted after it hear of them (no From, Reason Timeout), then each of
// them gets InvitationTimeout with the Push it was rung with; then A4.
func (m *Model) expireAdvanced(c *modelCall, instant time.Time, timedOut []int, before []bool, out *[]events.Event) {
	m.tell(c, instant, events.Event{Members: c.copies(timedOut), Reason: events.ReasonTimeout}, -1, nil, out)
	for _, i := range timedOut {
		m.emit(c, out, events.Event{
			Kind: events.InvitationTimeout, To: c.members[i].User, At: instant,
			Push: c.rungBy[c.members[i].User], Members: []events.Member{c.members[i]}, Reason: events.ReasonTimeout,
		})
	}
	m.endIfEmpty(c, instant, before, out)
}

// syncDevice is A7: a device of member i, which is not pending, logged in.
// It gets one UserStateChanged on that device alone with every member's
// current state: no From, Reason None.
func (m *Model) syncDevice(c *modelCall, i int, device string, out *[]events.Event) {
	m.emit(c, out, events.Event{
		Kind: events.UserStateChanged, To: c.members[i].User, ToDevice: device, At: m.now,
		Members: slices.Clone(c.members),
	})
}

// tell is A1: e, as UserStateChanged at, goes to every member pending or
// Accepted now and to the actor (-1: none), in member order, except those
// skip marks (the invitees the change rang).
func (m *Model) tell(c *modelCall, at time.Time, e events.Event, actor int, skip []bool, out *[]events.Event) {
	e.Kind, e.At = events.UserStateChanged, at
	for i, mb := range c.members {
		if i < len(skip) && skip[i] {
			continue
		}
		if i != actor && mb.State != events.Accepted && !mb.State.Pending() {
			continue
		}
		e.To = mb.User
		m.emit(c, out, e)
	}
}

// endIfEmpty is A4: an advanced call in which nobody is Accepted and
// nobody is pending is over. InvitationEnded (ReasonEmpty, no From, every
// member) goes to the members that were pending or Accepted before the
// change, in member order.
func (m *Model) endIfEmpty(c *modelCall, at time.Time, before []bool, out *[]events.Event) {
	if c.mode != events.Advanced {
		return
	}
	for _, in := range c.active() {
		if in {
			return
		}
	}
	m.ended(c, at, events.Event{Reason: events.ReasonEmpty}, before, out)
	m.remove(c)
}

// ended sends e as InvitationEnded at, with every member, to the members
// who marks, in member order (A4, A5).
func (m *Model) ended(c *modelCall, at time.Time, e events.Event, who []bool, out *[]events.Event) {
	e.Kind, e.At, e.Members = events.InvitationEnded, at, slices.Clone(c.members)
	for i, mb := range c.members {
		if i < len(who) && who[i] {
			e.To = mb.User
			m.emit(c, out, e)
		}
	}
}

// checkAction checks the extended data and the device of a member's own
// action (Join, Quit, End), in the order of "Which error wins".
func (m *Model) checkAction(data, device string) error {
	if len(data) > m.maxDataLen {
		return call.ErrDataTooLarge
	}
	if device != "" && !validID(device) {
		return call.ErrInvalidArgument
	}
	return nil
}

// copies returns copies of the members at idx, in that order, as an
// event's Members.
func (c *modelCall) copies(idx []int) []events.Member {
	ms := make([]events.Member, len(idx))
	for k, i := range idx {
		ms[k] = c.members[i]
	}
	return ms
}
