package call

import (
	"fmt"
	"slices"
	"time"
	"unsafe"

	"github.com/callsig/callsig/events"
)

// callState is one call's machine: the pure core of callsig. Its methods
// take the time as an argument; they read no clock, take no lock and call no
// Sink. They append the events a change produces to an outbox, and the
// Registry (the driver) delivers them once its lock is released. A command's
// checks all run before its first change, so a refused command leaves the
// call as it found it (G1).
//
// A million of these may be pending at once (B3), so the record keeps
// nothing twice and nothing it can compute: the caller is the first member,
// the Invite's data the caller's own until it changes, the next due instant
// lives only in the deadline heap, members and links are reached by pointer
// and count, the creation time takes 12 bytes and the end time is an offset
// from it, the counters are narrow and packed, and what most calls never
// use sits in extras, made on first use.
type callState struct {
	id        string
	mem       *events.Member // the members' array: see members
	lk        *memberLink    // the links' array: see links
	x         *callExtras    // nil until the call needs one of them
	timeout   time.Duration
	createdS  int64         // when the call was made: Unix seconds (see createdAt)
	endedAt   time.Duration // once over: when it ended, after createdAt (H8)
	order     uint64        // creation order among calls (the Time rule)
	seq       uint64        // the last Seq handed out (G9)
	dueHandle int32         // handle into the Registry's deadline heap; noSlot when absent
	createdN  int32         // when the call was made: the nanoseconds of createdS
	pending   int16         // invitees pending (a call has at most 101 members)
	accepted  int16         // invitees Accepted
	n, room   uint8         // members (and links) in use, and the room in their arrays
	mode      events.Mode
	status    callStatus // the call lifecycle
	// No field may be added here without moving a pending one-invitee call
	// into a bigger size class: callOf2 is 320 bytes, the top of its class
	// (TestCallRecordSize, B3).
}

// callExtras holds the parts of a call that most calls never use, so that
// a plain call does not pay for them.
type callExtras struct {
	data       string         // the Invite's extended data, once the caller's own Data differs (see inviteData)
	dataPinned bool           // data is set
	push       *events.Push   // the Invite's push settings
	retry      *retry         // H4: set for a host-chosen CallID
	merged     []mergedRetry  // H4: invites with a host-chosen CallID that H3 merged into this call
	pushes     []*events.Push // advanced mode: per member, the push of the CallingInvite that rang it last; nil: push
	checks     []time.Time    // H6: per member, when its not-received check runs (zero: none)
}

// A call of up to 9 invitees, the most an Invite may ring, keeps its
// members and links in the same allocation as the call: one allocation per
// call, sized by tier so that a one-invitee call, the common case, does not
// pay for nine. Only an advanced call that grows past its tier moves them
// out (see relink).
//
// By default the record goes to the collector with the call: the events of
// answers and timeouts hand the Sink slices of its members (see one), which
// the Sink may keep, and the members are best kept inside the record, where
// an answer at a million live calls reads them from one place in memory.
// A reused record would have to take a new members' array beside it and
// keep the old one's strings alive with it. With TransientMembers the
// record is reused.
type (
	callOf2 struct {
		callState
		members [2]events.Member
		links   [2]memberLink
	}
	callOf4 struct {
		callState
		members [4]events.Member
		links   [4]memberLink
	}
	callOf10 struct {
		callState
		members [10]events.Member
		links   [10]memberLink
	}
)

// tierRooms are the rooms of the tiered records (callOf2, callOf4,
// callOf10), smallest first.
var tierRooms = [...]int{2, 4, 10}

// tierFor returns the tier of the smallest record that holds n members, or
// -1 for more than the largest holds.
func tierFor(n int) int {
	for t, room := range tierRooms {
		if n <= room {
			return t
		}
	}
	return -1
}

// allocCall returns a call record with n members (n <= maxMembers).
func allocCall(n int) *callState {
	var c *callState
	switch tierFor(n) {
	case 0:
		s := &callOf2{}
		c = &s.callState
		c.mem, c.lk, c.room = &s.members[0], &s.links[0], uint8(len(s.members))
	case 1:
		s := &callOf4{}
		c = &s.callState
		c.mem, c.lk, c.room = &s.members[0], &s.links[0], uint8(len(s.members))
	case 2:
		s := &callOf10{}
		c = &s.callState
		c.mem, c.lk, c.room = &s.members[0], &s.links[0], uint8(len(s.members))
	default:
		c = &callState{}
		c.place(n)
	}
	c.n = uint8(n)
	return c
}

// maxMembers is the most members a call can have: the caller and
// maxMaxInvitees invitees.
const maxMembers = maxMaxInvitees + 1

// members returns the call's members: the caller first, then the invitees
// in the order invited. The record keeps a pointer to their array and a
// count rather than a slice, 16 bytes less per call (B3); the slice made
// here costs nothing.
func (c *callState) members() []events.Member { return unsafe.Slice(c.mem, c.n) }

// links returns the call's member links: links()[i] ties members()[i] to
// its user's record (presence.go).
func (c *callState) links() []memberLink { return unsafe.Slice(c.lk, c.n) }

// place moves the members and links to new arrays with room for n, which
// only an advanced call that grows past its tier needs (CallingInvite).
// Events handed out before keep the old members' array, which nothing
// writes any more.
func (c *callState) place(n int) {
	ms, ls := make([]events.Member, n), make([]memberLink, n)
	old := c.links()
	if c.n > 0 {
		copy(ms, c.members())
		copy(ls, old)
	}
	c.mem, c.lk, c.room = &ms[0], &ls[0], uint8(n)
	relink(c, old)
}

// addMember appends m to the members, with an empty link, and returns its
// index.
func (c *callState) addMember(m events.Member) int {
	if c.n == c.room {
		c.place(min(2*int(c.room), maxMembers))
	}
	i := int(c.n)
	c.n++
	c.members()[i] = m
	return i
}

// createdAt returns when the call was made. The Registry's times are all
// UTC with no monotonic reading (see advance), so seconds and nanoseconds
// give the same time.Time back, with ==, for any year a time.Time can hold:
// 12 bytes instead of 24 (B3).
func (c *callState) createdAt() time.Time { return time.Unix(c.createdS, int64(c.createdN)).UTC() }

func (c *callState) setCreated(t time.Time) { c.createdS, c.createdN = t.Unix(), int32(t.Nanosecond()) }

// inviteData returns the Invite's extended data (Info.ExtendedData, and the
// Data of every InvitationReceived). It is the caller's own Data until the
// caller acts again in an advanced call (Join, Quit), so the record keeps it
// once, in the caller's member, and in extras only from then on (B3).
func (c *callState) inviteData() string {
	if c.x != nil && c.x.dataPinned {
		return c.x.data
	}
	return c.members()[0].Data
}

// setData records data as the extended data of member i's last action.
func (c *callState) setData(i int, data string) {
	if i == 0 && data != c.members()[0].Data && (c.x == nil || !c.x.dataPinned) {
		x := c.extras()
		x.data, x.dataPinned = c.members()[0].Data, true
	}
	c.members()[i].Data = data
}

// callerID returns the user that created the call: the first member, which
// the record does not keep a second time.
func (c *callState) callerID() string { return c.members()[0].User }

// extras returns c's extras, making them if need be.
func (c *callState) extras() *callExtras {
	if c.x == nil {
		c.x = &callExtras{}
	}
	return c.x
}

// invitePush returns the Invite's push settings, or nil.
func (c *callState) invitePush() *events.Push {
	if c.x == nil {
		return nil
	}
	return c.x.push
}

// checks returns the not-received checks per member (H6), or nil.
func (c *callState) checks() []time.Time {
	if c.x == nil {
		return nil
	}
	return c.x.checks
}

// over ends the call by cmd, if the call lifecycle allows it from where the
// call is, at now (History's EndedAt, H8). Every way a call ends goes
// through here.
func (c *callState) over(cmd callCmd, now time.Time) bool {
	to, ok := nextCall(c.status, cmd)
	if ok {
		c.status, c.endedAt = to, now.Sub(c.createdAt())
	}
	return ok
}

// driver is what the core asks of the Registry that drives it: whether a user
// has an online device (which decides Event.Offline and whether an
// invitation is delivered at once), and a last word before a command
// changes anything — commit writes the input to the Journal (D1), and an
// error from it refuses the command.
type driver interface {
	alloc(n int) *callState                       // a record for a new call of n members
	link(c *callState, i int)                     // member i joined c: file it under its user
	commit() error                                // journal the input: the last word before a change
	admitted(list []string) ([]string, []Failure) // H7: the invitees Options.Admit let through
	busy(user string, c *callState) bool          // H2: rejected at once as busy in another call
}

// online reports whether member i has an online device, which decides
// Event.Offline and whether an invitation is delivered at once.
func (c *callState) online(i int) bool {
	u := c.links()[i].u
	return u != nil && u.online()
}

// newCall makes a call whose invitations are all due at now+timeout and emits
// G2's events: InvitationCreated to the caller, then InvitationReceived to
// each invitee in the order given. The invitees in busy are rejected at once
// with ReasonBusy instead of being rung (H2). The arguments have been
// checked.
func newCall(id, caller string, invitees []string, cfg *InviteConfig, timeout time.Duration,
	now time.Time, order uint64, busy memberSet, h driver, out *outbox) *callState {
	c := h.alloc(1 + len(invitees))
	c.id, c.mode, c.timeout = id, cfg.Mode, timeout
	c.setCreated(now)
	c.order, c.dueHandle = order, noSlot
	if cfg.Push != nil {
		c.extras().push = cfg.Push
	}
	deadline := now.Add(timeout)
	c.members()[0] = events.Member{User: caller, State: events.Accepted, Data: cfg.ExtendedData}
	h.link(c, 0)
	for i, u := range invitees {
		c.members()[1+i] = events.Member{User: u, State: memberInitial, Inviter: caller, Deadline: deadline}
		c.pending++
		h.link(c, 1+i)
		switch {
		case busy.has(1 + i):
			c.move(1+i, cmdReject)
		case c.online(1 + i):
			c.move(1+i, cmdDeliver)
		}
	}
	all := out.clone(c.members())
	c.emit(out, events.Event{
		Kind: events.InvitationCreated, To: caller, Offline: !c.online(0), At: now,
		From: caller, Data: c.inviteData(), Deadline: deadline, Members: all,
	})
	for i, m := range all[1:] {
		if busy.has(1 + i) {
			continue
		}
		c.emit(out, events.Event{
			Kind: events.InvitationReceived, To: m.User, Offline: m.State != events.Received, At: now,
			From: m.Inviter, Data: c.inviteData(), Push: c.invitePush(), Deadline: m.Deadline, Members: all,
		})
	}
	var rung memberSet
	for i := 1; i < len(c.members()); i++ {
		if !busy.has(i) {
			rung.add(i)
		}
	}
	for i := 1; i < len(c.members()); i++ {
		if busy.has(i) {
			c.busyReject(now, i, rung, out)
		}
	}
	c.settle(now)
	return c
}

// busyReject tells of member i, rejected at once because it is busy in
// another call (H2): the caller gets InvitationRejected from it; in advanced
// mode every member pending or Accepted, except those the same command rang,
// gets UserStateChanged instead. The busy invitee itself is not told.
func (c *callState) busyReject(now time.Time, i int, rung memberSet, out *outbox) {
	e := events.Event{At: now, From: c.members()[i].User, Members: c.one(i, out), Reason: events.ReasonBusy}
	if c.mode == events.General {
		e.Kind, e.To, e.Offline = events.InvitationRejected, c.callerID(), !c.online(0)
		c.emit(out, e)
		return
	}
	c.tell(now, e, -1, rung, out)
}

// pushOf returns the push settings of the invitation that rang member i
// last: the Invite's, or those of a later CallingInvite (A2).
func (c *callState) pushOf(i int) *events.Push {
	if c.x == nil {
		return nil
	}
	if i < len(c.x.pushes) && c.x.pushes[i] != nil {
		if c.x.pushes[i] == noPush {
			return nil
		}
		return c.x.pushes[i]
	}
	return c.x.push
}

// emit stamps e with the call's identity and next Seq and queues it.
func (c *callState) emit(out *outbox, e events.Event) {
	c.seq++
	e.CallID, e.Seq, e.Mode, e.Caller = c.id, c.seq, c.mode, c.callerID()
	out.events = append(out.events, e)
}

// index returns the position of user among the members, or -1.
func (c *callState) index(user string) int {
	for i := range c.members() {
		if c.members()[i].User == user {
			return i
		}
	}
	return -1
}

// move applies cmd to member i as the member lifecycle declares, keeping the
// counters and Deadline in step, and reports whether the lifecycle allowed it.
func (c *callState) move(i int, cmd memberCmd) bool {
	m := &c.members()[i]
	to, ok := nextMember(m.State, cmd)
	if !ok {
		return false
	}
	if i > 0 { // the counters are of invitees
		c.pending += b2i(to.Pending()) - b2i(m.State.Pending())
		c.accepted += b2i(to == events.Accepted) - b2i(m.State == events.Accepted)
	}
	if !to.Pending() {
		m.Deadline = time.Time{}
	}
	if checks := c.checks(); to != events.Inviting && i < len(checks) {
		checks[i] = time.Time{}
	}
	m.State = to
	return true
}

func b2i(b bool) int16 {
	if b {
		return 1
	}
	return 0
}

// one returns member i alone, as an event's Members. In general mode it
// shares the call's array without copying: a member that is no longer
// pending never changes again there, and only such members are handed out
// this way, which keeps Accept, Reject and Cancel allocation-free. In
// advanced mode members change again (join, quit, reinvite), so it copies.
func (c *callState) one(i int, out *outbox) []events.Member {
	if c.mode == events.Advanced {
		return out.clone(c.members()[i : i+1])
	}
	return c.members()[i : i+1 : i+1]
}

// answer is Accept and Reject (G3). The caller may not answer its own call;
// repeating the answer already given is a no-op; any other answer to an
// invitation no longer pending is ErrNotPending.
func (c *callState) answer(now time.Time, op, user string, cmd memberCmd, data, device string,
	maxData int, h driver, out *outbox) error {
	i := c.index(user)
	if i == 0 {
		return newErr(op, c.id, user, ErrNotInvitee, "the caller cannot answer its own call")
	}
	m := &c.members()[i]
	if _, ok := nextMember(m.State, cmd); !ok {
		if m.State == answerTarget[cmd] {
			return nil
		}
		return newErr(op, c.id, user, ErrNotPending, "the invitation is "+m.State.String())
	}
	if err := checkAction(op, c.id, user, data, device, maxData); err != nil {
		return err
	}
	if err := h.commit(); err != nil {
		return err
	}
	var before memberSet
	if c.mode == events.Advanced {
		before = c.active()
	}
	c.move(i, cmd)
	c.setData(i, data)
	kind, reason := events.InvitationAccepted, events.ReasonNone
	if cmd == cmdReject {
		kind, reason = events.InvitationRejected, events.ReasonRejected
	}
	if c.mode == events.Advanced { // A1
		c.tell(now, events.Event{From: user, Device: device, Data: data, Members: c.one(i, out), Reason: reason}, i, memberSet{}, out)
		c.endIfEmpty(now, before, out)
		return nil
	}
	e := events.Event{
		Kind: kind, To: c.callerID(), Offline: !c.online(0), At: now,
		From: user, Device: device, Data: data, Members: c.one(i, out), Reason: reason,
	}
	c.emit(out, e)
	e.Kind, e.To, e.Offline = events.UserStateChanged, user, !c.online(i)
	c.emit(out, e)
	c.settle(now)
	return nil
}

// answerTarget[cmd] is where an answer leads from a pending state, read off
// the declaration so that the no-op rule of G3 follows it.
var answerTarget = [numMemberCmds]events.State{
	cmdAccept: events.State(memberNext[events.Received][cmdAccept]),
	cmdReject: events.State(memberNext[events.Received][cmdReject]),
}

// cancel is Cancel (G4). The list checks each run over the whole list before
// the next, in RULES.md §2's order.
func (c *callState) cancel(now time.Time, user string, list []string, cfg *CancelConfig,
	maxData int, h driver, out *outbox) (failed []string, err error) {
	const op = "cancel"
	if user != c.callerID() {
		return nil, newErr(op, c.id, user, ErrNotInviter, "only the caller may cancel")
	}
	for _, u := range list {
		if !validID(u) {
			return nil, newErr(op, c.id, user, ErrInvalidUser, "invalid invitee ID "+quoteID(u))
		}
	}
	var seen memberSet
	for _, u := range list {
		if c.index(u) <= 0 {
			return nil, newErr(op, c.id, user, ErrNotInvitee, quoteID(u)+" is not an invitee of the call")
		}
	}
	for _, u := range list {
		if !seen.add(c.index(u)) {
			return nil, newErr(op, c.id, user, ErrDuplicateInvitee, quoteID(u)+" is listed twice")
		}
	}
	if len(cfg.ExtendedData) > maxData {
		return nil, newErr(op, c.id, user, ErrDataTooLarge, fmt.Sprintf("%d bytes, at most %d", len(cfg.ExtendedData), maxData))
	}
	if !validPush(cfg.Push, maxData) {
		return nil, newErr(op, c.id, user, ErrInvalidArgument, "push fields too large")
	}
	if len(list) == 0 && c.accepted > 0 {
		return nil, newErr(op, c.id, user, ErrAlreadyAccepted, "")
	}
	if err := h.commit(); err != nil {
		return nil, err
	}
	if c.mode == events.Advanced {
		return c.cancelAdvanced(now, list, cfg, out), nil
	}
	cancelled := false
	if len(list) == 0 {
		for i := 1; i < len(c.members()); i++ {
			cancelled = c.cancelOne(now, i, events.ReasonCancelled, cfg.ExtendedData, cfg.Push, out) || cancelled
		}
	} else {
		for _, u := range list {
			if c.cancelOne(now, c.index(u), events.ReasonCancelled, cfg.ExtendedData, cfg.Push, out) {
				cancelled = true
			} else {
				failed = append(failed, u)
			}
		}
	}
	if cancelled {
		c.setData(0, cfg.ExtendedData) // a Cancel that cancels someone is the caller's last action
	}
	c.settle(now)
	return failed, nil
}

// cancelOne cancels member i if it is pending, telling it why.
func (c *callState) cancelOne(now time.Time, i int, reason events.Reason, data string, push *events.Push,
	out *outbox) bool {
	if !c.move(i, cmdCancel) {
		return false
	}
	u := c.members()[i].User
	c.emit(out, events.Event{
		Kind: events.InvitationCancelled, To: u, Offline: !c.online(i), At: now,
		From: c.callerID(), Data: data, Push: push, Members: c.one(i, out), Reason: reason,
	})
	return true
}

// callerOffline is G7: the caller's last device logged out. If no invitee is
// Accepted now, every pending invitee is cancelled and the call is over.
func (c *callState) callerOffline(now time.Time, out *outbox) {
	if c.accepted > 0 {
		return
	}
	for i := 1; i < len(c.members()); i++ {
		c.cancelOne(now, i, events.ReasonCallerOffline, "", c.pushOf(i), out)
	}
	c.over(cmdCallerOffline, now)
}

// expire is G5 at the instant now: every pending invitee whose deadline is
// now times out; the caller hears of them together, then each of them (in
// advanced mode, the members hear of them; A1).
func (c *callState) expire(now time.Time, kind dueKind, out *outbox) {
	if kind == dueCheck {
		c.notReceived(now, out)
		return
	}
	var buf [8]int // no allocation for the common small call
	due := buf[:0]
	for i := 1; i < len(c.members()); i++ {
		if m := &c.members()[i]; m.State.Pending() && !m.Deadline.After(now) && c.move(i, cmdTimeout) {
			due = append(due, i)
		}
	}
	if len(due) == 0 {
		return
	}
	var timedOut []events.Member
	if first, last := due[0], due[len(due)-1]; c.mode == events.General && last-first+1 == len(due) {
		// Final general-mode members, side by side: share them (see one).
		timedOut = c.members()[first : last+1 : last+1]
	} else {
		timedOut = out.list(len(due))
		for k, i := range due {
			timedOut[k] = c.members()[i]
		}
	}
	if c.mode == events.Advanced {
		c.expireAdvanced(now, slices.Clone(due), timedOut, out)
		return
	}
	c.emit(out, events.Event{
		Kind: events.InviteesAnsweredTimeout, To: c.callerID(), Offline: !c.online(0), At: now,
		Members: timedOut, Reason: events.ReasonTimeout,
	})
	for _, i := range due {
		u := c.members()[i].User
		c.emit(out, events.Event{
			Kind: events.InvitationTimeout, To: u, Offline: !c.online(i), At: now,
			Push: c.pushOf(i), Members: c.one(i, out), Reason: events.ReasonTimeout,
		})
	}
	c.settle(now)
}

// deliver is G8 for member i: a device of the invitee just logged in. A
// pending invitation is sent again to that device alone, with its original
// deadline; one not yet delivered becomes Received. In advanced mode, a
// member that is not pending gets the whole call's state instead (A7).
func (c *callState) deliver(now time.Time, i int, device string, out *outbox) {
	m := &c.members()[i]
	if !m.State.Pending() {
		if c.mode == events.Advanced { // A7: bring the device up to date
			c.emit(out, events.Event{
				Kind: events.UserStateChanged, To: m.User, ToDevice: device, At: now, Members: out.clone(c.members()),
			})
		}
		return
	}
	wasNotReceived := m.State == events.NotYetReceived
	c.move(i, cmdDeliver)
	c.emit(out, events.Event{
		Kind: events.InvitationReceived, To: m.User, ToDevice: device, At: now,
		From: m.Inviter, Data: c.inviteData(), Push: c.pushOf(i), Deadline: m.Deadline, Members: out.clone(c.members()),
	})
	if wasNotReceived { // H6: those told it was not received learn it now is
		c.tellReceipt(now, i, events.Event{From: m.User, Device: device}, out)
	}
}

// dueKind is what falls due at a call's next instant. At one instant,
// member deadlines go before not-received checks, across all calls (the
// Time rule), so the kind is part of the deadline heap's order.
type dueKind uint8

const (
	dueDeadline dueKind = iota // a pending member's deadline (G5)
	dueCheck                   // a not-received check (H6)
)

// nextDeadline returns the earliest instant something of c falls due — a
// pending member's deadline or a not-received check — or zero, and which of
// the two it is (a deadline, where both fall at one instant).
func (c *callState) nextDeadline() (time.Time, dueKind) {
	var next time.Time
	kind := dueDeadline
	checks := c.checks()
	for i := 1; i < len(c.members()); i++ {
		m := &c.members()[i]
		if m.State.Pending() && (next.IsZero() || m.Deadline.Before(next) || m.Deadline.Equal(next) && kind == dueCheck) {
			next, kind = m.Deadline, dueDeadline
		}
		if i < len(checks) && m.State == events.Inviting && !checks[i].IsZero() && (next.IsZero() || checks[i].Before(next)) {
			next, kind = checks[i], dueCheck
		}
	}
	return next, kind
}

// settle ends a general-mode call once no invitee is pending (G6).
func (c *callState) settle(now time.Time) {
	if c.pending > 0 || c.mode != events.General {
		return
	}
	c.over(cmdSettle, now)
}

// info returns a copy of the call's state.
func (c *callState) info() Info {
	return Info{
		CallID:       c.id,
		Caller:       c.callerID(),
		Mode:         c.mode,
		CreatedAt:    c.createdAt(),
		Timeout:      c.timeout,
		ExtendedData: c.inviteData(),
		Members:      slices.Clone(c.members()),
	}
}

// memberSet is a set of member positions; a call has at most 101 members.
type memberSet [2]uint64

func (s memberSet) has(i int) bool { return s[i/64]&(uint64(1)<<(i%64)) != 0 }

func (s *memberSet) add(i int) bool {
	w, b := i/64, uint64(1)<<(i%64)
	if s[w]&b != 0 {
		return false
	}
	s[w] |= b
	return true
}
