package call

import (
	"slices"
	"time"

	"github.com/callsig/callsig/events"
	"github.com/callsig/callsig/internal/core"
)

// presence holds the users the Registry knows: those in live calls (the
// table finds them through their calls), those with an online device and
// those kept for their history (H8), with their devices' heartbeats (H5).
//
// Invariants: a user is in userTable exactly when it is in a live call,
// has an online device, or is idle; it has a record exactly when
// needsRecord says it needs one; idle lists, longest idle first, the
// users with a record that hold nothing but a history, at most its bound;
// free holds dropped records, emptied, at most maxFreeUsers; beats holds
// exactly the online devices of users with HeartbeatTimeout set, and
// heartbeats counts the heartbeats so far, which orders devices whose
// deadlines fall at one instant; online counts the online devices, those
// of users without a record included.
type presence struct {
	userTable               // users by ID
	idle       idleList     // users kept only for their history, longest idle first (H8)
	free       []*user      // dropped records, for reuse (see release)
	beats      beatHeap     // online devices by heartbeat deadline (H5)
	heartbeats uint64       // heartbeats and Logins so far, for their order (H5)
	online     int          // devices online, over all users (Stats)
	walkBuf    []membership // scratch for walking a user's calls while the walk ends some
}

// user is the record of a user that has more than live calls and the
// default device: a device other than the default one, or more than one
// (H1), a heartbeat deadline (H5) or a history (H8); needsRecord decides.
// A user whose only state is its live calls, and perhaps the default
// device online, has no record: the user table finds it through its
// oldest call (see userTable), and the links of its calls have u == nil,
// or u == &onlineDefault if it is online, so a million pending calls
// between users in no other call, logged in or not, cost no user record
// at all (B3); nor does a user online on the default device in no call.
// A record whose user comes to need none is given up (see settle), and
// kept a while for reuse; one that holds nothing but a history is idle,
// and bounded (maxIdleUsers).
type user struct {
	id      string
	head    *memberLink // the live calls, oldest first (see memberLink); nil: none
	devices []string    // online devices, in login order (H1)
	extra   *userExtras // heartbeats, history, idle-list links; nil until needed
}

// userExtras holds what only some users need, so that a record of an
// online user is small.
type userExtras struct {
	beats   []*beat     // H5: per device (parallel to devices), with HeartbeatTimeout set
	history []histEntry // H8: ended calls, oldest first, at most Options.History
	histSeq uint64      // H8: the number of the last entry added

	idlePrev, idleNext *user // on the idle list, longest idle first (H8)
	idle               bool  // on the idle list
}

// memberLink ties one member of a call to its user: the user's list of
// calls runs through these links, oldest call first (G7, G8 and A7 walk it
// in that order), so joining and leaving a call costs no allocation and no
// search. next ends the list with nil; prev of the first link points to
// the last, so that a call, usually the newest, is filed from the end
// without a tail pointer in the user's record, which most users do not
// have. u is the user's record; for a user without one, &onlineDefault
// when it is online on the default device, else nil. Every link of a
// user's calls has the same u. c.online() reads it, so that ringing and
// expiring a call look up no user (rec gives the record alone).
//
// A link does not keep the member's index: it is the link's place in
// c.links(), which index finds. A field for it would move a pending
// one-invitee call into a bigger size class (TestCallRecordSize, B3).
type memberLink struct {
	u          *user
	c          *callRecord
	prev, next *memberLink
}

// onlineDefault is what the links of a user with no record say when it is
// online on the default device (see memberLink): a user record of one
// online device, so that callRecord.online reads it as any record. It is
// never written, never filed, and no user's: rec, not u, gives a link's
// record.
var onlineDefault = user{devices: defaultDevice}

// rec returns the record of l's user, or nil when it has none.
func (l *memberLink) rec() *user {
	if l.u == &onlineDefault {
		return nil
	}
	return l.u
}

// index returns the position of l's member in l.c.Members(): the i for
// which l is &l.c.links()[i]. l must be one of its call's links.
func (l *memberLink) index() int {
	links := l.c.links()
	for i := range links {
		if &links[i] == l {
			return i
		}
	}
	panic("callsig: internal: a member link outside its call's links")
}

// setLinks makes u the user of every link of the list that starts at
// head: the user's record, &onlineDefault, or nil (see memberLink).
func setLinks(head *memberLink, u *user) {
	for l := head; l != nil; l = l.next {
		l.u = u
	}
}

// first reports whether l is the first link of its list: the last link's
// next is nil, never l.
func (l *memberLink) first() bool { return l.prev.next != l }

// membership is one of a user's calls and the user's index in it: what a
// walk over a user's calls works on when the walk may end calls.
type membership struct {
	c *callRecord
	i int
}

func (u *user) online() bool { return len(u.devices) > 0 }

// makeExtras returns u's extras, making them if need be.
func (u *user) makeExtras() *userExtras {
	if u.extra == nil {
		u.extra = &userExtras{}
	}
	return u.extra
}

// beats returns the heartbeats of u's devices (H5), or nil.
func (u *user) beats() []*beat {
	if u.extra == nil {
		return nil
	}
	return u.extra.beats
}

// history returns u's ended calls (H8), oldest first, or nil.
func (u *user) history() []histEntry {
	if u.extra == nil {
		return nil
	}
	return u.extra.history
}

// isIdle reports whether u is on the idle list: it holds nothing but its
// history (H8).
func (u *user) isIdle() bool { return u.extra != nil && u.extra.idle }

// maxIdleUsers is how many users the Registry keeps only for their history
// (H8): a user with a history but no online device and no live call is
// idle, and once more than this many are, the one idle longest (whose last
// device or call went first) is dropped, history and all, so that memory
// does not grow with every user who ever had a call. A user that comes back
// before it is dropped (a Login, a call) keeps its history and is no longer
// idle. Queries do not count as coming back (D4). A user with no history
// that holds nothing is dropped at once.
const maxIdleUsers = 100_000

// idleList is the list of idle users, longest idle first (H8).
type idleList struct {
	head, tail *user
	n          int
	max        int // the bound; 0: maxIdleUsers (tests lower it)
}

func (l *idleList) bound() int {
	if l.max > 0 {
		return l.max
	}
	return maxIdleUsers
}

func (l *idleList) push(u *user) {
	extra := u.extra
	extra.idle, extra.idlePrev, extra.idleNext = true, l.tail, nil
	if l.tail == nil {
		l.head = u
	} else {
		l.tail.extra.idleNext = u
	}
	l.tail = u
	l.n++
}

func (l *idleList) remove(u *user) {
	extra := u.extra
	if extra.idlePrev == nil {
		l.head = extra.idleNext
	} else {
		extra.idlePrev.extra.idleNext = extra.idleNext
	}
	if extra.idleNext == nil {
		l.tail = extra.idlePrev
	} else {
		extra.idleNext.extra.idlePrev = extra.idlePrev
	}
	extra.idle, extra.idlePrev, extra.idleNext = false, nil, nil
	l.n--
}

// wake takes u off the idle list, if it is on it: it has a device or a
// call again.
func (r *Registry) wake(u *user) {
	if u.isIdle() {
		r.users.idle.remove(u)
	}
}

// maxFreeUsers is how many dropped records the Registry keeps for reuse,
// so that users logging in and out, or ending calls with History set, do
// not cost an allocation each.
const maxFreeUsers = 256

// record returns the record of id, or nil if it has none.
func (r *Registry) record(id string) *user {
	if i, _, ok := r.users.find(id); ok {
		return r.users.rec(i)
	}
	return nil
}

// callsOf returns the link of the oldest live call of id, or nil; the
// others follow through next.
func (r *Registry) callsOf(id string) *memberLink {
	if i, _, ok := r.users.find(id); ok {
		return r.users.head(i)
	}
	return nil
}

// devicesOf returns the online devices of id, in login order, or nil. The
// slice is read-only.
func (r *Registry) devicesOf(id string) []string {
	if i, _, ok := r.users.find(id); ok {
		return r.users.devices(i)
	}
	return nil
}

// needsRecord reports whether a user online on devices (in login order),
// with hist entries of history, needs a record: every user does but one
// that is online on the default device alone, or not at all, with no
// heartbeat deadline (HeartbeatTimeout 0, H5) and no history (H8), which
// the user table and its calls' links hold alone (see userTable). Live
// calls need no record. This is the one place that decides; a user has a
// record exactly when it says so (recordFor makes one, settle gives it
// up).
func (r *Registry) needsRecord(devices []string, hist int) bool {
	switch {
	case hist > 0 || len(devices) > 1:
		return true
	case len(devices) == 1:
		return devices[0] != "" || r.s.heartbeat > 0
	}
	return false
}

// recordFor returns the record of id, making it if need be, with what the
// table held of the user: its calls, whose links are given the record,
// and the default device if it was online. The caller gives the user what
// needs the record (a device, a heartbeat, a history). A user that was
// idle is so no longer: the caller gives it a device or a call.
func (r *Registry) recordFor(id string) *user {
	i, h, ok := r.users.find(id)
	return r.recordAt(id, i, h, ok)
}

// recordAt is recordFor for a caller that has looked id up already: i, h
// and ok are what find returned for it, and the table has not changed
// since.
func (r *Registry) recordAt(id string, i int, h uint32, ok bool) *user {
	if ok {
		if u := r.users.rec(i); u != nil {
			r.wake(u)
			return u
		}
	}
	var u *user
	if n := len(r.users.free); n > 0 {
		u, r.users.free = r.users.free[n-1], r.users.free[:n-1]
	} else {
		u = &user{}
	}
	u.id = id
	if !ok {
		r.users.addRecord(i, h, u)
		return u
	}
	if len(r.users.devices(i)) > 0 {
		u.devices = append(u.devices, "") // the record's own array: defaultDevice is shared
	}
	u.head = r.users.head(i)
	setLinks(u.head, u)
	r.users.setRecord(i, u)
	return u
}

// loginDefault puts id, which has no record and no online device, online
// on the default device without making it one (see needsRecord).
func (r *Registry) loginDefault(id string) {
	i, h, ok := r.users.find(id)
	r.loginDefaultAt(id, i, h, ok)
}

// loginDefaultAt is loginDefault for a caller that has looked id up
// already: i, h and ok are what find returned for it, and the table has
// not changed since.
func (r *Registry) loginDefaultAt(id string, i int, h uint32, ok bool) {
	r.users.online++
	if !ok {
		r.users.addOnline(i, h, id)
		return
	}
	setLinks(r.users.head(i), &onlineDefault)
	r.users.setCallOnline(i, true)
}

// settle files u after its devices or calls changed: a user that needs
// its record no more (needsRecord) gives it up, and is forgotten if it
// holds nothing at all; one that holds nothing but a history is idle
// (H8), the longest idle users dropped beyond maxIdleUsers. It may be
// called on any record at any time, one dropped already included (its id
// is then empty).
func (r *Registry) settle(u *user) {
	if u.id == "" || u.isIdle() {
		return
	}
	if len(u.history()) == 0 {
		if !r.needsRecord(u.devices, 0) {
			r.shed(u)
		}
		return
	}
	if u.head != nil || len(u.devices) > 0 {
		return
	}
	u.devices, u.extra.beats = nil, nil // empty: an idle user keeps nothing but its history
	r.users.idle.push(u)
	for r.users.idle.n > r.users.idle.bound() {
		r.drop(r.users.idle.head)
	}
}

// shed gives up the record of u, a user that needs none (needsRecord):
// the table keeps what the record held (its calls, the default device
// online), or forgets the user if it held nothing.
func (r *Registry) shed(u *user) {
	i, _, _ := r.users.find(u.id)
	online := len(u.devices) > 0 // the default device alone
	switch {
	case u.head != nil:
		mark := (*user)(nil)
		if online {
			mark = &onlineDefault
		}
		setLinks(u.head, mark)
		r.users.setCall(i, u.head.c, u.head.index(), online)
	case online:
		r.users.setOnline(i, u.id)
	default:
		r.users.del(i)
	}
	r.release(u)
}

// drop forgets u, which has no device and no live call, history and all,
// and keeps its record for reuse.
func (r *Registry) drop(u *user) {
	r.wake(u)
	if i, _, ok := r.users.find(u.id); ok {
		r.users.del(i)
	}
	r.release(u)
}

// release keeps u, which the table no longer holds, for reuse.
func (r *Registry) release(u *user) {
	if len(r.users.free) == maxFreeUsers {
		*u = user{} // its id empty: settle leaves it alone
		return
	}
	// Keep the record, its extras and a small devices array, all emptied:
	// a record that goes round the free list keeps nothing of the users it
	// served, and the next user given it logs in on a device without
	// allocating an array (a named device needs a record, see needsRecord).
	// A larger array is let go, so that the free list's memory does not
	// depend on how many devices its users had.
	extra := u.extra
	if extra != nil {
		*extra = userExtras{}
	}
	var devices []string
	if cap(u.devices) <= maxFreeDevices {
		devices = u.devices[:0]
		clear(devices[:cap(devices)])
	}
	*u = user{extra: extra, devices: devices}
	r.users.free = append(r.users.free, u)
}

// maxFreeDevices is the largest devices array a record on the free list
// keeps (see release).
const maxFreeDevices = 4

// link records that member i of c is one of its user's calls, keeping the
// user's list oldest call first: a user that CallingInvite adds to an old
// call files it before newer calls it joined earlier.
func (r *Registry) link(c *callRecord, i int) {
	l := &c.links()[i]
	*l = memberLink{c: c}
	s, h, ok := r.users.find(c.Members()[i].User)
	if !ok { // a user seen nowhere else: no record, the table keeps c
		l.prev = l
		r.users.addCall(s, h, c, i)
		return
	}
	u := r.users.rec(s)
	head := r.users.head(s)
	if u != nil {
		l.u = u
		r.wake(u)
	} else if len(r.users.devices(s)) > 0 { // the default device, with no record
		l.u = &onlineDefault
	}
	if head == nil { // a record, or the default device online, with no call
		l.prev = l
		if u != nil {
			u.head = l
		} else {
			r.users.setCall(s, c, i, true)
		}
		return
	}
	tail := head.prev
	after := tail
	for after.c.order > c.order {
		if after == head {
			after = nil
			break
		}
		after = after.prev
	}
	if after == nil { // c is the user's oldest call
		l.prev, l.next, head.prev = tail, head, l
		if u != nil {
			u.head = l
		} else {
			r.users.setCall(s, c, i, l.u != nil)
		}
		return
	}
	l.prev, l.next = after, after.next
	if after.next == nil {
		head.prev = l
	} else {
		after.next.prev = l
	}
	after.next = l
}

// unlink forgets that member i of c is one of its user's calls.
func (r *Registry) unlink(c *callRecord, i int) {
	l := &c.links()[i]
	if l.c == nil {
		return
	}
	u, first, last := l.rec(), l.first(), l.next == nil
	if !first && !last { // in the middle of the list
		l.prev.next, l.next.prev = l.next, l.prev
		*l = memberLink{}
		return
	}
	s := -1 // the user's slot in the table, when it has no record
	online := l.u != nil
	if u == nil {
		s = r.users.findMember(c.Members()[i].User, c, i)
	}
	switch {
	case first && last: // the user's only call
		*l = memberLink{}
		switch {
		case u != nil:
			u.head = nil
			r.settle(u)
		case online: // the table keeps the ID's bytes, the member's
			r.users.setOnline(s, c.Members()[i].User)
		default:
			r.users.del(s)
		}
		return
	case first:
		next := l.next
		next.prev = l.prev
		if u == nil {
			r.users.setCall(s, next.c, next.index(), online)
		} else {
			u.head = next
		}
	default: // the last
		var head *memberLink
		if u == nil {
			head = r.users.head(s)
		} else {
			head = u.head
		}
		head.prev, l.prev.next = l.prev, nil
	}
	*l = memberLink{}
}

// relink repairs the user lists after c.links() moved from old to a new
// array. The neighbours of a link are other calls' links, which did not
// move, and still point to its old place.
func relink(c *callRecord, old []memberLink) {
	for i := range c.links() {
		l, o := &c.links()[i], &old[i]
		if l.c == nil {
			continue
		}
		if l.prev == o { // its user's only call
			l.prev = l
			if u := l.rec(); u != nil {
				u.head = l
			}
			continue
		}
		if first := l.prev.next != o; first {
			if u := l.rec(); u != nil {
				u.head = l
			}
		} else {
			l.prev.next = l
		}
		if l.next != nil {
			l.next.prev = l
			continue
		}
		head := l.prev // l is the last: the first link's prev must follow
		for head.prev.next == head {
			head = head.prev
		}
		head.prev = l
	}
}

// Login records that a device of user is online (H1). Each of the user's
// pending invitations is rung again on that device alone (ToDevice), with its
// original deadline, oldest call first, and one not yet delivered becomes
// Received (G8). In a live advanced call, a member that is not pending (the
// caller included) gets one UserStateChanged on that device alone, with
// every member's state (A7). Logging in a device already online does
// nothing and returns nil (with HeartbeatTimeout set it counts as a
// heartbeat, H5). Login is never refused for load (C5).
//
// The error, when there is one, is an *Error, and the device's presence is
// as it was (RULES.md §2, Presence):
//   - ErrInvalidUser, ErrInvalidArgument: the user or device ID breaks the
//     ID rules. Nothing changed; retrying cannot help: refuse the
//     connection.
//   - ErrJournal (also matching the Journal's own error): the Journal
//     refused the login, or the passing of time before it (D1). The device
//     is not online: retry, or refuse the connection.
//
// A panic in host code (the Clock, Journal.Append, the Sink) is re-raised,
// as for any input (C6).
func (r *Registry) Login(user, device string) error {
	err := r.runInput(&inputRun{entry: Entry{Op: OpLogin, User: user, Device: device}, admitAsked: true}, nil)
	return err
}

// presenceArgs checks the IDs of a presence change (RULES.md §2, Which
// error wins): the user's, then the device's.
func presenceArgs(op Op, id, device string) error {
	if !core.ValidID(id) {
		return newErr(op.name(), "", id, ErrInvalidUser, "")
	}
	if !core.ValidDevice(device) {
		return newErr(op.name(), "", id, ErrInvalidArgument, "invalid device ID "+core.QuoteID(device))
	}
	return nil
}

func (r *Registry) login(in *inputRun, id, device string) error {
	now := in.entry.At
	if err := presenceArgs(OpLogin, id, device); err != nil {
		return err
	}
	// One look-up for what the rest reads: the slot stays where it is
	// until this input changes the table, since the Journal may not call
	// back into the Registry (D1); the calls' links stay as they are
	// whatever record the user gets.
	var devices []string
	var rec *user
	var head *memberLink
	slot, h, found := r.users.find(id)
	if found {
		devices, rec, head = r.users.devices(slot), r.users.rec(slot), r.users.head(slot)
	}
	if slices.Contains(devices, device) {
		return r.heartbeat(in, id, device) // H5: a Login of a device already in counts as a heartbeat
	}
	if err := r.commit(in); err != nil {
		return err // D1: a refused presence change changes nothing, and says so
	}
	if len(devices) == 0 && rec == nil && !r.needsRecord([]string{device}, 0) {
		r.loginDefaultAt(id, slot, h, found)
	} else {
		u := r.recordAt(id, slot, h, found)
		u.devices = append(u.devices, device)
		r.users.online++
		r.startBeat(now, u, device)
	}
	for l := head; l != nil; l = l.next {
		// The caller too: in an advanced call it is a member whose new
		// device gets the call's state (A7); in a general one, nothing.
		l.c.LoggedIn(now, l.index(), device, l.c.online(), &r.out.Outbox)
		// Delivery clears a not-received check (H6), which may have been
		// the call's next due instant: file it afresh, so that nothing
		// fires, and no passing of time is journaled (D1), for it.
		// Delivery never ends a call, so the list stays as it is.
		r.update(now, l.c)
	}
	return nil
}

// Logout records that a device of user went offline. When the user's last
// device goes and it is the caller of calls in which no invitee is
// Accepted, those calls are cancelled (G7): each pending invitee gets
// InvitationCancelled with Reason CallerOffline and the invite's Push, and
// the call is over. Logging out a device that is not online does nothing
// and returns nil. Logout is never refused for load (C5): a device whose
// Logout is lost stays online, and its calls ring on, for good.
//
// The error, when there is one, is an *Error, and the device's presence is
// as it was (RULES.md §2, Presence):
//   - ErrInvalidUser, ErrInvalidArgument: the user or device ID breaks the
//     ID rules; no such device can be online. Nothing to retry.
//   - ErrJournal (also matching the Journal's own error): the Journal
//     refused the logout, or the passing of time before it (D1). The
//     device is STILL ONLINE: the host must retry (with a backoff) until
//     Logout returns nil, or keep the device to log out once the Journal
//     works again, else G7 never cancels its user's unanswered calls.
//
// A panic in host code is re-raised, as for any input (C6); the device is
// then still online too.
func (r *Registry) Logout(user, device string) error {
	err := r.runInput(&inputRun{entry: Entry{Op: OpLogout, User: user, Device: device}, admitAsked: true}, nil)
	return err
}

func (r *Registry) logout(in *inputRun, id, device string) error {
	if err := presenceArgs(OpLogout, id, device); err != nil {
		return err
	}
	// One look-up, as in login: the slot stays where it is until this
	// input changes the table.
	slot, _, found := r.users.find(id)
	if !found || !slices.Contains(r.users.devices(slot), device) {
		return nil
	}
	if err := r.commit(in); err != nil {
		return err // D1: the device stays online, and the host is told
	}
	if u := r.users.rec(slot); u != nil {
		r.dropDevice(in.entry.At, u, slices.Index(u.devices, device))
	} else {
		r.logoutDefault(in.entry.At, slot)
	}
	return nil
}

// Replay sends a device of user that is already online what a fresh Login
// of it would send, without a presence change: each pending invitation of
// the user again on that device alone (G8), and in each live advanced call
// in which the user is not pending, the members' states (A7), calls
// oldest first, with ToDevice set. It is for a host whose client
// reconnected while the device stayed online (a new connection that
// replaced a half-open one): Login would do nothing for it. Nothing but
// the calls' Seq moves: no state changes, no heartbeat counts (H5), G7
// does not apply. Replay emits events, so it is an input like the others:
// it catches up with the clock first (the Time rule) and is journaled
// (OpReplay), unless it has nothing to send, when it is a no-op. Like
// Login it is never refused for load (C5).
//
// The error, when there is one, is an *Error, and nothing was sent:
//   - ErrInvalidUser, ErrInvalidArgument: a malformed user or device ID.
//   - ErrNotOnline: the device is not online (never logged in, logged
//     out, or logged out by the clock, H5): Login it instead, which
//     replays the same.
//   - ErrJournal (also matching the Journal's own error): the Journal
//     refused the replay, or the passing of time before it (D1): retry.
func (r *Registry) Replay(user, device string) error {
	err := r.runInput(&inputRun{entry: Entry{Op: OpReplay, User: user, Device: device}, admitAsked: true}, nil)
	return err
}

func (r *Registry) replay(in *inputRun, id, device string) error {
	if err := presenceArgs(OpReplay, id, device); err != nil {
		return err
	}
	if !slices.Contains(r.devicesOf(id), device) {
		return newErr("replay", "", id, ErrNotOnline, "device "+core.QuoteID(device))
	}
	if !replays(r.callsOf(id)) {
		return nil // nothing to send: a no-op, not journaled (D1)
	}
	if err := r.commit(in); err != nil {
		return err
	}
	now := in.entry.At
	for l := r.callsOf(id); l != nil; l = l.next {
		// The user is online, so its pending invitations are Received
		// already: LoggedIn sends them again and changes no state. The
		// call is filed afresh all the same, as Login does, so that the
		// deadline heap holds whatever LoggedIn left.
		l.c.LoggedIn(now, l.index(), device, l.c.online(), &r.out.Outbox)
		r.update(now, l.c)
	}
	return nil
}

// replays reports whether a login of a device of the user whose calls
// start at head would send anything: whether it is pending in a live call
// (G8) or in a live advanced call (A7).
func replays(head *memberLink) bool {
	for l := head; l != nil; l = l.next {
		if l.c.Mode() == events.Advanced || l.c.Members()[l.index()].State.Pending() {
			return true
		}
	}
	return false
}

// dropDevice takes device i of u offline: what Logout does once journaled,
// and what a lapsed heartbeat does as part of the passing of time (H5).
func (r *Registry) dropDevice(now time.Time, u *user, i int) {
	u.devices = slices.Delete(u.devices, i, i+1)
	r.users.online--
	r.stopBeat(u, i)
	if len(u.devices) == 0 {
		r.callerOffline(now, u.head)
	}
	r.settle(u) // forgetting the calls may have dropped u already: settle allows that
}

// logoutDefault takes the default device of the user in slot i, which has
// no record and that device alone, offline: what Logout does once
// journaled.
func (r *Registry) logoutDefault(now time.Time, i int) {
	r.users.online--
	head := r.users.head(i)
	if head == nil {
		r.users.del(i)
		return
	}
	setLinks(head, nil)
	r.users.setCallOnline(i, false)
	r.callerOffline(now, head)
}

// callerOffline applies G7 to the calls from head on of a user whose last
// device went: each it is the caller of is told so, and may end.
func (r *Registry) callerOffline(now time.Time, head *memberLink) {
	// Walk a copy: forgetting a call edits the user's list.
	buf := r.users.walkBuf[:0]
	for l := head; l != nil; l = l.next {
		buf = append(buf, membership{c: l.c, i: l.index()})
	}
	r.users.walkBuf = buf
	for _, l := range buf {
		if l.i == 0 {
			l.c.CallerOffline(now, l.c.online(), &r.out.Outbox)
			r.update(now, l.c)
		}
	}
	clear(buf)
}
