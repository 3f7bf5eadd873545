package core

import (
	"slices"
	"time"

	"github.com/callsig/callsig/events"
)

// General mode (RULES.md §3), and what both modes share: a new call (G2),
// answers (G3), cancels (G4), timeouts (G5), the end of a general call
// (G6), a caller going offline (G7) and a device logging in (G8).

// Opening is a new call: an Invite that passed its checks.
type Opening struct {
	ID       string
	Caller   string
	Invitees []string // the invitees Options.Admit let through, in the order given
	Mode     events.Mode
	Timeout  time.Duration // the invitations': the Invite's, or the default
	Data     string        // the Invite's extended data
	Push     *events.Push
}

// Open makes c, an empty call with room for the caller and the invitees,
// the call o describes at now: the caller Accepted, every invitee Inviting
// until now+timeout. It emits nothing: the driver files the members under
// their users, which tells it which are online, then calls Ring. It returns
// the invitations' deadline.
func (c *Call) Open(now time.Time, o *Opening) (deadline time.Time) {
	c.id, c.mode, c.timeout = o.ID, o.Mode, o.Timeout
	c.setCreated(now)
	if o.Push != nil {
		c.MakeExtras().Push = o.Push
	}
	c.n = uint8(1 + len(o.Invitees))
	ms := c.Members()
	ms[0] = events.Member{User: o.Caller, State: events.Accepted, Data: o.Data}
	deadline = now.Add(o.Timeout)
	for i, u := range o.Invitees {
		ms[1+i] = events.Member{User: u, State: memberInitial, Inviter: o.Caller, Deadline: deadline}
	}
	c.pending = int16(len(o.Invitees))
	return deadline
}

// Ring emits G2's events for the call Open just made: InvitationCreated to
// the caller, then InvitationReceived to each invitee in the order given.
// An invitee with an online device (in online) is delivered at once; those
// in busy are rejected at once with ReasonBusy instead of being rung (H2).
// With lim.NotReceived set, each invitee left Inviting gets its
// not-received check (H6).
func (c *Call) Ring(now time.Time, online, busy Set, lim *Limits, out *Outbox) {
	// Open gave every invitee the one deadline, now+timeout: read before
	// any invitee leaves Inviting (and its deadline with it).
	ms := c.Members()
	deadline := ms[1].Deadline
	for i := 1; i < len(ms); i++ {
		switch {
		case busy.Has(i):
			c.move(i, cmdReject)
		case online.Has(i):
			c.move(i, cmdDeliver)
		}
	}
	all := out.clone(ms)
	e := c.next(out, events.InvitationCreated, c.Caller(), !online.Has(0), now)
	e.From, e.Data, e.Deadline, e.Members = c.Caller(), c.InviteData(), deadline, all
	for i, m := range all[1:] {
		if busy.Has(1 + i) {
			continue
		}
		e := c.next(out, events.InvitationReceived, m.User, m.State != events.Received, now)
		e.From, e.Data, e.Push, e.Deadline, e.Members = m.Inviter, c.InviteData(), c.InvitePush(), m.Deadline, all
	}
	var rung Set
	for i := 1; i < len(ms); i++ {
		if !busy.Has(i) {
			rung.Add(i)
		}
	}
	for i := 1; i < len(ms); i++ {
		if busy.Has(i) {
			c.busyReject(now, i, rung, online, out)
		}
	}
	if d := lim.NotReceived; d > 0 { // H6
		for i := 1; i < len(ms); i++ {
			if ms[i].State == events.Inviting {
				c.setCheck(i, now.Add(d))
			}
		}
	}
	c.settle()
}

// busyReject tells of member i, rejected at once because it is busy in
// another call (H2): the caller gets InvitationRejected from it; in advanced
// mode every member pending or Accepted, except those the same command rang,
// gets UserStateChanged instead. The busy invitee itself is not told.
func (c *Call) busyReject(now time.Time, i int, rung, online Set, out *Outbox) {
	e := events.Event{At: now, From: c.Members()[i].User, Members: c.alone(i, out), Reason: events.ReasonBusy}
	if c.mode == events.General {
		e.Kind, e.To, e.Offline = events.InvitationRejected, c.Caller(), !online.Has(0)
		c.emit(out, e)
		return
	}
	c.tellMembers(now, e, -1, rung, online, out)
}

// Answer is an Accept or a Reject that passed its checks.
type Answer struct {
	member       int
	cmd          memberCmd
	data, device string
	Noop         bool // the answer repeats the one already given: nothing to journal, nothing changes (G3)
}

// CheckAnswer checks an Accept (accept set) or a Reject by user, a member
// of c (G3). The caller may not answer its own call; repeating the answer
// already given is a no-op; any other answer to an invitation no longer
// pending is refused with NotPending.
func (c *Call) CheckAnswer(user string, accept bool, data, device string, maxData int) (Answer, Refusal) {
	cmd := cmdReject
	if accept {
		cmd = cmdAccept
	}
	i := c.Index(user)
	if i == 0 {
		return Answer{}, refuse(NotInvitee, "the caller cannot answer its own call")
	}
	m := &c.Members()[i]
	if _, ok := nextMember(m.State, cmd); !ok {
		if m.State == answerTarget[cmd] {
			return Answer{Noop: true}, Refusal{}
		}
		return Answer{}, refuse(NotPending, "the invitation is "+m.State.String())
	}
	if r := CheckAction(data, device, maxData); r.Refused() {
		return Answer{}, r
	}
	return Answer{member: i, cmd: cmd, data: data, device: device}, Refusal{}
}

// answerTarget[cmd] is where an answer leads from a pending state, read off
// the declaration so that the no-op rule of G3 follows it.
var answerTarget = [numMemberCmds]events.State{
	cmdAccept: events.State(memberNext[events.Received][cmdAccept]),
	cmdReject: events.State(memberNext[events.Received][cmdReject]),
}

// ApplyAnswer applies an answer CheckAnswer let through (not a no-op): in
// general mode the caller gets InvitationAccepted or InvitationRejected,
// then the invitee UserStateChanged about itself, so that its other
// devices stop ringing; in advanced mode the members are told (A1).
func (c *Call) ApplyAnswer(now time.Time, a Answer, online Set, out *Outbox) {
	i := a.member
	var before Set
	if c.mode == events.Advanced {
		before = c.active()
	}
	c.move(i, a.cmd)
	c.setData(i, a.data)
	kind, reason := events.InvitationAccepted, events.ReasonNone
	if a.cmd == cmdReject {
		kind, reason = events.InvitationRejected, events.ReasonRejected
	}
	user := c.Members()[i].User
	if c.mode == events.Advanced { // A1
		c.tellMembers(now, events.Event{From: user, Device: a.device, Data: a.data, Members: c.alone(i, out), Reason: reason}, i, Set{}, online, out)
		c.endIfEmpty(now, before, online, out)
		return
	}
	members := c.alone(i, out)
	e := c.next(out, kind, c.Caller(), !online.Has(0), now)
	e.From, e.Device, e.Data, e.Members, e.Reason = user, a.device, a.data, members, reason
	e = c.next(out, events.UserStateChanged, user, !online.Has(i), now)
	e.From, e.Device, e.Data, e.Members, e.Reason = user, a.device, a.data, members, reason
	c.settle()
}

// Cancellation is a Cancel that passed its checks.
type Cancellation struct {
	list []string
	data string
	push *events.Push
}

// CheckCancel checks a Cancel by user, a member of c, of the invitees in
// list (empty: every pending invitee) (G4). The list checks each run over
// the whole list before the next, in RULES.md §2's order.
func (c *Call) CheckCancel(user string, list []string, data string, push *events.Push, maxData int) (Cancellation, Refusal) {
	if user != c.Caller() {
		return Cancellation{}, refuse(NotInviter, "only the caller may cancel")
	}
	if r := checkInviteeIDs(list); r.Refused() {
		return Cancellation{}, r
	}
	for _, u := range list {
		if c.Index(u) <= 0 {
			return Cancellation{}, refuse(NotInvitee, QuoteID(u)+" is not an invitee of the call")
		}
	}
	var seen Set
	for _, u := range list {
		if !seen.Add(c.Index(u)) {
			return Cancellation{}, listedTwice(u)
		}
	}
	if r := CheckData(data, maxData); r.Refused() {
		return Cancellation{}, r
	}
	if r := checkPush(push, maxData); r.Refused() {
		return Cancellation{}, r
	}
	if len(list) == 0 && c.accepted > 0 {
		return Cancellation{}, refuse(AlreadyAccepted, "")
	}
	return Cancellation{list: list, data: data, push: push}, Refusal{}
}

// ApplyCancel applies a Cancel CheckCancel let through, and returns the
// users of a non-empty list who were not pending, in list order. Each
// cancelled invitee gets InvitationCancelled; a Cancel that cancels
// someone is the caller's last action.
func (c *Call) ApplyCancel(now time.Time, p Cancellation, online Set, out *Outbox) (failed []string) {
	if c.mode == events.Advanced {
		return c.cancelAdvanced(now, p, online, out)
	}
	cancelled := false
	if len(p.list) == 0 {
		for i := 1; i < len(c.Members()); i++ {
			cancelled = c.cancelOne(now, i, events.ReasonCancelled, p.data, p.push, online, out) || cancelled
		}
	} else {
		for _, u := range p.list {
			if c.cancelOne(now, c.Index(u), events.ReasonCancelled, p.data, p.push, online, out) {
				cancelled = true
			} else {
				failed = append(failed, u)
			}
		}
	}
	if cancelled {
		c.setData(0, p.data) // a Cancel that cancels someone is the caller's last action
	}
	c.settle()
	return failed
}

// cancelOne cancels member i if it is pending, telling it why.
func (c *Call) cancelOne(now time.Time, i int, reason events.Reason, data string, push *events.Push,
	online Set, out *Outbox) bool {
	if !c.move(i, cmdCancel) {
		return false
	}
	u := c.Members()[i].User
	c.emit(out, events.Event{
		Kind: events.InvitationCancelled, To: u, Offline: !online.Has(i), At: now,
		From: c.Caller(), Data: data, Push: push, Members: c.alone(i, out), Reason: reason,
	})
	return true
}

// CallerOffline is G7: the caller's last device logged out. If no invitee
// is Accepted now, every pending invitee is cancelled and the call is over.
func (c *Call) CallerOffline(now time.Time, online Set, out *Outbox) {
	if c.accepted > 0 {
		return
	}
	for i := 1; i < len(c.Members()); i++ {
		c.cancelOne(now, i, events.ReasonCallerOffline, "", c.pushOf(i), online, out)
	}
	c.end(cmdCallerOffline)
}

// Expire is what falls due at the instant now, of the given kind: the
// not-received checks (H6), or G5: every pending invitee whose deadline is
// now times out; the caller hears of them together, then each of them (in
// advanced mode, the members hear of them; A1).
func (c *Call) Expire(now time.Time, kind DueKind, online Set, out *Outbox) {
	if kind == DueCheck {
		c.notReceived(now, online, out)
		return
	}
	var buf [8]int // no allocation for the common small call
	due := buf[:0]
	for i := 1; i < len(c.Members()); i++ {
		if m := &c.Members()[i]; m.State.Pending() && !m.Deadline.After(now) && c.move(i, cmdTimeout) {
			due = append(due, i)
		}
	}
	if len(due) == 0 {
		return
	}
	var timedOut []events.Member
	if first, last := due[0], due[len(due)-1]; c.mode == events.General && last-first+1 == len(due) {
		// Final general-mode members, side by side: share them (see alone).
		timedOut = c.Members()[first : last+1 : last+1]
	} else {
		timedOut = out.list(len(due))
		for k, i := range due {
			timedOut[k] = c.Members()[i]
		}
	}
	if c.mode == events.Advanced {
		c.expireAdvanced(now, slices.Clone(due), timedOut, online, out)
		return
	}
	c.emit(out, events.Event{
		Kind: events.InviteesAnsweredTimeout, To: c.Caller(), Offline: !online.Has(0), At: now,
		Members: timedOut, Reason: events.ReasonTimeout,
	})
	for _, i := range due {
		u := c.Members()[i].User
		c.emit(out, events.Event{
			Kind: events.InvitationTimeout, To: u, Offline: !online.Has(i), At: now,
			Push: c.pushOf(i), Members: c.alone(i, out), Reason: events.ReasonTimeout,
		})
	}
	c.settle()
}

// LoggedIn is G8 for member i: device, a device of its user, just logged
// in. A pending invitation is sent again to that device alone, with its
// original deadline; one not yet delivered becomes Received. In advanced
// mode, a member that is not pending gets the whole call's state instead
// (A7). It never ends the call.
func (c *Call) LoggedIn(now time.Time, i int, device string, online Set, out *Outbox) {
	m := &c.Members()[i]
	if !m.State.Pending() {
		if c.mode == events.Advanced { // A7: bring the device up to date
			c.emit(out, events.Event{
				Kind: events.UserStateChanged, To: m.User, ToDevice: device, At: now, Members: out.clone(c.Members()),
			})
		}
		return
	}
	wasNotReceived := m.State == events.NotYetReceived
	c.move(i, cmdDeliver)
	c.emit(out, events.Event{
		Kind: events.InvitationReceived, To: m.User, ToDevice: device, At: now,
		From: m.Inviter, Data: c.InviteData(), Push: c.pushOf(i), Deadline: m.Deadline, Members: out.clone(c.Members()),
	})
	if wasNotReceived { // H6: those told it was not received learn it now is
		c.tellReceipt(now, i, events.Event{From: m.User, Device: device}, online, out)
	}
}

// settle ends a general-mode call once no invitee is pending (G6).
func (c *Call) settle() {
	if c.pending > 0 || c.mode != events.General {
		return
	}
	c.end(cmdSettle)
}
