package call

import "time"

// deadlineHeap orders live calls by their next pending deadline, ties in the
// order the calls were created (the Time rule). The Registry keeps one clock
// timer for the heap's minimum, not one per call, so a million ringing calls
// cost a million heap slots and a single timer.
//
// With a million calls live, the cost of the heap is cache misses, not
// comparisons (B4), and it is laid out for that:
//   - each slot carries its own sort key, so sifting compares adjacent
//     memory instead of chasing a pointer into every call;
//   - a call finds its slot through a small table of positions (pos), by a
//     handle it holds, so a sift that moves other calls' slots updates 4
//     bytes each in that table, not a field in each call's record;
//   - the heap is 4-ary, half the depth of a binary heap, and a node's four
//     children sit side by side.
type deadlineHeap struct {
	base  time.Time // keys count from here: set when the first call goes in
	slots []heapSlot
	pos   []int32 // by handle: the slot of the call holding it; for a free handle, the next free one (see freeHandle)
	free  int32   // the first free handle, +1; 0 when none
}

type heapSlot struct {
	at     int64  // the call's next deadline, in nanoseconds after base
	order  uint64 // the call's creation order
	c      *callState
	handle uint32  // c's handle into pos
	kind   dueKind // at one instant, member deadlines before not-received checks
}

// noSlot is the dueHandle of a call that is not in the heap.
const noSlot = -1

const heapArity = 4

// key is t as a heap key: nanoseconds after base. Keys are exact for
// deadlines within 292 years of the earliest one in the heap, whatever the
// clock reads (Unix nanoseconds would overflow before 1678 and after 2262,
// and a test clock may start at the zero time).
func (h *deadlineHeap) key(t time.Time) int64 { return int64(t.Sub(h.base)) }

func (h *deadlineHeap) less(i, j int) bool {
	a, b := &h.slots[i], &h.slots[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.order < b.order
}

func (h *deadlineHeap) swap(i, j int) {
	s := h.slots
	s[i], s[j] = s[j], s[i]
	h.pos[s[i].handle] = int32(i)
	h.pos[s[j].handle] = int32(j)
}

// min returns the call due first, or nil.
func (h *deadlineHeap) min() *callState {
	if len(h.slots) == 0 {
		return nil
	}
	return h.slots[0].c
}

// set puts c where its next deadline says: in, out (a zero deadline) or
// moved.
func (h *deadlineHeap) set(c *callState) {
	switch {
	case c.next.IsZero():
		h.remove(c)
	case c.dueHandle == noSlot:
		var id uint32
		if h.free > 0 {
			id = uint32(h.free - 1)
			h.free = -h.pos[id]
		} else {
			id = uint32(len(h.pos))
			h.pos = append(h.pos, 0)
		}
		c.dueHandle = int32(id)
		i := len(h.slots)
		if i == 0 {
			h.base = c.next
		}
		h.pos[id] = int32(i)
		h.slots = append(h.slots, heapSlot{at: h.key(c.next), kind: c.nextKind, order: c.order, c: c, handle: id})
		h.up(i)
	default:
		i := int(h.pos[c.dueHandle])
		slot := &h.slots[i]
		at := h.key(c.next)
		if slot.at == at && slot.kind == c.nextKind {
			return
		}
		slot.at, slot.kind = at, c.nextKind
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *deadlineHeap) remove(c *callState) {
	if c.dueHandle == noSlot {
		return
	}
	id := uint32(c.dueHandle)
	i, last := int(h.pos[id]), len(h.slots)-1
	if i != last {
		h.swap(i, last)
	}
	h.slots[last] = heapSlot{}
	h.slots = h.slots[:last]
	h.pos[id], h.free = -h.free, int32(id)+1 // freed handles form a list through pos: no allocation
	c.dueHandle = noSlot
	if i != last && !h.down(i) {
		h.up(i)
	}
}

func (h *deadlineHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / heapArity
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i towards the leaves and reports whether it moved.
func (h *deadlineHeap) down(i int) bool {
	start, n := i, len(h.slots)
	for {
		first := heapArity*i + 1
		if first >= n {
			break
		}
		j := first
		for k := first + 1; k < first+heapArity && k < n; k++ {
			if h.less(k, j) {
				j = k
			}
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
