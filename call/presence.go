package call

import "unsafe"

// user is what the Registry knows of one user: its online devices (a set, in
// login order; H1) and the live calls it is a member of, as a list through
// the calls' member links, oldest call first (G7, G8 and A7 walk it in that
// order). A user with neither is idle: its record stays in the Registry's
// table for a while, on the idle list, in case it comes back, as users of a
// signaling server do, call after call (see forgetIfIdle).
type user struct {
	id         string
	devices    []string
	head, tail *memberLink
	beats      []*beat     // H5: per device (parallel to devices), with HeartbeatTimeout set
	history    []histEntry // H8: ended calls, oldest first, at most Options.History
	histSeq    uint64      // H8: the number of the last entry added

	idlePrev, idleNext *user // on the Registry's idle list, oldest first
	isIdle             bool
}

// memberLink ties one member of a call to its user's record: the user's
// list of calls runs through these links, so joining and leaving a call
// costs no allocation and no search.
//
// A link does not keep the member's index: it is the link's place in
// c.links(), which its address gives (index). Eight bytes less per member is
// what keeps a pending call in a smaller size class (B3).
type memberLink struct {
	u          *user
	c          *callState
	prev, next *memberLink
}

// index returns the position of l's member in l.c.members(): l is
// &l.c.links()[index].
func (l *memberLink) index() int {
	return int((uintptr(unsafe.Pointer(l)) - uintptr(unsafe.Pointer(l.c.lk))) / unsafe.Sizeof(*l))
}

// membership is one of a user's calls and the user's index in it: what a
// walk over a user's calls works on when the walk may end calls.
type membership struct {
	c *callState
	i int
}

func (u *user) online() bool { return len(u.devices) > 0 }

func (u *user) idle() bool { return len(u.devices) == 0 && u.head == nil && len(u.history) == 0 }

// maxIdleUsers is how many idle user records the Registry keeps. Keeping a
// record spares a user who comes back a removal from and an insertion into
// the user table (B1); the bound keeps the memory of users who do not come
// back small.
const maxIdleUsers = 4096

// userFor returns the record of id, making it if need be.
func (r *Registry) userFor(id string) *user {
	u := r.users.get(id)
	if u == nil {
		if n := len(r.spareUsers); n > 0 {
			u, r.spareUsers = r.spareUsers[n-1], r.spareUsers[:n-1]
		} else {
			u = &user{}
		}
		u.id = id
		r.users.put(u)
	} else if u.isIdle {
		r.idle.remove(u)
	}
	return u
}

// forgetIfIdle puts u on the idle list once it holds nothing. The oldest
// idle records beyond maxIdleUsers are dropped from the table, and a few of
// them kept for reuse.
func (r *Registry) forgetIfIdle(u *user) {
	if u.isIdle || !u.idle() { // already idle, or busy
		return
	}
	r.idle.push(u)
	for r.idle.n > maxIdleUsers {
		old := r.idle.head
		r.idle.remove(old)
		r.users.del(old.id)
		if len(r.spareUsers) < cap(r.spareUsers) {
			*old = user{devices: old.devices[:0], beats: old.beats[:0]}
			r.spareUsers = append(r.spareUsers, old)
		}
	}
}

// idleList is the list of idle user records, oldest first.
type idleList struct {
	head, tail *user
	n          int
}

func (l *idleList) push(u *user) {
	u.isIdle, u.idlePrev, u.idleNext = true, l.tail, nil
	if l.tail == nil {
		l.head = u
	} else {
		l.tail.idleNext = u
	}
	l.tail = u
	l.n++
}

func (l *idleList) remove(u *user) {
	if u.idlePrev == nil {
		l.head = u.idleNext
	} else {
		u.idlePrev.idleNext = u.idleNext
	}
	if u.idleNext == nil {
		l.tail = u.idlePrev
	} else {
		u.idleNext.idlePrev = u.idlePrev
	}
	u.isIdle, u.idlePrev, u.idleNext = false, nil, nil
	l.n--
}

// link records that member i of c is one of its user's calls, keeping the
// user's list oldest call first: a user that CallingInvite adds to an old
// call files it before newer calls it joined earlier.
func (r *Registry) link(c *callState, i int) {
	u := r.userFor(c.members()[i].User)
	l := &c.links()[i]
	*l = memberLink{u: u, c: c}
	after := u.tail
	for after != nil && after.c.order > c.order {
		after = after.prev
	}
	l.prev = after
	if after == nil {
		l.next, u.head = u.head, l
	} else {
		l.next, after.next = after.next, l
	}
	if l.next == nil {
		u.tail = l
	} else {
		l.next.prev = l
	}
}

// unlink forgets that member i of c is one of its user's calls.
func (r *Registry) unlink(c *callState, i int) {
	l := &c.links()[i]
	u := l.u
	if u == nil {
		return
	}
	if l.prev == nil {
		u.head = l.next
	} else {
		l.prev.next = l.next
	}
	if l.next == nil {
		u.tail = l.prev
	} else {
		l.next.prev = l.prev
	}
	*l = memberLink{}
	r.forgetIfIdle(u)
}

// relink repairs the user lists after c.links() moved to a new array.
func relink(c *callState) {
	for i := range c.links() {
		l := &c.links()[i]
		if l.u == nil {
			continue
		}
		if l.prev == nil {
			l.u.head = l
		} else {
			l.prev.next = l
		}
		if l.next == nil {
			l.u.tail = l
		} else {
			l.next.prev = l
		}
	}
}

// calls returns the live calls of u, oldest first, with u's index in each.
func (u *user) calls(buf []membership) []membership {
	for l := u.head; l != nil; l = l.next {
		buf = append(buf, membership{c: l.c, i: l.index()})
	}
	return buf
}
