package core

import (
	"time"
	"unsafe"

	"github.com/callsig/callsig/events"
)

// Call is one call's machine: the pure core of callsig. Its methods take
// what they decide on as arguments — the time, which members are online,
// the limits — and read no clock, take no lock, call no Sink and hold no
// pointer into the driver's structures. The events a change produces go
// to an Outbox, which the driver delivers once its lock is released.
//
// Each command is a check, which changes nothing and returns a Refusal or
// what the change needs, and an apply, which cannot fail: the driver
// journals the input between the two (D1), so a refused command leaves
// the call as it found it (G1) by construction.
//
// A million of these may be pending at once (B3), so the record keeps
// nothing twice and nothing it can compute: the caller is the first member,
// the Invite's data the caller's own until it changes, the next due instant
// lives only in the driver's deadline heap, the members are reached by
// pointer and count, the creation time takes 12 bytes, the counters are
// narrow and packed, and what most calls never use sits in Extras, made on
// first use. The driver embeds a Call in its own record, which adds its
// links and holds the members' array in the same allocation (see Attach).
type Call struct {
	id          string
	firstMember *events.Member // the members' array, room long: see Members
	extras      *Extras        // nil until the call needs one of them
	timeout     time.Duration
	createdS    int64  // when the call was made: Unix seconds (see CreatedAt)
	seq         uint64 // the last Seq handed out (G9)
	createdN    int32  // when the call was made: the nanoseconds of createdS
	pending     int16  // invitees pending (a call has at most 101 members)
	accepted    int16  // invitees Accepted
	n, room     uint8  // members in use, and the room in their array
	mode        events.Mode
	status      callStatus // the call lifecycle
}

// Extras holds the parts of a call that most calls never use, so that a
// plain call does not pay for them. The driver reads and writes them
// directly only to save and restore the call (D2) and for H4.
type Extras struct {
	InviteData     string         // the Invite's extended data, once the caller's own Data differs (see InviteData)
	InviteDataKept bool           // InviteData is set
	Push           *events.Push   // the Invite's push settings
	Retry          *Retry         // H4: set for a host-chosen CallID
	Merged         []Merged       // H4: invites with a host-chosen CallID that H3 merged into this call
	Pushes         []*events.Push // advanced mode: per member, the push of the CallingInvite that rang it last; nil: the Invite's; NoPush: none
	Checks         []time.Time    // H6: per member, when its not-received check runs (zero: none)
}

// Retry is what H4 needs to answer an invite repeated with the same
// host-chosen CallID: the invitees as first asked, and who was refused.
type Retry struct {
	Invitees []string
	Failed   []Failure
}

// Failure is an invitee Options.Admit refused, and its error (H7).
type Failure struct {
	User string
	Err  error
}

// Merged is what H4 needs to answer again an invite with a host-chosen
// CallID that H3 merged into a live call, which opened no call of that
// ID: the ID, who invited whom, and the deadline the merged invitation had
// (the first result's).
//
// A call keeps one for each member's latest merge only, if that merge had
// a host-chosen CallID: a member merges into a call again only after it
// quit and was invited again, so it has acted on the earlier result, and a
// retry of the earlier invite is no longer to be expected. An advanced
// call that loops quit, invite again, merge thus keeps at most one per
// invitee (MaxInvitees), however long it lives.
type Merged struct {
	ID, Inviter, Invitee string
	Deadline             time.Time
}

// NoPush marks, in Extras.Pushes, a member rung by a CallingInvite without
// push settings.
var NoPush = &events.Push{}

// Attach gives c the array its members live in, storage, whose length is
// the room for members: the members so far are copied into it. The driver
// calls it on a record it has just made, with the array inside the
// record, and when an advanced call outgrows its room (CallingInvite), with
// a larger one; events handed out before keep the old array, which nothing
// writes any more.
func (c *Call) Attach(storage []events.Member) {
	if c.n > 0 {
		copy(storage, c.Members())
	}
	c.firstMember, c.room = &storage[0], uint8(len(storage))
}

// Storage returns the array c's members live in, all its room.
func (c *Call) Storage() []events.Member { return unsafe.Slice(c.firstMember, c.room) }

// Reset makes c an empty call that keeps its storage, cleared, for reuse.
func (c *Call) Reset() {
	storage := c.Storage()
	clear(storage) // drop the users' and data strings
	*c = Call{}
	c.Attach(storage)
}

// Members returns the call's members: the caller first, then the invitees
// in the order invited. The record keeps a pointer to their array and a
// count rather than a slice, 16 bytes less per call (B3); the slice made
// here costs nothing.
func (c *Call) Members() []events.Member { return unsafe.Slice(c.firstMember, c.n) }

// Room returns how many members the call's storage holds.
func (c *Call) Room() int { return int(c.room) }

// ID returns the call's ID.
func (c *Call) ID() string { return c.id }

// Mode returns the call's mode.
func (c *Call) Mode() events.Mode { return c.mode }

// Timeout returns the call's timeout: the Invite's.
func (c *Call) Timeout() time.Duration { return c.timeout }

// Seq returns the Seq of the call's last event (G9).
func (c *Call) Seq() uint64 { return c.seq }

// Over reports whether the call is over: the driver forgets it (G6).
func (c *Call) Over() bool { return c.status == callOver }

// Pending returns how many invitees are pending.
func (c *Call) Pending() int { return int(c.pending) }

// AcceptedInvitees returns how many invitees are Accepted.
func (c *Call) AcceptedInvitees() int { return int(c.accepted) }

// Extras returns c's extras, or nil.
func (c *Call) Extras() *Extras { return c.extras }

// MakeExtras returns c's extras, making them if need be.
func (c *Call) MakeExtras() *Extras {
	if c.extras == nil {
		c.extras = &Extras{}
	}
	return c.extras
}

// CreatedAt returns when the call was made. The driver's times are all UTC
// with no monotonic reading, so seconds and nanoseconds give the same
// time.Time back, with ==, for any year a time.Time can hold: 12 bytes
// instead of 24 (B3).
func (c *Call) CreatedAt() time.Time { return time.Unix(c.createdS, int64(c.createdN)).UTC() }

func (c *Call) setCreated(t time.Time) { c.createdS, c.createdN = t.Unix(), int32(t.Nanosecond()) }

// InviteData returns the Invite's extended data (Info.ExtendedData, and the
// Data of every InvitationReceived). It is the caller's own Data until the
// caller acts again in an advanced call (Join, Quit), so the record keeps it
// once, in the caller's member, and in extras only from then on (B3).
func (c *Call) InviteData() string {
	if c.extras != nil && c.extras.InviteDataKept {
		return c.extras.InviteData
	}
	return c.firstMember.Data // the caller's: Members()[0]
}

// setData records data as the extended data of member i's last action.
func (c *Call) setData(i int, data string) {
	ms := c.Members()
	if i == 0 && data != ms[0].Data && (c.extras == nil || !c.extras.InviteDataKept) {
		x := c.MakeExtras()
		x.InviteData, x.InviteDataKept = ms[0].Data, true
	}
	ms[i].Data = data
}

// Caller returns the user that created the call: the first member
// (Members()[0]), which the record does not keep a second time.
func (c *Call) Caller() string { return c.firstMember.User }

// InvitePush returns the Invite's push settings, or nil.
func (c *Call) InvitePush() *events.Push {
	if c.extras == nil {
		return nil
	}
	return c.extras.Push
}

// checks returns the not-received checks per member (H6), or nil.
func (c *Call) checks() []time.Time {
	if c.extras == nil {
		return nil
	}
	return c.extras.Checks
}

// Index returns the position of user among the members, or -1.
func (c *Call) Index(user string) int {
	ms := c.Members()
	for i := range ms {
		if ms[i].User == user {
			return i
		}
	}
	return -1
}

// Restore makes c, whose storage has room for them, the live call a
// snapshot describes (D2); x is nil when it needs no extras. The driver
// checks afterwards that the rules can reach it.
func (c *Call) Restore(id string, mode events.Mode, timeout time.Duration, created time.Time, seq uint64,
	members []events.Member, x *Extras) {
	c.id, c.mode, c.timeout, c.seq, c.extras = id, mode, timeout, seq, x
	c.setCreated(created)
	c.n = uint8(len(members))
	copy(c.Members(), members)
	c.pending, c.accepted = 0, 0
	for i := 1; i < len(members); i++ {
		c.pending += b2i(members[i].State.Pending())
		c.accepted += b2i(members[i].State == events.Accepted)
	}
}

// end ends the call by cmd, if the call lifecycle allows it from where the
// call is. Every way a call ends goes through here.
func (c *Call) end(cmd callCmd) bool {
	to, ok := nextCall(c.status, cmd)
	if ok {
		c.status = to
	}
	return ok
}

// move applies cmd to member i as the member lifecycle declares, keeping the
// counters and Deadline in step, and reports whether the lifecycle allowed it.
func (c *Call) move(i int, cmd memberCmd) bool {
	m := &c.Members()[i]
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

// pushOf returns the push settings of the invitation that rang member i
// last: the Invite's, or those of a later CallingInvite (A2).
func (c *Call) pushOf(i int) *events.Push {
	if c.extras == nil {
		return nil
	}
	if i < len(c.extras.Pushes) && c.extras.Pushes[i] != nil {
		if c.extras.Pushes[i] == NoPush {
			return nil
		}
		return c.extras.Pushes[i]
	}
	return c.extras.Push
}

// DueKind is what falls due at a call's next instant. At one instant,
// member deadlines go before not-received checks, across all calls (the
// Time rule), so the kind is part of the deadline heap's order.
type DueKind uint8

// The kinds of due instant.
const (
	DueDeadline DueKind = iota // a pending member's deadline (G5)
	DueCheck                   // a not-received check (H6)
)

// NextDue returns the earliest instant something of c falls due — a
// pending member's deadline or a not-received check — or zero, and which of
// the two it is (a deadline, where both fall at one instant).
func (c *Call) NextDue() (time.Time, DueKind) {
	var next time.Time
	kind := DueDeadline
	checks := c.checks()
	ms := c.Members()
	for i := 1; i < len(ms); i++ {
		m := &ms[i]
		if m.State.Pending() && (next.IsZero() || m.Deadline.Before(next) || m.Deadline.Equal(next) && kind == DueCheck) {
			next, kind = m.Deadline, DueDeadline
		}
		if i < len(checks) && m.State == events.Inviting && !checks[i].IsZero() && (next.IsZero() || checks[i].Before(next)) {
			next, kind = checks[i], DueCheck
		}
	}
	return next, kind
}

// Set is a set of member positions; a call has at most 101 members. The
// positions are taken as unsigned, which spares the division its sign.
type Set [2]uint64

// Has reports whether i is in s.
func (s Set) Has(i int) bool { return s[uint(i)/64]&(1<<(uint(i)%64)) != 0 }

// Add adds i to s and reports whether it was not in s yet.
func (s *Set) Add(i int) bool {
	w, b := uint(i)/64, uint64(1)<<(uint(i)%64)
	if s[w]&b != 0 {
		return false
	}
	s[w] |= b
	return true
}

// emit stamps e with the call's identity and next Seq and queues it.
func (c *Call) emit(out *Outbox, e events.Event) {
	c.stamp(&e)
	out.Events = append(out.Events, e)
}

// stamp gives e the call's identity and its next Seq (G9).
func (c *Call) stamp(e *events.Event) {
	c.seq++
	e.CallID, e.Seq, e.Mode, e.Caller = c.id, c.seq, c.mode, c.Caller()
}

// next queues a new event of the given kind, to user to, stamped as emit
// stamps events, and returns it for the caller to fill in the rest: an
// event is large, and one built in place is not copied. The pointer is
// valid until the next event is queued.
func (c *Call) next(out *Outbox, kind events.Kind, to string, offline bool, at time.Time) *events.Event {
	out.Events = append(out.Events, events.Event{})
	e := &out.Events[len(out.Events)-1]
	e.Kind, e.To, e.Offline, e.At = kind, to, offline, at
	c.stamp(e)
	return e
}

// alone returns member i alone, as an event's Members. In general mode it
// shares the call's array without copying: a member that is no longer
// pending never changes again there, and only such members are handed out
// this way, which keeps Accept, Reject and Cancel allocation-free. In
// advanced mode members change again (join, quit, reinvite), so it copies.
func (c *Call) alone(i int, out *Outbox) []events.Member {
	if c.mode == events.Advanced {
		return out.clone(c.Members()[i : i+1])
	}
	return c.Members()[i : i+1 : i+1]
}
