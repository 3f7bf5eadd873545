package call

import (
	"slices"

	"unsafe"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// callRecord is the Registry's record of a live call: the call's machine
// (core.Call) and what the driver keeps beside it — the links that file
// each member under its user (presence.go), the call's creation order and
// its handle into the deadline heap. The core never sees these.
type callRecord struct {
	core.Call
	firstLink *memberLink // the links' array: see links
	order     uint64      // creation order among calls (the Time rule)
	dueHandle int32       // handle into the Registry's deadline heap; noSlot when absent
	// No field may be added here without moving a pending one-invitee call
	// into a bigger size class: callOf2 is at the top of its class
	// (TestCallRecordSize, B3).
}

// links returns the call's member links: links()[i] ties Members()[i] to
// its user's record.
func (c *callRecord) links() []memberLink { return unsafe.Slice(c.firstLink, len(c.Members())) }

// A call of up to 9 invitees, the most an Invite may ring, keeps its
// members and links in the same allocation as its record: one allocation
// per call, sized by tier so that a one-invitee call, the common case, does
// not pay for nine. Only an advanced call that grows past its tier moves
// them out (see grow).
//
// By default the record goes to the collector with the call: the events of
// answers and timeouts hand the Sink slices of its members, which the Sink
// may keep, and the members are best kept inside the record, where an
// answer at a million live calls reads them from one place in memory. A
// reused record would have to take a new members' array beside it and keep
// the old one's strings alive with it. With TransientMembers the record is
// reused (recycle.go).
type (
	callOf2 struct {
		callRecord
		members [2]events.Member
		links   [2]memberLink
	}
	callOf4 struct {
		callRecord
		members [4]events.Member
		links   [4]memberLink
	}
	callOf10 struct {
		callRecord
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

// maxMembers is the most members a call can have: the caller and
// maxMaxInvitees invitees.
const maxMembers = maxMaxInvitees + 1

// newRecord returns an empty call record with room for n members (n <=
// maxMembers): a tiered one, with its members and links inside it, when n
// fits a tier.
func newRecord(n int) *callRecord {
	var c *callRecord
	switch tierFor(n) {
	case 0:
		s := &callOf2{}
		c = &s.callRecord
		c.Attach(s.members[:])
		c.firstLink = &s.links[0]
	case 1:
		s := &callOf4{}
		c = &s.callRecord
		c.Attach(s.members[:])
		c.firstLink = &s.links[0]
	case 2:
		s := &callOf10{}
		c = &s.callRecord
		c.Attach(s.members[:])
		c.firstLink = &s.links[0]
	default:
		c = &callRecord{}
		c.place(n)
	}
	c.dueHandle = noSlot
	return c
}

// grow makes room for n members in c, an advanced call that CallingInvite
// grows (A2), before the core enrols them: the room doubles, up to
// maxMembers, until it holds n, as it would one member at a time.
func (c *callRecord) grow(n int) {
	if n <= c.Room() {
		return
	}
	room := c.Room()
	for room < n {
		room = min(2*room, maxMembers)
	}
	c.place(room)
}

// place moves the members and links to new arrays with room for n.
// Events handed out before keep the old members' array, which nothing
// writes any more.
func (c *callRecord) place(n int) {
	ms, ls := make([]events.Member, n), make([]memberLink, n)
	old := c.links()
	copy(ls, old)
	c.Attach(ms) // copies the members
	c.firstLink = &ls[0]
	relink(c, old)
}

// ownArrays reports whether c's members and links are the arrays inside
// its tiered record, not ones it grew into (see place).
func (c *callRecord) ownArrays() bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(c.Storage()))) == uintptr(unsafe.Pointer(c))+membersOffset
}

// membersOffset is where a tiered record's own members array starts: the
// same in every tier, right after the callRecord.
const membersOffset = unsafe.Offsetof(callOf2{}.members)

// online returns the members of c that have an online device, which decides
// Event.Offline and whether an invitation is delivered at once.
func (c *callRecord) online() core.Set {
	var s core.Set
	for i, l := range c.links() {
		if l.u != nil && l.u.online() {
			s.Add(i)
		}
	}
	return s
}

// info returns a copy of the call's state.
func (c *callRecord) info() Info {
	return Info{
		CallID:       c.ID(),
		Caller:       c.Caller(),
		Mode:         c.Mode(),
		CreatedAt:    c.CreatedAt(),
		Timeout:      c.Timeout(),
		ExtendedData: c.InviteData(),
		Members:      slices.Clone(c.Members()),
	}
}
