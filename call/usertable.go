package call

import (
	"hash/maphash"
	"unsafe"

	"github.com/callsig/callsig/internal/calltable"
)

// userTable finds users by ID, the way calltable.Table finds calls (and
// for the same reasons), with one difference: most users have no record
// (see user), and the table then keeps the user's oldest live call and
// its index there, from which the member's ID and the user's list of
// calls are read. A user in a call costs its entry here and nothing else (B3).
//
// It is not a map[string]*user because, with users coming and going, a
// map grows without bound: a built-in map leaves a tombstone for every
// deleted key and grows, rather than reuses them, when they fill it, so a
// Registry that has seen many distinct users would hold a table sized for
// all of them. Deleting by shifting entries back leaves none.
type userTable struct {
	seed  maphash.Seed
	slots []userSlot // len is a power of two, or 0; one cache line a probe, as in calltable.Table
	n     int
}

type userSlot struct {
	p    unsafe.Pointer // a *user, or (kind > 0) a *callRecord
	h    uint32         // the low bits of the hash of the user's ID
	kind uint8          // 0: p is the user's record; k > 0: it has none, and is member k-1 of p
}

func newUserTable() userTable { return userTable{seed: maphash.MakeSeed()} }

func (t *userTable) hash(id string) uint32 { return uint32(maphash.String(t.seed, id)) }

// key returns the ID of the user in slot i.
func (t *userTable) key(i int) string {
	if s := &t.slots[i]; s.kind > 0 {
		return (*callRecord)(s.p).Members()[s.kind-1].User
	}
	return (*user)(t.slots[i].p).id
}

// find returns the slot of id and true, or false and the slot where id
// would go, with id's hash.
func (t *userTable) find(id string) (i int, h uint32, ok bool) {
	h = t.hash(id)
	if len(t.slots) == 0 {
		return 0, h, false
	}
	mask := len(t.slots) - 1
	for i = int(h) & mask; t.slots[i].p != nil; i = (i + 1) & mask {
		if t.slots[i].h == h && t.key(i) == id {
			return i, h, true
		}
	}
	return i, h, false
}

// rec returns the record in slot i, or nil when the user has none.
func (t *userTable) rec(i int) *user {
	if t.slots[i].kind > 0 {
		return nil
	}
	return (*user)(t.slots[i].p)
}

// head returns the link of the oldest live call of the user in slot i, or
// nil.
func (t *userTable) head(i int) *memberLink {
	if s := &t.slots[i]; s.kind > 0 {
		return &(*callRecord)(s.p).links()[s.kind-1]
	}
	return (*user)(t.slots[i].p).head
}

// setRecord makes u the entry of slot i.
func (t *userTable) setRecord(i int, u *user) { t.slots[i].p, t.slots[i].kind = unsafe.Pointer(u), 0 }

// setCall makes member m of c the entry of slot i: the user has no record,
// and c is its oldest live call.
func (t *userTable) setCall(i int, c *callRecord, m int) {
	t.slots[i].p, t.slots[i].kind = unsafe.Pointer(c), uint8(m+1)
}

// addRecord adds u at slot i, which find returned with h for u.id.
func (t *userTable) addRecord(i int, h uint32, u *user) { t.add(i, h, unsafe.Pointer(u), 0) }

// addCall adds the user that is member m of c, and has no record, at slot
// i, which find returned with h for its ID.
func (t *userTable) addCall(i int, h uint32, c *callRecord, m int) {
	t.add(i, h, unsafe.Pointer(c), uint8(m+1))
}

func (t *userTable) add(i int, h uint32, p unsafe.Pointer, kind uint8) {
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
		i = t.free(h)
	}
	t.slots[i] = userSlot{p, h, kind}
	t.n++
}

// free returns the first empty slot of the probe sequence of h.
func (t *userTable) free(h uint32) int {
	mask := len(t.slots) - 1
	i := int(h) & mask
	for t.slots[i].p != nil {
		i = (i + 1) & mask
	}
	return i
}

// del empties slot i.
func (t *userTable) del(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j].p != nil; j = (j + 1) & mask {
		if calltable.MayFill(i, j, int(t.slots[j].h)&mask) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = userSlot{}
	t.n--
}

func (t *userTable) grow() {
	old := t.slots
	t.slots = make([]userSlot, max(calltable.MinSlots, 2*len(old)))
	for _, s := range old {
		if s.p != nil {
			t.slots[t.free(s.h)] = s
		}
	}
}

// len returns the number of users in the table, with a record or not.
func (t *userTable) len() int { return t.n }

// each calls f for every user record, in no particular order: callers that
// need one sort.
func (t *userTable) each(f func(u *user)) {
	for _, s := range t.slots {
		if s.p != nil && s.kind == 0 {
			f((*user)(s.p))
		}
	}
}
