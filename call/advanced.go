package call

import (
	"fmt"
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
func (c *callState) active() memberSet {
	var s memberSet
	for i := range c.members() {
		if st := c.members()[i].State; st == events.Accepted || st.Pending() {
			s.add(i)
		}
	}
	return s
}

// tell sends e as UserStateChanged to every member pending or Accepted now
// and to actor (-1: none), skipping those in skip (A1).
func (c *callState) tell(now time.Time, e events.Event, actor int, skip memberSet, out *outbox) {
	e.Kind, e.At = events.UserStateChanged, now
	for i := range c.members() {
		m := &c.members()[i]
		if skip.has(i) || (i != actor && m.State != events.Accepted && !m.State.Pending()) {
			continue
		}
		e.To, e.Offline = m.User, !c.online(i)
		c.emit(out, e)
	}
}

// endIfEmpty ends an advanced call by itself once nobody is Accepted and
// nobody is pending: InvitationEnded (ReasonEmpty, no From) goes to the
// members that were pending or Accepted before the change (A4).
func (c *callState) endIfEmpty(now time.Time, before memberSet, out *outbox) {
	if c.mode != events.Advanced || c.pending > 0 || c.accepted > 0 || c.members()[0].State == events.Accepted {
		return
	}
	if !c.over(cmdEmpty, now) {
		return
	}
	c.ended(now, events.Event{Reason: events.ReasonEmpty}, before, out)
}

// ended sends InvitationEnded, built on e, to the members in who.
func (c *callState) ended(now time.Time, e events.Event, who memberSet, out *outbox) {
	e.Kind, e.At, e.Members = events.InvitationEnded, now, out.clone(c.members())
	for i := range c.members() {
		if who.has(i) {
			u := c.members()[i].User
			e.To, e.Offline = u, !c.online(i)
			c.emit(out, e)
		}
	}
}

// changed returns copies of the members at idx, as an event's Members.
func (c *callState) changed(idx []int, out *outbox) []events.Member {
	ms := out.list(len(idx))
	for k, i := range idx {
		ms[k] = c.members()[i]
	}
	return ms
}

// cancelAdvanced is the effect of Cancel on an advanced call, once every
// check has passed: the members hear of the cancelled invitees, then each of
// those gets InvitationCancelled (A1).
func (c *callState) cancelAdvanced(now time.Time, list []string, cfg *CancelConfig, out *outbox) (failed []string) {
	before := c.active()
	var done []int
	if len(list) == 0 {
		for i := 1; i < len(c.members()); i++ {
			if c.move(i, cmdCancel) {
				done = append(done, i)
			}
		}
	} else {
		for _, u := range list {
			if i := c.index(u); c.move(i, cmdCancel) {
				done = append(done, i)
			} else {
				failed = append(failed, u)
			}
		}
	}
	if done == nil {
		return failed
	}
	c.setData(0, cfg.ExtendedData) // a Cancel that cancels someone is the caller's last action
	c.tell(now, events.Event{From: c.callerID(), Data: cfg.ExtendedData, Members: c.changed(done, out), Reason: events.ReasonCancelled}, 0, memberSet{}, out)
	for _, i := range done {
		u := c.members()[i].User
		c.emit(out, events.Event{
			Kind: events.InvitationCancelled, To: u, Offline: !c.online(i), At: now,
			From: c.callerID(), Data: cfg.ExtendedData, Push: cfg.Push, Members: c.one(i, out), Reason: events.ReasonCancelled,
		})
	}
	c.endIfEmpty(now, before, out)
	return failed
}

// expireAdvanced tells the members of the invitees that timed out at now,
// then each of them (A1), and ends the call if that emptied it (A4).
func (c *callState) expireAdvanced(now time.Time, due []int, timedOut []events.Member, out *outbox) {
	var before memberSet
	for i := range c.members() {
		if st := c.members()[i].State; st == events.Accepted || st.Pending() || slices.Contains(due, i) {
			before.add(i)
		}
	}
	c.tell(now, events.Event{Members: timedOut, Reason: events.ReasonTimeout}, -1, memberSet{}, out)
	for k, i := range due {
		u := c.members()[i].User
		c.emit(out, events.Event{
			Kind: events.InvitationTimeout, To: u, Offline: !c.online(i), At: now,
			Push: c.pushOf(i), Members: timedOut[k : k+1 : k+1], Reason: events.ReasonTimeout,
		})
	}
	c.endIfEmpty(now, before, out)
}

// callingInvite is CallingInvite (A2): an Accepted member invites more
// users. A user new to the call is added at the end; one who rejected,
// timed out, quit or was cancelled is invited again in place. Each gets its
// own deadline and InvitationReceived with the call's extended data.
func (c *callState) callingInvite(now time.Time, user string, list []string, cfg *CallingInviteConfig,
	s *settings, h driver, out *outbox) (InviteResult, error) {
	const op = "calling invite"
	fail := func(sentinel error, detail string) (InviteResult, error) {
		return InviteResult{}, newErr(op, c.id, user, sentinel, detail)
	}
	if c.members()[c.index(user)].State != events.Accepted {
		return fail(ErrNotAccepted, "only a member in the call may invite more")
	}
	a := cfg.inviteArgs(user, c.id, list, c.timeout)
	timeout, err := s.checkInvite(&a, c)
	if err != nil {
		return InviteResult{}, err
	}
	list, failed := h.admitted(list) // H7
	if len(list) == 0 {
		return fail(ErrNoInvitees, "Options.Admit refused every invitee")
	}
	if err := h.commit(); err != nil {
		return InviteResult{}, err
	}

	deadline := now.Add(timeout)
	rung := make([]int, 0, len(list))
	var skip, busy memberSet
	for _, u := range list {
		isBusy := h.busy(u, c) // H2: decided before anything of this command changes
		i := c.index(u)
		if i < 0 {
			i = c.addMember(events.Member{User: u, State: memberInitial})
			c.pending++
			h.link(c, i)
		} else {
			c.move(i, cmdReinvite)
		}
		m := &c.members()[i]
		m.Inviter, m.Deadline = user, deadline
		c.setPush(i, cfg.Push)
		if isBusy {
			c.move(i, cmdReject)
			busy.add(i)
			continue
		}
		if c.online(i) {
			c.move(i, cmdDeliver)
		} else if s.notReceived > 0 {
			c.setCheck(i, now.Add(s.notReceived)) // H6
		}
		rung = append(rung, i)
		skip.add(i)
	}
	if len(rung) > 0 {
		c.tell(now, events.Event{From: user, Members: c.changed(rung, out)}, c.index(user), skip, out)
	}
	all := out.clone(c.members())
	for _, i := range rung {
		m := &all[i]
		c.emit(out, events.Event{
			Kind: events.InvitationReceived, To: m.User, Offline: m.State != events.Received, At: now,
			From: user, Data: c.inviteData(), Push: cfg.Push, Deadline: m.Deadline, Members: all,
		})
	}
	for i := range c.members() {
		if busy.has(i) {
			c.busyReject(now, i, skip, out)
		}
	}
	return InviteResult{CallID: c.id, Timeout: timeout, Deadline: deadline, Failed: failed}, nil
}

// listed checks a CallingInvite's list against the members of c, at its
// place in the order of checkInvite: naming the caller, or a member who is
// pending or Accepted, is ErrDuplicateInvitee (A2); a member who rejected,
// timed out, quit or was cancelled is invited again in place. It returns
// how many listed users are new to the call.
func (c *callState) listed(op, user string, list []string) (added int, err error) {
	for _, u := range list {
		switch i := c.index(u); {
		case i == 0:
			return 0, newErr(op, c.id, user, ErrDuplicateInvitee, quoteID(u)+" is the caller (who comes back with Join)")
		case i < 0:
			added++
		case c.members()[i].State == events.Accepted || c.members()[i].State.Pending():
			return 0, newErr(op, c.id, user, ErrDuplicateInvitee, quoteID(u)+" is already "+c.members()[i].State.String())
		}
	}
	return added, nil
}

// join is Join (A3): a member not in the call enters it as Accepted. Joining
// while Accepted is a no-op.
func (c *callState) join(now time.Time, user string, cfg *JoinConfig, maxData int, h driver, out *outbox) (Info, error) {
	const op = "join"
	i := c.index(user)
	m := &c.members()[i]
	if m.State == events.Accepted {
		return c.info(), nil
	}
	if err := checkAction(op, c.id, user, cfg.ExtendedData, cfg.Device, maxData); err != nil {
		return Info{}, err
	}
	if err := h.commit(); err != nil {
		return Info{}, err
	}
	c.move(i, cmdJoin)
	c.setData(i, cfg.ExtendedData)
	c.tell(now, events.Event{From: user, Device: cfg.Device, Data: cfg.ExtendedData, Members: c.one(i, out)}, i, memberSet{}, out)
	return c.info(), nil
}

// quit is Quit (A4): a member in the call leaves it; if nobody is left in it
// or rung, the call ends by itself.
func (c *callState) quit(now time.Time, user string, cfg *QuitConfig, maxData int, h driver, out *outbox) error {
	const op = "quit"
	i := c.index(user)
	m := &c.members()[i]
	if m.State != events.Accepted {
		return newErr(op, c.id, user, ErrNotAccepted, "the user is "+m.State.String())
	}
	if err := checkAction(op, c.id, user, cfg.ExtendedData, cfg.Device, maxData); err != nil {
		return err
	}
	if err := h.commit(); err != nil {
		return err
	}
	before := c.active()
	c.move(i, cmdQuit)
	c.setData(i, cfg.ExtendedData)
	c.tell(now, events.Event{From: user, Device: cfg.Device, Data: cfg.ExtendedData, Members: c.one(i, out)}, i, memberSet{}, out)
	c.endIfEmpty(now, before, out)
	return nil
}

// end is End (A5): a member in the call ends it for everyone. Every member
// pending or Accepted gets InvitationEnded; the pending end as Cancelled.
func (c *callState) end(now time.Time, user string, cfg *EndConfig, maxData int, h driver, out *outbox) error {
	const op = "end"
	i := c.index(user)
	if st := c.members()[i].State; st != events.Accepted {
		return newErr(op, c.id, user, ErrNotAccepted, "the user is "+st.String())
	}
	if err := checkAction(op, c.id, user, cfg.ExtendedData, cfg.Device, maxData); err != nil {
		return err
	}
	if err := h.commit(); err != nil {
		return err
	}
	who := c.active()
	if !c.over(cmdEnd, now) {
		return newErr(op, c.id, user, ErrCallNotFound, "")
	}
	c.setData(i, cfg.ExtendedData) // End is the ender's last action
	for j := range c.members() {
		c.move(j, cmdCancel) // only the pending move
	}
	c.ended(now, events.Event{From: user, Device: cfg.Device, Data: cfg.ExtendedData, Reason: events.ReasonEnded}, who, out)
	return nil
}

// checkAction checks the extended data and device of a member's own action.
func checkAction(op, callID, user, data, device string, maxData int) error {
	if len(data) > maxData {
		return newErr(op, callID, user, ErrDataTooLarge, fmt.Sprintf("%d bytes, at most %d", len(data), maxData))
	}
	if !validDevice(device) {
		return newErr(op, callID, user, ErrInvalidArgument, "invalid device ID "+quoteID(device))
	}
	return nil
}

// noPush marks a member rung by a CallingInvite without push settings.
var noPush = &events.Push{}

// setPush records the push settings member i was rung with. A push equal to
// the Invite's is not stored, so most calls keep no per-member pushes.
func (c *callState) setPush(i int, p *events.Push) {
	if p == nil {
		p = noPush
	}
	push := c.invitePush()
	if p == push || (p != noPush && push != nil && *p == *push) {
		if c.x != nil && i < len(c.x.pushes) {
			c.x.pushes[i] = nil
		}
		return
	}
	x := c.extras()
	for len(x.pushes) <= i {
		x.pushes = append(x.pushes, nil)
	}
	x.pushes[i] = p
}
