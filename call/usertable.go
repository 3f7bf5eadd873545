package call

import (
	"hash/maphash"
	"math"
	"unsafe"

	"github.com/callsig/callsig/internal/calltable"
	"github.com/callsig/callsig/internal/core"
)

// userTable finds users by ID, the way calltable.Table finds calls (and
// for the same reasons), with one difference: most users have no record
// (see user and Registry.needsRecord), and the table then keeps what the
// user's record would: its oldest live call and its index there, from
// which the member's ID and the user's list of calls are read, and
// whether it is online on the default device; or, for a user online on
// the default device and in no call, its ID's bytes. A user in a call, or
// online on the default device alone, costs its entry here and nothing
// else (B3).
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

// userSlot is one user of the table, in one of three kinds:
//
//   - kind 0: p is the user's record;
//   - 0 < kind < noCall: the user has no record, and is member kind-1 of
//     the call p, its oldest live call. online says whether it is online
//     on the default device, and then every link of its calls has u ==
//     &onlineDefault; else every one has u == nil. online could be read
//     from the call's link, but it is kept here, in the slot's padding, so
//     that a scan of the table (Online, Snapshot) reads no call record;
//   - kind == noCall: the user has no record and no live call, and is
//     online on the default device; p and idLen are its ID's bytes, which
//     the slot keeps alive (IDs are at most core.MaxIDLen bytes).
//
// The fields fill the 16 bytes a pointer and a hash take (a slot of 24
// would make the table of a million users half as large again).
type userSlot struct {
	p      unsafe.Pointer // a *user, a *callRecord, or the ID's bytes: see kind
	h      uint32         // the low bits of the hash of the user's ID
	kind   uint8          // 0: p is the user's record; noCall: online, no call; else a member index + 1
	online bool           // no record, in calls, and online on the default device
	idLen  uint8          // kind == noCall: the ID's length
}

// noCall is the kind of the slot of a user that has no record and no call,
// and is online on the default device. Member indexes + 1 stay below it
// (maxMembers).
const noCall = math.MaxUint8

// An ID's length fits idLen, and a member index + 1 stays below noCall.
const (
	_ = uint8(core.MaxIDLen)
	_ = uint8(noCall - 1 - maxMembers)
)

func newUserTable() userTable { return userTable{seed: maphash.MakeSeed()} }

func (t *userTable) hash(id string) uint32 { return uint32(maphash.String(t.seed, id)) }

// key returns the ID of the user in slot i.
func (t *userTable) key(i int) string {
	s := &t.slots[i]
	if m := s.kind - 1; m < noCall-1 { // a call's member, the most common kind (kind 0 wraps around)
		return (*callRecord)(s.p).Members()[m].User
	}
	if s.kind == 0 {
		return (*user)(s.p).id
	}
	return unsafe.String((*byte)(s.p), s.idLen)
}

// touch loads the slot where a lookup of id starts, and returns part of
// it (see calltable.Table.Touch).
func (t *userTable) touch(id string) uint32 {
	if len(t.slots) == 0 {
		return 0
	}
	return t.slots[int(t.hash(id))&(len(t.slots)-1)].h
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

// findMember is find for id, member m of call c, with no record, when the
// table holds it: the slot that keeps c as the user's oldest call is known
// by c and m alone, without reading the ID it keeps; any other by its ID.
func (t *userTable) findMember(id string, c *callRecord, m int) (i int) {
	h := t.hash(id)
	mask := len(t.slots) - 1
	for i = int(h) & mask; t.slots[i].p != nil; i = (i + 1) & mask {
		if s := &t.slots[i]; s.h == h && (s.p == unsafe.Pointer(c) && int(s.kind) == m+1 || t.key(i) == id) {
			return i
		}
	}
	return i
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
	s := &t.slots[i]
	if m := s.kind - 1; m < noCall-1 { // as in key
		return &(*callRecord)(s.p).links()[m]
	}
	if s.kind == 0 {
		return (*user)(s.p).head
	}
	return nil
}

// defaultDevice is the devices of a user online on the default device
// alone. It is shared, and nothing may write it.
var defaultDevice = []string{""}

// devices returns the online devices of the user in slot i, in login
// order, or nil: its record's, or for a user with none, the default
// device if the slot says it is online. The slice is read-only.
func (t *userTable) devices(i int) []string {
	switch s := &t.slots[i]; {
	case s.kind == 0:
		return (*user)(s.p).devices
	case s.kind == noCall || s.online:
		return defaultDevice
	}
	return nil
}

// setRecord makes u the entry of slot i.
func (t *userTable) setRecord(i int, u *user) {
	s := &t.slots[i]
	s.p, s.kind, s.online, s.idLen = unsafe.Pointer(u), 0, false, 0
}

// setCall makes member m of c the entry of slot i: the user has no record,
// c is its oldest live call, and online says whether it is online on the
// default device.
func (t *userTable) setCall(i int, c *callRecord, m int, online bool) {
	s := &t.slots[i]
	s.p, s.kind, s.online, s.idLen = unsafe.Pointer(c), uint8(m+1), online, 0
}

// setCallOnline records in slot i, that of a user with no record and a
// live call, whether it is online on the default device.
func (t *userTable) setCallOnline(i int, online bool) { t.slots[i].online = online }

// setOnline makes slot i that of id, with no record and no call, online
// on the default device.
func (t *userTable) setOnline(i int, id string) {
	s := &t.slots[i]
	s.p, s.kind, s.online, s.idLen = unsafe.Pointer(unsafe.StringData(id)), noCall, false, uint8(len(id))
}

// addRecord adds u at slot i, which find returned with h for u.id.
func (t *userTable) addRecord(i int, h uint32, u *user) {
	t.add(i, userSlot{p: unsafe.Pointer(u), h: h})
}

// addCall adds the user that is member m of c, and has no record, at slot
// i, which find returned with h for its ID: c is its only call, and it is
// offline.
func (t *userTable) addCall(i int, h uint32, c *callRecord, m int) {
	t.add(i, userSlot{p: unsafe.Pointer(c), h: h, kind: uint8(m + 1)})
}

// addOnline adds id, with no record and no call, online on the default
// device, at slot i, which find returned with h for id.
func (t *userTable) addOnline(i int, h uint32, id string) {
	t.add(i, userSlot{p: unsafe.Pointer(unsafe.StringData(id)), h: h, kind: noCall, idLen: uint8(len(id))})
}

// add files s at slot i, which find returned for s.h.
func (t *userTable) add(i int, s userSlot) {
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
		i = t.free(s.h)
	}
	t.slots[i] = s
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

// eachOnline calls f for every user with an online device, with its
// devices in login order (read-only), in no particular order: callers
// that need one sort.
func (t *userTable) eachOnline(f func(id string, devices []string)) {
	for i := range t.slots {
		if t.slots[i].p != nil {
			if devices := t.devices(i); len(devices) > 0 {
				f(t.key(i), devices)
			}
		}
	}
}

// each calls f for every user record, in no particular order: callers that
// need one sort.
func (t *userTable) each(f func(u *user)) {
	for _, s := range t.slots {
		if s.p != nil && s.kind == 0 {
			f((*user)(s.p))
		}
	}
}
