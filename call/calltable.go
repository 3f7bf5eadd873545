package call

import (
	"hash/maphash"
	"unsafe"
)

// callTable maps live call IDs to their records. It is an open-addressing
// table with linear probing: a slot is a pointer to the record, whose own
// id is the key, and the low 32 bits of the key's hash, kept in a parallel
// array. A million calls cost some 25 MB of table instead of the 40 MB of
// a map[string]*callState, whose slots hold a copy of the key's header too
// (B3). The hashes let a probe pass a slot, and a deletion shift the
// following slots back (no tombstones, so the table never degrades),
// without reading any other call's record: with a million calls live,
// every such read is a cache miss (B4).
type callTable struct {
	seed   maphash.Seed
	slots  []*callState // len is a power of two, or 0
	hashes []uint32     // hashes[i]: the low bits of the hash of slots[i].id
	n      int
}

// minTableSlots is the smallest table made.
const minTableSlots = 16

func newCallTable() callTable { return callTable{seed: maphash.MakeSeed()} }

func (t *callTable) hash(id string) uint32 { return uint32(maphash.String(t.seed, id)) }

// get returns the live call id, or nil.
func (t *callTable) get(id string) *callState {
	if t.n == 0 {
		return nil
	}
	h, mask := t.hash(id), len(t.slots)-1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		c := t.slots[i]
		if c == nil || t.hashes[i] == h && c.id == id {
			return c
		}
	}
}

// put adds c, whose id is not in the table.
func (t *callTable) put(c *callState) {
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
	}
	t.place(c, t.hash(c.id))
	t.n++
}

func (t *callTable) place(c *callState, h uint32) {
	mask := len(t.slots) - 1
	i := int(h) & mask
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i], t.hashes[i] = c, h
}

// del removes the call id, if present.
func (t *callTable) del(id string) {
	if t.n == 0 {
		return
	}
	h, mask := t.hash(id), len(t.slots)-1
	i := int(h) & mask
	for {
		c := t.slots[i]
		if c == nil {
			return
		}
		if t.hashes[i] == h && c.id == id {
			break
		}
		i = (i + 1) & mask
	}
	// Shift back each following entry that may move into the hole: one
	// whose home is not in the cyclic range (hole, j].
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		home := int(t.hashes[j]) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i], t.hashes[i] = t.slots[j], t.hashes[j]
			i = j
		}
	}
	t.slots[i], t.hashes[i] = nil, 0
	t.n--
}

func (t *callTable) grow() {
	old, oldHashes := t.slots, t.hashes
	size := max(minTableSlots, 2*len(old))
	t.slots, t.hashes = make([]*callState, size), make([]uint32, size)
	for i, c := range old {
		if c != nil {
			t.place(c, oldHashes[i])
		}
	}
}

// len returns the number of calls in the table.
func (t *callTable) len() int { return t.n }

// each calls f for every call, in no particular order: callers that need
// one sort.
func (t *callTable) each(f func(c *callState)) {
	for _, c := range t.slots {
		if c != nil {
			f(c)
		}
	}
}

// userTable finds users by ID, the way callTable finds calls (and for the
// same reasons), with one difference: most users have no record (see
// user), and the table then keeps the user's oldest live call and its
// index there, from which the member's ID and the user's list of calls
// are read. A user in a call costs its entry here and nothing else (B3).
//
// It replaces a map[string]*user, which, with users coming and going,
// grew without bound: a built-in map leaves a tombstone for every deleted
// key and grows, rather than reuses them, when they fill it, so a
// Registry that had seen millions of distinct users held a table sized
// for all of them. Deleting by shifting entries back leaves none.
type userTable struct {
	seed   maphash.Seed
	slots  []unsafe.Pointer // a *user, or (kinds[i] > 0) a *callState; len is a power of two, or 0
	kinds  []uint8          // 0: slots[i] is the user's record; k > 0: it has none, and is member k-1 of slots[i]
	hashes []uint32         // hashes[i]: the low bits of the hash of the user's ID
	n      int
}

func newUserTable() userTable { return userTable{seed: maphash.MakeSeed()} }

func (t *userTable) hash(id string) uint32 { return uint32(maphash.String(t.seed, id)) }

// key returns the ID of the user in slot i.
func (t *userTable) key(i int) string {
	if k := t.kinds[i]; k > 0 {
		return (*callState)(t.slots[i]).members()[k-1].User
	}
	return (*user)(t.slots[i]).id
}

// find returns the slot of id and true, or false and the slot where id
// would go, with id's hash.
func (t *userTable) find(id string) (i int, h uint32, ok bool) {
	h = t.hash(id)
	if len(t.slots) == 0 {
		return 0, h, false
	}
	mask := len(t.slots) - 1
	for i = int(h) & mask; t.slots[i] != nil; i = (i + 1) & mask {
		if t.hashes[i] == h && t.key(i) == id {
			return i, h, true
		}
	}
	return i, h, false
}

// rec returns the record in slot i, or nil when the user has none.
func (t *userTable) rec(i int) *user {
	if t.kinds[i] > 0 {
		return nil
	}
	return (*user)(t.slots[i])
}

// head returns the link of the oldest live call of the user in slot i, or
// nil.
func (t *userTable) head(i int) *memberLink {
	if k := t.kinds[i]; k > 0 {
		return &(*callState)(t.slots[i]).links()[k-1]
	}
	return (*user)(t.slots[i]).head
}

// setRecord makes u the entry of slot i.
func (t *userTable) setRecord(i int, u *user) { t.slots[i], t.kinds[i] = unsafe.Pointer(u), 0 }

// setCall makes member m of c the entry of slot i: the user has no record,
// and c is its oldest live call.
func (t *userTable) setCall(i int, c *callState, m int) {
	t.slots[i], t.kinds[i] = unsafe.Pointer(c), uint8(m+1)
}

// addRecord adds u at slot i, which find returned with h for u.id.
func (t *userTable) addRecord(i int, h uint32, u *user) { t.add(i, h, unsafe.Pointer(u), 0) }

// addCall adds the user that is member m of c, and has no record, at slot
// i, which find returned with h for its ID.
func (t *userTable) addCall(i int, h uint32, c *callState, m int) {
	t.add(i, h, unsafe.Pointer(c), uint8(m+1))
}

func (t *userTable) add(i int, h uint32, p unsafe.Pointer, kind uint8) {
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
		i = t.free(h)
	}
	t.slots[i], t.kinds[i], t.hashes[i] = p, kind, h
	t.n++
}

// free returns the first empty slot of the probe sequence of h.
func (t *userTable) free(h uint32) int {
	mask := len(t.slots) - 1
	i := int(h) & mask
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	return i
}

// del empties slot i.
func (t *userTable) del(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask { // as in callTable.del
		home := int(t.hashes[j]) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i], t.kinds[i], t.hashes[i] = t.slots[j], t.kinds[j], t.hashes[j]
			i = j
		}
	}
	t.slots[i], t.kinds[i], t.hashes[i] = nil, 0, 0
	t.n--
}

func (t *userTable) grow() {
	old, oldKinds, oldHashes := t.slots, t.kinds, t.hashes
	size := max(minTableSlots, 2*len(old))
	t.slots, t.kinds, t.hashes = make([]unsafe.Pointer, size), make([]uint8, size), make([]uint32, size)
	for i, p := range old {
		if p != nil {
			j := t.free(oldHashes[i])
			t.slots[j], t.kinds[j], t.hashes[j] = p, oldKinds[i], oldHashes[i]
		}
	}
}

// len returns the number of users in the table, with a record or not.
func (t *userTable) len() int { return t.n }

// each calls f for every user record, in no particular order: callers that
// need one sort.
func (t *userTable) each(f func(u *user)) {
	for i, p := range t.slots {
		if p != nil && t.kinds[i] == 0 {
			f((*user)(p))
		}
	}
}
