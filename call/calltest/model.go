package calltest

import (
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// Model is the plain reference model of the rules of RULES.md: what a
// Registry with the same Options, clock readings and inputs must answer and
// emit. It is written from the specification alone, with maps and slices and
// no cleverness, so that it can serve as an independent oracle; every rule it
// implements cites its number.
//
// The Model has no clock of its own: [Model.Advance] moves its time, and
// every command acts at the Model's current time ([Model.Now]). Driving a
// server and a Model side by side therefore means: advance the server's
// clock and call Advance with the same reading, then give both the same
// command.
//
// The Model covers general mode (RULES.md §3), advanced mode (RULES.md §4, A1–A7),
// presence and the Time rule, and the host policies H2 (Busy), H3 (Glare),
// H4 (retries), H5 (heartbeats), H6 (not-received checks), H7 (Admit) and
// H8 (History) as call.Options sets them (no Journal). A Model is not safe
// for concurrent use.
//
// Where the specification leaves a choice open, the Model follows the
// Registry's documented decision:
//
//   - A1, the order of an advanced call's events: first UserStateChanged
//     to every member pending or Accepted after the change and to the
//     actor, in member order, skipping the invitees the command rang; then
//     InvitationReceived, InvitationCancelled or InvitationTimeout to each
//     invitee rung, cancelled or timed out, in list (or member) order;
//     then, if the call emptied, InvitationEnded (A4).
//   - A1, UserStateChanged: Members are the changed members; From is the
//     actor ("" for timeouts), Device and Data the actor's; Reason is
//     Rejected, Cancelled, Timeout or None.
//   - A5: End makes the ender's Data the End's, and a Cancel that cancels
//     someone makes the caller's the Cancel's (a member's Data is its last
//     action's); CallingInvite leaves the actor's Data as it was.
//   - A7: the calls of a user whose device logs in are walked oldest first;
//     a member that is not pending (the caller included) gets
//     UserStateChanged with no From and Reason None.
//   - G7 holds in advanced mode exactly as in general mode: the call is
//     over even when nobody was pending, and nobody gets UserStateChanged
//     or InvitationEnded.
//   - RULES.md §3, "the invite's" Push: for each invitee, that of the
//     invitation that rang it last — the Invite's, or that of the
//     CallingInvite that rang it (none if it gave none; an empty Push is
//     not none). Its InvitationTimeout, its G7 InvitationCancelled and its
//     G8 replays carry it.
//   - H2: a busy invitee is a member (Rejected, its inviter set, no
//     deadline) that is never rung; the events about the busy come after
//     all of the command's others, one busy invitee at a time in member
//     order. Busy is decided before the command changes anything.
//   - H8: the calls one input ends are filed in the order they end (at
//     one instant, calls in the order they were created); a call's
//     EndedAt is the At of its last event, or, G7, the logout's time.
//   - H5: a Login of a new device is its first heartbeat. A device that
//     lapses is logged out as Logout would at that instant (G7 with it).
//   - H6: each invitee found still Inviting is told of on its own
//     (Members that invitee, no From, Reason None), invitees in member
//     order, the recipients of one invitee before the next. "The same
//     members" that learn of a receipt are those the rule names at the
//     login (not those told at the check): the caller, or in advanced
//     mode every member pending or Accepted then other than the invitee,
//     in member order; From the invitee, Device its device, no Data,
//     right after that call's G8 InvitationReceived.
type Model struct {
	newID          func() string
	maxInvitees    int
	defaultTimeout time.Duration
	maxTimeout     time.Duration
	maxDataLen     int
	busy           call.BusyPolicy                     // H2
	glare          call.GlarePolicy                    // H3
	admit          func(inviter, invitee string) error // H7: nil admits everyone
	history        int                                 // H8: ended calls kept per member
	heartbeat      time.Duration                       // H5: a device lapses this long after its last heartbeat; 0: never
	notReceived    time.Duration                       // H6: an invitee still Inviting this long after it was invited is NotYetReceived; 0: no check

	hist    map[string][]call.Info // H8: each user's ended calls, oldest first, at most history
	now     time.Time
	calls   []*modelCall        // live calls, in the order they were created (Time rule, G7, G8)
	ids     []string            // every call ID a successful invite used, oldest first
	devices map[string][]string // each user's online devices, in login order (H1)
	beats   []modelBeat         // H5 (heartbeat > 0): every online device, in the order of its last heartbeat, oldest first
	conns   *ConnChecker        // nil, or the ConnChecker fed every login, logout and event
}

// modelBeat is an online device and the time of its last heartbeat (H5).
type modelBeat struct {
	user, device string
	last         time.Time
}

// modelCall is one live call.
type modelCall struct {
	id      string
	caller  string
	mode    events.Mode // General or Advanced: the rules of RULES.md §4 branch on it
	created time.Time
	timeout time.Duration
	data    string
	push    *events.Push            // the Invite's
	rungBy  map[string]*events.Push // each invitee: the push of the invitation that rang it last (Invite's or CallingInvite's)
	rungAt  map[string]time.Time    // H6: each invitee: when the invitation that rang it last was made
	members []events.Member         // the caller first, then invitees in invite order (A2: new ones at the end)
	seq     uint64                  // the Seq of the last event (G9)
	hostID  bool                    // H4: the host chose the CallID
	asked   []string                // H4: the invitees as the Invite listed them
	first   call.InviteResult       // H4: what the Invite returned
	merged  []modelMerge            // H4: per member, its latest invite with a host-chosen CallID that H3 merged into this call
	lastAt  time.Time               // H8: the time of the call's last event (G7: the logout's)
}

// modelMerge is an invite with a host-chosen CallID that H3 merged into a
// call: who invited whom under which ID, and the result it got.
type modelMerge struct {
	id, inviter, invitee string
	res                  call.InviteResult
}

// The defaults of call.Options, restated from RULES.md §2 "Options".
const (
	defaultMaxInvitees = 9
	defaultTimeout     = 90 * time.Second
	defaultMaxTimeout  = 600 * time.Second
	defaultMaxDataLen  = 2048
	minTimeout         = time.Second
	maxIDBytes         = 128
)

// NewModel returns an empty Model whose time is start. It reads the limits
// of o (MaxInvitees, DefaultTimeout, MaxTimeout, MaxDataLen, with the
// defaults of RULES.md §2) and o.NewID, which must be deterministic: give the
// Model and the server under test each their own copy of the same sequence
// (see [IDs]): both call it once per invite that passes every check and
// names no CallID (and refuse the invite if the ID it makes is malformed or
// in use). It follows the policies o.Busy, o.Glare, o.Admit (which must be
// deterministic, and the same function as the server's), o.History,
// o.HeartbeatTimeout and o.NotReceivedAfter. Clock, Sink and Journal are
// ignored.
//
// NewModel panics if o.NewID is nil or o holds an option that NewRegistry
// refuses.
func NewModel(o call.Options, start time.Time) *Model {
	if o.NewID == nil {
		panic("calltest: NewModel needs Options.NewID (a deterministic sequence, e.g. calltest.IDs)")
	}
	m := &Model{
		newID:          o.NewID,
		maxInvitees:    o.MaxInvitees,
		defaultTimeout: o.DefaultTimeout,
		maxTimeout:     o.MaxTimeout,
		maxDataLen:     o.MaxDataLen,
		busy:           o.Busy,
		glare:          o.Glare,
		admit:          o.Admit,
		history:        o.History,
		heartbeat:      o.HeartbeatTimeout,
		notReceived:    o.NotReceivedAfter,
		hist:           map[string][]call.Info{},
		now:            start.Round(0),
		devices:        map[string][]string{},
	}
	if m.maxInvitees == 0 {
		m.maxInvitees = defaultMaxInvitees
	}
	if m.maxTimeout == 0 {
		m.maxTimeout = defaultMaxTimeout
	}
	if m.defaultTimeout == 0 {
		m.defaultTimeout = min(defaultTimeout, m.maxTimeout)
	}
	if m.maxDataLen == 0 {
		m.maxDataLen = defaultMaxDataLen
	}
	if o.MaxInvitees < 0 || o.MaxInvitees > 100 || o.DefaultTimeout < 0 || o.MaxDataLen < 0 ||
		m.maxTimeout < minTimeout || m.defaultTimeout < minTimeout || m.defaultTimeout > m.maxTimeout ||
		o.Busy > call.BusyInCall || o.Glare > call.GlareMerge || o.History < 0 ||
		o.HeartbeatTimeout < 0 || o.NotReceivedAfter < 0 {
		panic(fmt.Sprintf("calltest: NewModel: options out of range: %+v", o))
	}
	return m
}

// Now returns the Model's time: the latest reading it was advanced to.
func (m *Model) Now() time.Time { return m.now }

// Len returns the number of live calls (G6).
func (m *Model) Len() int { return len(m.calls) }

// Call returns a copy of a live call's state, and false if there is no such
// call or it is over (G6). Like Registry.Call it processes nothing (D4).
func (m *Model) Call(id string) (call.Info, bool) {
	c := m.live(id)
	if c == nil {
		return call.Info{}, false
	}
	return m.info(c)
}

// info is the Info of c.
func (m *Model) info(c *modelCall) (call.Info, bool) {
	return call.Info{
		CallID:       c.id,
		Caller:       c.caller,
		Mode:         c.mode,
		CreatedAt:    c.created,
		Timeout:      c.timeout,
		ExtendedData: c.data,
		Members:      slices.Clone(c.members),
	}, true
}

// Calls returns a copy of every live call, oldest first.
func (m *Model) Calls() []call.Info {
	var out []call.Info
	for _, c := range m.calls {
		info, _ := m.Call(c.id)
		out = append(out, info)
	}
	return out
}

// IDs returns the ID of every call created so far, live or over, oldest
// first. A host-chosen ID that was used again (G11) appears once per call.
func (m *Model) IDs() []string { return slices.Clone(m.ids) }

// Devices returns the online devices of user, in login order (H1).
func (m *Model) Devices(user string) []string { return slices.Clone(m.devices[user]) }

// NextDeadline returns the earliest deadline of a pending invitee of a live
// call, and false if there is none.
func (m *Model) NextDeadline() (time.Time, bool) {
	var next time.Time
	found := false
	for _, c := range m.calls {
		for _, mb := range c.members[1:] {
			if mb.State.Pending() && (!found || mb.Deadline.Before(next)) {
				next, found = mb.Deadline, true
			}
		}
	}
	return next, found
}

// nextCheck returns the earliest not-received check still to run (H6): an
// invitee still Inviting falls due NotReceivedAfter after it was invited.
func (m *Model) nextCheck() (time.Time, bool) {
	var next time.Time
	found := false
	if m.notReceived <= 0 {
		return next, false
	}
	for _, c := range m.calls {
		for _, mb := range c.members[1:] {
			if mb.State != events.Inviting {
				continue
			}
			if at := c.rungAt[mb.User].Add(m.notReceived); !found || at.Before(next) {
				next, found = at, true
			}
		}
	}
	return next, found
}

// nextLapse returns the earliest instant an online device is logged out
// for want of a heartbeat (H5): HeartbeatTimeout after its last one.
func (m *Model) nextLapse() (time.Time, bool) {
	var next time.Time
	found := false
	for _, b := range m.beats {
		if at := b.last.Add(m.heartbeat); !found || at.Before(next) {
			next, found = at, true
		}
	}
	return next, found
}

// NextDue returns the earliest instant anything falls due — a pending
// invitee's deadline (G5), a not-received check (H6) or a device's
// heartbeat lapse (H5) — and false if nothing will.
func (m *Model) NextDue() (time.Time, bool) {
	var next time.Time
	found := false
	for _, f := range []func() (time.Time, bool){m.NextDeadline, m.nextCheck, m.nextLapse} {
		if at, ok := f(); ok && (!found || at.Before(next)) {
			next, found = at, true
		}
	}
	return next, found
}

// Advance moves the Model's time to the reading to and returns the events
// of everything due at or before it: deadlines (G5), not-received checks
// (H6) and heartbeat lapses (H5), by the Time rule. A reading earlier than
// the Model's time counts as its time (D3).
func (m *Model) Advance(to time.Time) []events.Event {
	var out []events.Event
	m.advance(to, &out)
	return out
}

// advance is the Time rule of RULES.md §2: everything due at or before to is
// processed one instant at a time, in due order. At one instant: member
// deadlines (G5), then not-received checks (H6), then heartbeat lapses
// (H5); calls in the order they were created, devices in the order of
// their last heartbeat. Events of an instant carry it as At.
func (m *Model) advance(to time.Time, out *[]events.Event) {
	to = to.Round(0)
	if to.Before(m.now) { // D3
		to = m.now
	}
	for {
		instant, ok := m.NextDue()
		if !ok || instant.After(to) {
			break
		}
		for _, c := range slices.Clone(m.calls) {
			m.expire(c, instant, out)
		}
		for _, c := range slices.Clone(m.calls) {
			m.checkReceived(c, instant, out)
		}
		for _, b := range slices.Clone(m.beats) {
			if !b.last.Add(m.heartbeat).After(instant) {
				m.logout(b.user, b.device, instant, out)
			}
		}
	}
	m.now = to
}

// checkReceived is H6 for one call at one instant: each invitee still
// Inviting NotReceivedAfter after it was invited becomes NotYetReceived,
// and is told of with no From (announceReceipt), invitees in member order.
func (m *Model) checkReceived(c *modelCall, instant time.Time, out *[]events.Event) {
	if m.notReceived <= 0 {
		return
	}
	for i := 1; i < len(c.members); i++ {
		mb := &c.members[i]
		if mb.State == events.Inviting && !c.rungAt[mb.User].Add(m.notReceived).After(instant) {
			mb.State = events.NotYetReceived // still pending: its Deadline stays
			m.announceReceipt(c, i, events.Event{At: instant}, out)
		}
	}
}

// announceReceipt is H6's news about member i, e as UserStateChanged with
// Members that member: to the caller (general mode), or to every member
// pending or Accepted other than i (advanced mode), in member order.
func (m *Model) announceReceipt(c *modelCall, i int, e events.Event, out *[]events.Event) {
	e.Kind, e.Members = events.UserStateChanged, []events.Member{c.members[i]}
	if c.mode == events.General {
		e.To = c.caller
		m.emit(c, out, e)
		return
	}
	skip := make([]bool, len(c.members))
	skip[i] = true
	m.tell(c, e.At, e, -1, skip, out)
}

// expire is G5 for one call at one instant (A1 in advanced mode).
func (m *Model) expire(c *modelCall, instant time.Time, out *[]events.Event) {
	before := c.active()
	var timedOut []int
	for i := 1; i < len(c.members); i++ {
		mb := &c.members[i]
		if mb.State.Pending() && !mb.Deadline.After(instant) {
			mb.State = events.Timeout
			mb.Deadline = time.Time{} // RULES.md §3: zero once not pending
			// An invitee's Data stays what it was ("" before any action of its own).
			timedOut = append(timedOut, i)
		}
	}
	if len(timedOut) == 0 {
		return
	}
	if c.mode == events.Advanced {
		m.expireAdvanced(c, instant, timedOut, before, out)
		return
	}
	// G5: the caller first, with every invitee that timed out at this
	// instant, in invite order.
	var list []events.Member
	for _, i := range timedOut {
		list = append(list, c.members[i])
	}
	m.emit(c, out, events.Event{
		Kind: events.InviteesAnsweredTimeout, To: c.caller, At: instant,
		Members: list, Reason: events.ReasonTimeout,
	})
	// G5: then each of them; RULES.md §3 table: Push is the invite's (that of
	// the invitation that rang it).
	for _, i := range timedOut {
		m.emit(c, out, events.Event{
			Kind: events.InvitationTimeout, To: c.members[i].User, At: instant,
			Push: c.rungBy[c.members[i].User], Members: []events.Member{c.members[i]}, Reason: events.ReasonTimeout,
		})
	}
	m.settle(c)
}

// Invite is Registry.Invite at the Model's time: the result, the error (a
// call.ErrXxx sentinel) and the events it must produce.
func (m *Model) Invite(inviter string, invitees []string, cfg call.InviteConfig) (call.InviteResult, []events.Event, error) {
	// RULES.md §2 "Which error wins": the acting user's ID first.
	if !validID(inviter) {
		return call.InviteResult{}, nil, call.ErrInvalidUser
	}
	// Then the list, each check over the whole list before the next: empty;
	if len(invitees) == 0 {
		return call.InviteResult{}, nil, call.ErrNoInvitees
	}
	// every entry a valid ID;
	for _, u := range invitees {
		if !validID(u) {
			return call.InviteResult{}, nil, call.ErrInvalidUser
		}
	}
	// none the caller;
	if slices.Contains(invitees, inviter) {
		return call.InviteResult{}, nil, call.ErrSelfInvite
	}
	// no duplicates;
	if hasDuplicate(invitees) {
		return call.InviteResult{}, nil, call.ErrDuplicateInvitee
	}
	// the count.
	if len(invitees) > m.maxInvitees {
		return call.InviteResult{}, nil, call.ErrTooManyInvitees
	}
	// The timeout: 0 means the default; else [1s, MaxTimeout], inclusive.
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = m.defaultTimeout
	}
	if timeout < minTimeout || timeout > m.maxTimeout {
		return call.InviteResult{}, nil, call.ErrInvalidTimeout
	}
	// The extended data, push (and device: Invite names none).
	if len(cfg.ExtendedData) > m.maxDataLen {
		return call.InviteResult{}, nil, call.ErrDataTooLarge
	}
	if !m.validPush(cfg.Push) {
		return call.InviteResult{}, nil, call.ErrInvalidArgument
	}
	// The mode: General or Advanced (A1); anything else is malformed.
	if cfg.Mode != events.General && cfg.Mode != events.Advanced {
		return call.InviteResult{}, nil, call.ErrInvalidArgument
	}
	// The CallID (G11): the user-ID rules, and no live call may hold it.
	id := cfg.CallID
	if id != "" && !validID(id) {
		return call.InviteResult{}, nil, call.ErrInvalidCallID
	}
	// H3: with GlareMerge, Invite(a, [b]) while a is pending in a live call
	// in which b is a's inviter (the oldest such call) is a accepting that
	// call, with the invite's extended data and no device; the result names
	// it, Merged, with a's former deadline. Checked before H4 and
	// ErrCallExists; Admit is not asked and no ID is made.
	if c, i := m.glareCall(inviter, invitees); c != nil {
		res := call.InviteResult{CallID: c.id, Timeout: c.timeout, Deadline: c.members[i].Deadline, Merged: true}
		evs, err := m.answer(inviter, c.id, events.Accepted, cfg.ExtendedData, "")
		if err != nil {
			panic("calltest: a merge's accept failed: " + err.Error())
		}
		// H4 after H3: the call keeps one merge per member, its latest with
		// a host-chosen CallID; a merge without one drops it.
		c.merged = slices.DeleteFunc(c.merged, func(mg modelMerge) bool { return mg.inviter == inviter })
		if id != "" {
			c.merged = append(c.merged, modelMerge{id: id, inviter: inviter, invitee: invitees[0], res: res})
		}
		return res, evs, nil
	}
	if id != "" {
		if c := m.live(id); c != nil {
			// H4: the same caller, the same invitees in the same order, while
			// the call is live: a retry, answered with the first result and
			// no events. Anything else reusing a live CallID is refused.
			if c.hostID && c.caller == inviter && slices.Equal(c.asked, invitees) {
				return c.first, nil, nil
			}
			return call.InviteResult{}, nil, call.ErrCallExists
		}
		// H4 after H3: an invite with this CallID that was merged into a
		// live call the inviter is a member of (the oldest such call) is
		// answered again with its first result, a merge, and no events:
		// a retry must not ring the other user in a call of its own.
		for _, c := range m.calls {
			if c.index(inviter) < 0 {
				continue
			}
			for _, mg := range c.merged {
				if mg.id == id && mg.inviter == inviter && len(invitees) == 1 && mg.invitee == invitees[0] {
					return mg.res, nil, nil
				}
			}
		}
	}
	// H7: Admit refuses single invitees: they are listed in Failed and get
	// nothing; if it refuses all of them, ErrNoInvitees and nothing changes.
	asked := invitees
	invitees, failed := m.admitted(inviter, invitees)
	if len(invitees) == 0 {
		return call.InviteResult{}, nil, call.ErrNoInvitees
	}
	if id == "" {
		// A Registry-made ID: NewID is called once, after every check.
		id = m.newID()
		if !validID(id) {
			return call.InviteResult{}, nil, call.ErrInvalidCallID
		}
		if m.live(id) != nil {
			return call.InviteResult{}, nil, call.ErrCallExists
		}
	}

	// G2: the call exists; the caller is Accepted and its Data is the
	// invite's (a member's Data is its last action's). An advanced call
	// starts the same way (A1: its invitees answer as in general mode).
	deadline := m.now.Add(timeout)
	res := call.InviteResult{CallID: id, Timeout: timeout, Deadline: deadline, Failed: failed}
	c := &modelCall{
		id: id, caller: inviter, mode: cfg.Mode, created: m.now, timeout: timeout,
		data: cfg.ExtendedData, push: cfg.Push, rungBy: map[string]*events.Push{}, rungAt: map[string]time.Time{},
		hostID: cfg.CallID != "", asked: slices.Clone(asked), first: res,
	}
	c.members = append(c.members, events.Member{User: inviter, State: events.Accepted, Data: cfg.ExtendedData})
	busy := []bool{false}
	for _, u := range invitees {
		// H2: an invitee Accepted in another live call is Rejected at once
		// (not rung; no deadline once not pending). G2: else an invitee
		// with an online device is Received, else Inviting.
		isBusy := m.isBusy(u, nil)
		busy = append(busy, isBusy)
		mb := events.Member{User: u, State: events.Inviting, Inviter: inviter, Deadline: deadline}
		switch {
		case isBusy:
			mb.State, mb.Deadline = events.Rejected, time.Time{}
		case m.online(u):
			mb.State = events.Received
		}
		c.members = append(c.members, mb)
		c.rungBy[u] = cfg.Push
		c.rungAt[u] = m.now // H6 (a busy one is never Inviting, so never checked)
	}
	m.calls = append(m.calls, c)
	m.ids = append(m.ids, id)

	var out []events.Event
	// G2: InvitationCreated to the caller (Seq 1); RULES.md §3 table: From the
	// caller, the invite's Data, no Push, the latest invitee deadline, all
	// members.
	m.emit(c, &out, events.Event{
		Kind: events.InvitationCreated, To: inviter, At: m.now, From: inviter,
		Data: cfg.ExtendedData, Deadline: deadline, Members: slices.Clone(c.members),
	})
	// G2: then InvitationReceived to each invitee in the order given, From
	// its inviter, with the invite's Data and Push and its own deadline
	// (H2: not to a busy one).
	rung := make([]bool, len(c.members))
	for i, mb := range c.members[1:] {
		if busy[1+i] {
			continue
		}
		rung[1+i] = true
		m.emit(c, &out, events.Event{
			Kind: events.InvitationReceived, To: mb.User, At: m.now, From: mb.Inviter,
			Data: cfg.ExtendedData, Push: cfg.Push, Deadline: mb.Deadline, Members: slices.Clone(c.members),
		})
	}
	// H2: then each busy invitee, in member order, is told of.
	m.busyRejects(c, busy, rung, &out)
	m.settle(c) // G6: a general call whose invitees were all busy is over at once
	return res, out, nil
}

// glareCall is H3: with GlareMerge and a single invitee b, the oldest live
// call in which a is a pending invitee whose inviter is b and b is
// Accepted, and a's index.
func (m *Model) glareCall(a string, invitees []string) (*modelCall, int) {
	if m.glare != call.GlareMerge || len(invitees) != 1 {
		return nil, -1
	}
	for _, c := range m.calls {
		i, j := c.index(a), c.index(invitees[0])
		if i > 0 && c.members[i].State.Pending() && c.members[i].Inviter == invitees[0] && j >= 0 && c.members[j].State == events.Accepted {
			return c, i
		}
	}
	return nil, -1
}

// isBusy is H2: with BusyInCall, whether user is Accepted in a live call
// other than except.
func (m *Model) isBusy(user string, except *modelCall) bool {
	if m.busy != call.BusyInCall {
		return false
	}
	for _, c := range m.calls {
		if i := c.index(user); c != except && i >= 0 && c.members[i].State == events.Accepted {
			return true
		}
	}
	return false
}

// busyRejects is H2's events, after the command's others: for each member
// busy marks, in member order, general mode: InvitationRejected to the
// caller; advanced mode: UserStateChanged to every member pending or
// Accepted except those rung marks (the invitees the same command rang).
// From the busy invitee, Reason Busy, Members that member.
func (m *Model) busyRejects(c *modelCall, busy, rung []bool, out *[]events.Event) {
	for i := range c.members {
		if i >= len(busy) || !busy[i] {
			continue
		}
		e := events.Event{At: m.now, From: c.members[i].User, Members: []events.Member{c.members[i]}, Reason: events.ReasonBusy}
		if c.mode == events.General {
			e.Kind, e.To = events.InvitationRejected, c.caller
			m.emit(c, out, e)
			continue
		}
		m.tell(c, m.now, e, -1, rung, out)
	}
}

// admitted is H7: the invitees Admit lets in, in list order, and the
// others with its errors.
func (m *Model) admitted(inviter string, invitees []string) (in []string, failed []call.Failure) {
	if m.admit == nil {
		return invitees, nil
	}
	for _, u := range invitees {
		if err := m.admit(inviter, u); err != nil {
			failed = append(failed, call.Failure{User: u, Err: err})
		} else {
			in = append(in, u)
		}
	}
	return in, failed
}

// History is H8: user's ended calls, newest first (at most Options.History
// of them), each with its final members and EndedAt.
func (m *Model) History(user string) []call.Info {
	h := m.hist[user]
	out := make([]call.Info, 0, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		info := h[i]
		info.Members = slices.Clone(info.Members)
		out = append(out, info)
	}
	return out
}

// HistoryUsers returns the users with a history (H8), sorted.
func (m *Model) HistoryUsers() []string {
	var us []string
	for u := range m.hist {
		us = append(us, u)
	}
	slices.Sort(us)
	return us
}

// Cancel is Registry.Cancel at the Model's time (G4).
func (m *Model) Cancel(inviter, callID string, invitees []string, cfg call.CancelConfig) (failed []string, evs []events.Event, err error) {
	// "Which error wins": the acting user's ID;
	if !validID(inviter) {
		return nil, nil, call.ErrInvalidUser
	}
	// the call: it exists and the user is a member (G10);
	c := m.live(callID)
	if c == nil || c.index(inviter) < 0 {
		return nil, nil, call.ErrCallNotFound
	}
	// the user's role: only the caller cancels (G4);
	if inviter != c.caller {
		return nil, nil, call.ErrNotInviter
	}
	// the list, each check over the whole list: every entry a valid ID;
	for _, u := range invitees {
		if !validID(u) {
			return nil, nil, call.ErrInvalidUser
		}
	}
	// every entry an invitee (G4: the caller or a stranger is ErrNotInvitee);
	for _, u := range invitees {
		if c.index(u) <= 0 {
			return nil, nil, call.ErrNotInvitee
		}
	}
	// no duplicates (G4). The count cannot fail: a list of distinct
	// invitees is no longer than the call's list of invitees.
	if hasDuplicate(invitees) {
		return nil, nil, call.ErrDuplicateInvitee
	}
	// the extended data and push;
	if len(cfg.ExtendedData) > m.maxDataLen {
		return nil, nil, call.ErrDataTooLarge
	}
	if !m.validPush(cfg.Push) {
		return nil, nil, call.ErrInvalidArgument
	}
	// the call-wide conditions: cancel-all after an invitee accepted (G4).
	if len(invitees) == 0 && c.anyAccepted() {
		return nil, nil, call.ErrAlreadyAccepted
	}

	before := c.active()
	// G4: an empty list means every pending invitee, in invite order; a
	// non-empty list cancels those of it still pending, in list order, and
	// returns the others in failed, in list order (nil when none).
	var targets []int
	if len(invitees) == 0 {
		for i := 1; i < len(c.members); i++ {
			if c.members[i].State.Pending() {
				targets = append(targets, i)
			}
		}
	} else {
		for _, u := range invitees {
			i := c.index(u)
			if c.members[i].State.Pending() {
				targets = append(targets, i)
			} else {
				failed = append(failed, u)
			}
		}
	}
	if c.mode == events.Advanced {
		return failed, m.cancelAdvanced(c, targets, cfg, before), nil
	}
	if len(targets) > 0 {
		c.members[0].Data = cfg.ExtendedData // a Cancel that cancels someone is the caller's last action
	}
	for _, i := range targets {
		// G4: InvitationCancelled with the cancel's Data and Push, also to
		// an offline invitee; the invitee's own Data stays as it was.
		m.cancelOne(c, i, m.now, events.ReasonCancelled, cfg.ExtendedData, cfg.Push, &evs)
	}
	m.settle(c)
	return failed, evs, nil
}

// cancelOne makes member i Cancelled at and tells it (G4, G7).
func (m *Model) cancelOne(c *modelCall, i int, at time.Time, reason events.Reason, data string, push *events.Push, out *[]events.Event) {
	c.members[i].State = events.Cancelled
	c.members[i].Deadline = time.Time{}
	m.emit(c, out, events.Event{
		Kind: events.InvitationCancelled, To: c.members[i].User, At: at, From: c.caller,
		Data: data, Push: push, Members: []events.Member{c.members[i]}, Reason: reason,
	})
}

// Accept is Registry.Accept at the Model's time (G3).
func (m *Model) Accept(invitee, callID string, cfg call.AcceptConfig) ([]events.Event, error) {
	return m.answer(invitee, callID, events.Accepted, cfg.ExtendedData, cfg.Device)
}

// Reject is Registry.Reject at the Model's time (G3).
func (m *Model) Reject(invitee, callID string, cfg call.RejectConfig) ([]events.Event, error) {
	return m.answer(invitee, callID, events.Rejected, cfg.ExtendedData, cfg.Device)
}

// answer is G3; to is Accepted or Rejected.
func (m *Model) answer(user, callID string, to events.State, data, device string) ([]events.Event, error) {
	// "Which error wins": the acting user's ID;
	if !validID(user) {
		return nil, call.ErrInvalidUser
	}
	// the call: it exists and the user is a member (G10; G3: once the call
	// is over, ErrCallNotFound, retries included);
	c := m.live(callID)
	if c == nil {
		return nil, call.ErrCallNotFound
	}
	i := c.index(user)
	if i < 0 {
		return nil, call.ErrCallNotFound
	}
	// the user's role: the caller cannot answer its own call;
	if i == 0 {
		return nil, call.ErrNotInvitee
	}
	// and its state: G3, the same answer again is a no-op, any other answer
	// to an invitation no longer pending is ErrNotPending.
	if st := c.members[i].State; !st.Pending() {
		if st == to {
			return nil, nil
		}
		return nil, call.ErrNotPending
	}
	// the extended data and device.
	if len(data) > m.maxDataLen {
		return nil, call.ErrDataTooLarge
	}
	if device != "" && !validID(device) {
		return nil, call.ErrInvalidArgument
	}

	before := c.active()
	mb := &c.members[i]
	mb.State = to
	mb.Deadline = time.Time{} // RULES.md §3: zero once not pending
	mb.Data = data            // a member's Data is its last action's
	kind, reason := events.InvitationAccepted, events.ReasonNone
	if to == events.Rejected {
		kind, reason = events.InvitationRejected, events.ReasonRejected
	}
	var out []events.Event
	if c.mode == events.Advanced {
		// A1: no InvitationAccepted or InvitationRejected; the members
		// pending or Accepted after the change, and the invitee itself,
		// get UserStateChanged about it. A4: a reject can empty the call.
		m.tell(c, m.now, events.Event{From: user, Device: device, Data: data,
			Members: []events.Member{*mb}, Reason: reason}, i, nil, &out)
		m.endIfEmpty(c, m.now, before, &out)
		return out, nil
	}
	// G3: the caller first (From the invitee, its Data and Device), then the
	// invitee itself gets UserStateChanged about itself.
	m.emit(c, &out, events.Event{
		Kind: kind, To: c.caller, At: m.now, From: user, Device: device, Data: data,
		Members: []events.Member{*mb}, Reason: reason,
	})
	m.emit(c, &out, events.Event{
		Kind: events.UserStateChanged, To: user, At: m.now, From: user, Device: device, Data: data,
		Members: []events.Member{*mb}, Reason: reason,
	})
	m.settle(c)
	return out, nil
}

// Login is Registry.Login at the Model's time (RULES.md §2 "Presence", G8).
func (m *Model) Login(user, device string) []events.Event {
	// An invalid user or device ID does nothing; so does a device that is
	// already logged in, but for H5: that Login counts as a heartbeat.
	if !validID(user) || (device != "" && !validID(device)) {
		return nil
	}
	if slices.Contains(m.devices[user], device) {
		m.Heartbeat(user, device)
		return nil
	}
	m.devices[user] = append(m.devices[user], device)
	m.conns.login(user, device)
	m.beat(user, device) // H5: the device's first heartbeat
	var out []events.Event
	// G8: each pending invitation of the user, oldest call first, is sent
	// again to that device alone, with its original Deadline; Inviting and
	// NotYetReceived become Received. The caller of a general call, and an
	// invitee of one that is no longer pending, get nothing. H6: the
	// members told that an invitee was not received learn, right after its
	// replay, that it now is.
	for _, c := range m.calls {
		i := c.index(user)
		if i < 0 {
			continue
		}
		if !c.members[i].State.Pending() { // (the caller is never pending)
			if c.mode == events.Advanced {
				m.syncDevice(c, i, device, &out) // A7
			}
			continue
		}
		wasNotReceived := c.members[i].State == events.NotYetReceived
		c.members[i].State = events.Received
		m.emit(c, &out, events.Event{
			Kind: events.InvitationReceived, To: user, ToDevice: device, At: m.now,
			From: c.members[i].Inviter, Data: c.data, Push: c.rungBy[user], Deadline: c.members[i].Deadline,
			Members: slices.Clone(c.members),
		})
		if wasNotReceived {
			m.announceReceipt(c, i, events.Event{At: m.now, From: user, Device: device}, &out)
		}
	}
	return out
}

// Heartbeat is Registry.Heartbeat at the Model's time (H5): with
// HeartbeatTimeout set, a device that is logged in was heard of now, and
// lapses HeartbeatTimeout later. Otherwise, or for a device that is not
// logged in, it does nothing. It never emits.
func (m *Model) Heartbeat(user, device string) {
	if slices.Contains(m.devices[user], device) {
		m.beat(user, device)
	}
}

// beat records a heartbeat of an online device at the Model's time (H5): it
// goes to the end of beats. Without HeartbeatTimeout there are no beats.
func (m *Model) beat(user, device string) {
	if m.heartbeat <= 0 {
		return
	}
	m.forgetBeat(user, device)
	m.beats = append(m.beats, modelBeat{user: user, device: device, last: m.now})
}

// forgetBeat drops the heartbeat of a device, if it has one.
func (m *Model) forgetBeat(user, device string) {
	m.beats = slices.DeleteFunc(m.beats, func(b modelBeat) bool { return b.user == user && b.device == device })
}

// Logout is Registry.Logout at the Model's time (RULES.md §2 "Presence", G7).
func (m *Model) Logout(user, device string) []events.Event {
	var out []events.Event
	m.logout(user, device, m.now, &out)
	return out
}

// logout takes a device offline at: a Logout, or (H5) the clock, when the
// device missed its heartbeat.
func (m *Model) logout(user, device string, at time.Time, out *[]events.Event) {
	// A device that is not logged in (an invalid one included) does nothing.
	j := slices.Index(m.devices[user], device)
	if j < 0 {
		return
	}
	m.devices[user] = slices.Delete(m.devices[user], j, j+1)
	m.conns.logout(user, device)
	m.forgetBeat(user, device)
	if len(m.devices[user]) > 0 {
		return
	}
	delete(m.devices, user)
	// G7: the caller's last device went. Each of its live calls in which no
	// invitee is Accepted now has every pending invitee cancelled
	// (CallerOffline, From the caller, no Data, the Push it was rung with),
	// and the call is over. Calls oldest first. The same in advanced mode
	// (G7 says so), whether or not the caller is still in the call: no
	// UserStateChanged, no InvitationEnded, and the call is over even when
	// nobody was pending (a caller left alone in its call).
	for _, c := range slices.Clone(m.calls) {
		if c.caller != user || c.anyAccepted() {
			continue
		}
		for i := 1; i < len(c.members); i++ {
			if c.members[i].State.Pending() {
				m.cancelOne(c, i, at, events.ReasonCallerOffline, "", c.rungBy[c.members[i].User], out)
			}
		}
		c.lastAt = at // H8: the call ended at the logout, events or none
		m.remove(c)
	}
}

// emit numbers e in its call (G9), fills the fields every event of the call
// shares, and sets Offline: the recipient has no online device now (RULES.md §3).
func (m *Model) emit(c *modelCall, out *[]events.Event, e events.Event) {
	c.seq++
	e.CallID = c.id
	e.Seq = c.seq
	e.Mode = c.mode
	e.Caller = c.caller
	e.Offline = !m.online(e.To)
	c.lastAt = e.At // H8
	m.conns.deliver(e, m.devices[e.To])
	*out = append(*out, e)
}

// settle is G6: a general call with no pending invitee is over.
func (m *Model) settle(c *modelCall) {
	if c.mode != events.General {
		return
	}
	for _, mb := range c.members[1:] {
		if mb.State.Pending() {
			return
		}
	}
	m.remove(c)
}

// remove forgets a call that is over; H8: each member keeps it in its
// history (its N newest ended calls), with the final members and EndedAt,
// the time of the call's last event.
func (m *Model) remove(c *modelCall) {
	i := slices.Index(m.calls, c)
	if i < 0 {
		return
	}
	m.calls = slices.Delete(m.calls, i, i+1)
	if m.history <= 0 {
		return
	}
	info, _ := m.info(c)
	info.EndedAt = c.lastAt
	for _, mb := range c.members {
		h := append(m.hist[mb.User], info)
		if len(h) > m.history {
			h = slices.Clone(h[len(h)-m.history:])
		}
		m.hist[mb.User] = h
	}
}

// live returns the live call with this ID, or nil.
func (m *Model) live(id string) *modelCall {
	for _, c := range m.calls {
		if c.id == id {
			return c
		}
	}
	return nil
}

// online reports whether user has an online device (H1).
func (m *Model) online(user string) bool { return len(m.devices[user]) > 0 }

// validPush: a Push's fields fit in MaxDataLen bytes together (RULES.md §2,
// ErrInvalidArgument).
func (m *Model) validPush(p *events.Push) bool {
	return p == nil || len(p.Title)+len(p.Content)+len(p.Payload) <= m.maxDataLen
}

// index returns the position of user among the members, or -1.
func (c *modelCall) index(user string) int {
	for i, mb := range c.members {
		if mb.User == user {
			return i
		}
	}
	return -1
}

// active returns whether each member is pending or Accepted now: the
// members an advanced call tells of its changes (A1) and that its end
// reaches (A4, A5).
func (c *modelCall) active() []bool {
	in := make([]bool, len(c.members))
	for i, mb := range c.members {
		in[i] = mb.State == events.Accepted || mb.State.Pending()
	}
	return in
}

// anyAccepted reports whether an invitee is Accepted now (G4, G7).
func (c *modelCall) anyAccepted() bool {
	for _, mb := range c.members[1:] {
		if mb.State == events.Accepted {
			return true
		}
	}
	return false
}

// validID is the user-ID rule of RULES.md §2 (ErrInvalidUser), which call and
// device IDs share: not empty, at most 128 bytes, UTF-8, and no Cc or Cf
// character.
func validID(s string) bool {
	if s == "" || len(s) > maxIDBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.In(r, unicode.Cc, unicode.Cf) {
			return false
		}
	}
	return true
}

// hasDuplicate reports whether a name appears twice in list.
func hasDuplicate(list []string) bool {
	seen := map[string]bool{}
	for _, u := range list {
		if seen[u] {
			return true
		}
		seen[u] = true
	}
	return false
}
