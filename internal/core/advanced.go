package core

import (
	"slices"
	"time"

	"github.com/callsig/callsig/events"
)

// Advanced mode (RULES.md §4). An advanced call lives until a member ends it, or
// until nobody is in it and nobody is rung (A4). Instead of the caller's
// InvitationAccepted, InvitationRejected and InviteesAnsweredTimeout, every
// member that is pending or Accepted after a change, and the member whose
// own action it was, gets UserStateChanged listing the changed members
// (A1): the members are told first, in member order, then the invitees the
// change rang, cancelled or timed out get InvitationReceived,
// InvitationCancelled or InvitationTimeout, in list (or invite) order.

// active returns the members that are pending or Accepted.
func (c *Call) active() Set {
	var s Set
	for i := range c.Members() {
		if st := c.Members()[i].State; st == events.Accepted || st.Pending() {
			s.Add(i)
		}
	}
	return s
}

// tellMembers sends e as UserStateChanged to every member pending or
// Accepted now and to actor (-1: none), skipping those in skip (A1).
func (c *Call) tellMembers(now time.Time, e events.Event, actor int, skip, online Set, out *Outbox) {
	e.Kind, e.At = events.UserStateChanged, now
	for i := range c.Members() {
		m := &c.Members()[i]
		if skip.Has(i) || (i != actor && m.State != events.Accepted && !m.State.Pending()) {
			continue
		}
		e.To, e.Offline = m.User, !online.Has(i)
		c.emit(out, e)
	}
}

// endIfEmpty ends an advanced call by itself once nobody is Accepted and
// nobody is pending: InvitationEnded (ReasonEmpty, no From) goes to the
// members that were pending or Accepted before the change (A4).
func (c *Call) endIfEmpty(now time.Time, before, online Set, out *Outbox) {
	if c.mode != events.Advanced || c.pending > 0 || c.accepted > 0 || c.Members()[0].State == events.Accepted {
		return
	}
	if !c.end(cmdEmpty) {
		return
	}
	c.tellEnded(now, events.Event{Reason: events.ReasonEmpty}, before, online, out)
}

// tellEnded sends InvitationEnded, built on e, to the members in who.
func (c *Call) tellEnded(now time.Time, e events.Event, who, online Set, out *Outbox) {
	e.Kind, e.At, e.Members = events.InvitationEnded, now, out.clone(c.Members())
	for i := range c.Members() {
		if who.Has(i) {
			e.To, e.Offline = c.Members()[i].User, !online.Has(i)
			c.emit(out, e)
		}
	}
}

// changed returns copies of the members at idx, as an event's Members.
func (c *Call) changed(idx []int, out *Outbox) []events.Member {
	ms := out.list(len(idx))
	for k, i := range idx {
		ms[k] = c.Members()[i]
	}
	return ms
}

// cancelAdvanced is the effect of Cancel on an advanced call: the members
// hear of the cancelled invitees, then each of those gets
// InvitationCancelled (A1).
func (c *Call) cancelAdvanced(now time.Time, p Cancellation, online Set, out *Outbox) (failed []string) {
	before := c.active()
	var done []int
	if len(p.list) == 0 {
		for i := 1; i < len(c.Members()); i++ {
			if c.move(i, cmdCancel) {
				done = append(done, i)
			}
		}
	} else {
		for _, u := range p.list {
			if i := c.Index(u); c.move(i, cmdCancel) {
				done = append(done, i)
			} else {
				failed = append(failed, u)
			}
		}
	}
	if done == nil {
		return failed
	}
	c.setData(0, p.data) // a Cancel that cancels someone is the caller's last action
	c.tellMembers(now, events.Event{From: c.Caller(), Data: p.data, Members: c.changed(done, out), Reason: events.ReasonCancelled}, 0, Set{}, online, out)
	for _, i := range done {
		u := c.Members()[i].User
		c.emit(out, events.Event{
			Kind: events.InvitationCancelled, To: u, Offline: !online.Has(i), At: now,
			From: c.Caller(), Data: p.data, Push: p.push, Members: c.alone(i, out), Reason: events.ReasonCancelled,
		})
	}
	c.endIfEmpty(now, before, online, out)
	return failed
}

// expireAdvanced tells the members of the invitees that timed out at now,
// then each of them (A1), and ends the call if that emptied it (A4).
func (c *Call) expireAdvanced(now time.Time, due []int, timedOut []events.Member, online Set, out *Outbox) {
	var before Set
	for i := range c.Members() {
		if st := c.Members()[i].State; st == events.Accepted || st.Pending() || slices.Contains(due, i) {
			before.Add(i)
		}
	}
	c.tellMembers(now, events.Event{Members: timedOut, Reason: events.ReasonTimeout}, -1, Set{}, online, out)
	for k, i := range due {
		u := c.Members()[i].User
		c.emit(out, events.Event{
			Kind: events.InvitationTimeout, To: u, Offline: !online.Has(i), At: now,
			Push: c.pushOf(i), Members: timedOut[k : k+1 : k+1], Reason: events.ReasonTimeout,
		})
	}
	c.endIfEmpty(now, before, online, out)
}

// CheckCallingInvite checks a CallingInvite (A2) into c, an advanced call
// user is a member of, whose arguments are a (a.Default: the call's
// timeout), and returns the timeout the invitations get. Only a member in
// the call (Accepted) may invite more; then CheckInvite runs with the call.
func (c *Call) CheckCallingInvite(a *InviteArgs, lim *Limits) (time.Duration, Refusal) {
	if c.Members()[c.Index(a.User)].State != events.Accepted {
		return 0, refuse(NotAccepted, "only a member in the call may invite more")
	}
	return CheckInvite(a, c, lim)
}

// listed checks a CallingInvite's list against the members of c, at its
// place in the order of CheckInvite: naming the caller, or a member who is
// pending or Accepted, is refused with DuplicateInvitee (A2); a member who
// rejected, timed out, quit or was cancelled is invited again in place. It
// returns how many listed users are new to the call.
func (c *Call) listed(list []string) (added int, r Refusal) {
	for _, u := range list {
		switch i := c.Index(u); {
		case i == 0:
			return 0, refuse(DuplicateInvitee, QuoteID(u)+" is the caller (who comes back with Join)")
		case i < 0:
			added++
		case c.Members()[i].State == events.Accepted || c.Members()[i].State.Pending():
			return 0, refuse(DuplicateInvitee, QuoteID(u)+" is already "+c.Members()[i].State.String())
		}
	}
	return added, Refusal{}
}

// Newcomers returns how many users of list are not members of c: the room
// a CallingInvite of list needs beyond the members c has.
func (c *Call) Newcomers(list []string) int {
	n := 0
	for _, u := range list {
		if c.Index(u) < 0 {
			n++
		}
	}
	return n
}

// Enrol adds the users of list who are not members of c at the end, in
// list order, Inviting: the first step of a CallingInvite that passed its
// checks, on a call with room for them (see Newcomers). It emits nothing:
// the driver files the new members under their users, which tells it
// which are online, then calls ApplyCallingInvite.
func (c *Call) Enrol(list []string) {
	for _, u := range list {
		if c.Index(u) < 0 {
			i := int(c.n)
			c.n++
			c.Members()[i] = events.Member{User: u, State: memberInitial}
			c.pending++
		}
	}
}

// ApplyCallingInvite rings the users of list, enrolled (see Enrol), on
// behalf of user, with the given timeout and push (A2): a user new to the
// call is at the end, one who rejected, timed out, quit or was cancelled
// is invited again in place. Each gets its own deadline and
// InvitationReceived with the call's extended data, and the members are
// told (A1). Those in busy are rejected at once instead (H2).
func (c *Call) ApplyCallingInvite(now time.Time, user string, list []string, timeout time.Duration, push *events.Push,
	online, busy Set, lim *Limits, out *Outbox) {
	deadline := now.Add(timeout)
	rung := make([]int, 0, len(list))
	var skip Set
	for _, u := range list {
		i := c.Index(u)
		if c.Members()[i].State != memberInitial { // not new: it left or never answered
			c.move(i, cmdReinvite)
		}
		m := &c.Members()[i]
		m.Inviter, m.Deadline = user, deadline
		c.setPush(i, push)
		if busy.Has(i) {
			c.move(i, cmdReject)
			continue
		}
		if online.Has(i) {
			c.move(i, cmdDeliver)
		} else if lim.NotReceived > 0 {
			c.setCheck(i, now.Add(lim.NotReceived)) // H6
		}
		rung = append(rung, i)
		skip.Add(i)
	}
	if len(rung) > 0 {
		c.tellMembers(now, events.Event{From: user, Members: c.changed(rung, out)}, c.Index(user), skip, online, out)
	}
	all := out.clone(c.Members())
	for _, i := range rung {
		m := &all[i]
		c.emit(out, events.Event{
			Kind: events.InvitationReceived, To: m.User, Offline: m.State != events.Received, At: now,
			From: user, Data: c.InviteData(), Push: push, Deadline: m.Deadline, Members: all,
		})
	}
	for i := range c.Members() {
		if busy.Has(i) {
			c.busyReject(now, i, skip, online, out)
		}
	}
}

// Action is a Join, Quit or End that passed its checks.
type Action struct {
	member       int
	data, device string
	Noop         bool // a Join by a member already in the call: nothing to journal, nothing changes (A3)
}

// CheckJoin checks a Join by user, a member of c (A3): joining while
// Accepted is a no-op.
func (c *Call) CheckJoin(user, data, device string, maxData int) (Action, Refusal) {
	i := c.Index(user)
	if c.Members()[i].State == events.Accepted {
		return Action{Noop: true}, Refusal{}
	}
	if r := CheckAction(data, device, maxData); r.Refused() {
		return Action{}, r
	}
	return Action{member: i, data: data, device: device}, Refusal{}
}

// ApplyJoin makes the joining member Accepted and tells the members (A3).
func (c *Call) ApplyJoin(now time.Time, a Action, online Set, out *Outbox) {
	i := a.member
	c.move(i, cmdJoin)
	c.setData(i, a.data)
	c.tellMembers(now, events.Event{From: c.Members()[i].User, Device: a.device, Data: a.data, Members: c.alone(i, out)}, i, Set{}, online, out)
}

// CheckQuit checks a Quit by user, a member of c (A4): only a member in
// the call (Accepted) may leave it.
func (c *Call) CheckQuit(user, data, device string, maxData int) (Action, Refusal) {
	return c.checkInCall(user, data, device, maxData)
}

// checkInCall checks an action only a member in the call (Accepted) may
// take, with its data and device.
func (c *Call) checkInCall(user, data, device string, maxData int) (Action, Refusal) {
	i := c.Index(user)
	if st := c.Members()[i].State; st != events.Accepted {
		return Action{}, refuse(NotAccepted, "the user is "+st.String())
	}
	if r := CheckAction(data, device, maxData); r.Refused() {
		return Action{}, r
	}
	return Action{member: i, data: data, device: device}, Refusal{}
}

// ApplyQuit makes the member leave the call and tells the members; if
// nobody is left in it or rung, the call ends by itself (A4).
func (c *Call) ApplyQuit(now time.Time, a Action, online Set, out *Outbox) {
	i := a.member
	before := c.active()
	c.move(i, cmdQuit)
	c.setData(i, a.data)
	c.tellMembers(now, events.Event{From: c.Members()[i].User, Device: a.device, Data: a.data, Members: c.alone(i, out)}, i, Set{}, online, out)
	c.endIfEmpty(now, before, online, out)
}

// CheckEnd checks an End by user, a member of c (A5): only a member in the
// call (Accepted) may end it.
func (c *Call) CheckEnd(user, data, device string, maxData int) (Action, Refusal) {
	a, r := c.checkInCall(user, data, device, maxData)
	if !r.Refused() {
		if _, ok := nextCall(c.status, cmdEnd); !ok {
			return Action{}, refuse(CallNotFound, "")
		}
	}
	return a, r
}

// ApplyEnd ends the call for everyone (A5): every member pending or
// Accepted gets InvitationEnded; the pending end as Cancelled.
func (c *Call) ApplyEnd(now time.Time, a Action, online Set, out *Outbox) {
	i := a.member
	who := c.active()
	c.end(cmdEnd)
	c.setData(i, a.data) // End is the ender's last action
	for j := range c.Members() {
		c.move(j, cmdCancel) // only the pending move
	}
	c.tellEnded(now, events.Event{From: c.Members()[i].User, Device: a.device, Data: a.data, Reason: events.ReasonEnded}, who, online, out)
}

// setPush records the push settings member i was rung with. A push equal to
// the Invite's is not stored, so most calls keep no per-member pushes.
func (c *Call) setPush(i int, p *events.Push) {
	if p == nil {
		p = NoPush
	}
	push := c.InvitePush()
	if p == push || (p != NoPush && push != nil && *p == *push) {
		if c.extras != nil && i < len(c.extras.Pushes) {
			c.extras.Pushes[i] = nil
		}
		return
	}
	x := c.MakeExtras()
	for len(x.Pushes) <= i {
		x.Pushes = append(x.Pushes, nil)
	}
	x.Pushes[i] = p
}
