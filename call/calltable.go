package call

import "hash/maphash"

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

// userTable maps user IDs to their records, the same way callTable maps
// call IDs (and for the same reasons). It replaces a map[string]*user,
// which, with users coming and going, grew without bound: a built-in map
// leaves a tombstone for every deleted key and grows, rather than reuses
// them, when they fill it, so a Registry that had seen millions of
// distinct users held a table sized for all of them. Deleting by shifting
// entries back leaves none.
type userTable struct {
	seed   maphash.Seed
	slots  []*user  // len is a power of two, or 0
	hashes []uint32 // hashes[i]: the low bits of the hash of slots[i].id
	n      int
}

func newUserTable() userTable { return userTable{seed: maphash.MakeSeed()} }

func (t *userTable) hash(id string) uint32 { return uint32(maphash.String(t.seed, id)) }

// get returns the record of id, or nil.
func (t *userTable) get(id string) *user {
	if t.n == 0 {
		return nil
	}
	h, mask := t.hash(id), len(t.slots)-1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		u := t.slots[i]
		if u == nil || t.hashes[i] == h && u.id == id {
			return u
		}
	}
}

// put adds u, whose id is not in the table.
func (t *userTable) put(u *user) {
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
	}
	t.place(u, t.hash(u.id))
	t.n++
}

func (t *userTable) place(u *user, h uint32) {
	mask := len(t.slots) - 1
	i := int(h) & mask
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i], t.hashes[i] = u, h
}

// del removes the record of id, if present.
func (t *userTable) del(id string) {
	if t.n == 0 {
		return
	}
	h, mask := t.hash(id), len(t.slots)-1
	i := int(h) & mask
	for {
		u := t.slots[i]
		if u == nil {
			return
		}
		if t.hashes[i] == h && u.id == id {
			break
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask { // as in callTable.del
		home := int(t.hashes[j]) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.slots[i], t.hashes[i] = t.slots[j], t.hashes[j]
			i = j
		}
	}
	t.slots[i], t.hashes[i] = nil, 0
	t.n--
}

func (t *userTable) grow() {
	old, oldHashes := t.slots, t.hashes
	size := max(minTableSlots, 2*len(old))
	t.slots, t.hashes = make([]*user, size), make([]uint32, size)
	for i, u := range old {
		if u != nil {
			t.place(u, oldHashes[i])
		}
	}
}

// len returns the number of records in the table.
func (t *userTable) len() int { return t.n }

// each calls f for every record, in no particular order: callers that need
// one sort.
func (t *userTable) each(f func(u *user)) {
	for _, u := range t.slots {
		if u != nil {
			f(u)
		}
	}
}
