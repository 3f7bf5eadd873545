package call

import "hash/maphash"

// callTable maps live call IDs to their records. It is an open-addressing
// table of pointers with linear probing: a slot is 8 bytes and the key is
// the record's own id, so a million calls cost some 16 MB of table instead
// of the 40 MB of a map[string]*callState, whose slots hold a copy of the
// key's header too (B3). The first probe of a lookup reads the record the
// caller is about to use anyway. Deletion shifts the following entries back
// (no tombstones), so the table never degrades.
type callTable struct {
	seed  maphash.Seed
	slots []*callState // len is a power of two, or 0
	n     int
}

// minTableSlots is the smallest table made.
const minTableSlots = 16

func newCallTable() callTable { return callTable{seed: maphash.MakeSeed()} }

func (t *callTable) home(id string) int {
	return int(maphash.String(t.seed, id) & uint64(len(t.slots)-1))
}

// get returns the live call id, or nil.
func (t *callTable) get(id string) *callState {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		c := t.slots[i]
		if c == nil || c.id == id {
			return c
		}
	}
}

// put adds c, whose id is not in the table.
func (t *callTable) put(c *callState) {
	if (t.n+1)*4 > len(t.slots)*3 { // keep the load at most 3/4
		t.grow()
	}
	mask := len(t.slots) - 1
	i := t.home(c.id)
	for t.slots[i] != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = c
	t.n++
}

// del removes the call id, if present.
func (t *callTable) del(id string) {
	if t.n == 0 {
		return
	}
	mask := len(t.slots) - 1
	i := t.home(id)
	for {
		c := t.slots[i]
		if c == nil {
			return
		}
		if c.id == id {
			break
		}
		i = (i + 1) & mask
	}
	// Shift back each following entry that may move into the hole: one
	// whose home is not in the cyclic range (hole, j].
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		h := t.home(t.slots[j].id)
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
}

func (t *callTable) grow() {
	old := t.slots
	size := max(minTableSlots, 2*len(old))
	t.slots = make([]*callState, size)
	mask := size - 1
	for _, c := range old {
		if c == nil {
			continue
		}
		i := t.home(c.id)
		for t.slots[i] != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = c
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
