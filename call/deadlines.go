package call

import "time"

// deadlineHeap orders live calls by their next pending deadline, ties in the
// order the calls were created (the Time rule). The Registry keeps one clock
// timer for the minimum, not one per call, so a million ringing calls cost a
// million slots and a single timer.
//
// With a million calls live, the cost is cache misses, not comparisons
// (B4), and the structure is laid out for that:
//   - each slot carries its own sort key, so sifting compares adjacent
//     memory instead of chasing a pointer into every call;
//   - a call finds its slot through a small table of positions (pos), by a
//     handle it holds, so a sift that moves other calls' slots updates 4
//     bytes each in that table, not a field in each call's record;
//   - the heap is 4-ary, half the depth of a binary heap, and a node's four
//     children sit side by side;
//   - a new call waits in a small unordered buffer (recent) before it is
//     sifted into the heap, which happens only when the buffer is full. Most
//     calls are answered, rejected or cancelled within seconds, long before
//     their deadline: such a call comes and goes without touching the heap.
//     The minimum is the earlier of the heap's top and the buffer's
//     earliest, so the order the Time rule sees is the same.
type deadlineHeap struct {
	base      time.Time  // keys count from here: set when the first call goes in
	slots     []heapSlot // the heap
	recent    []heapSlot // calls not yet sifted in, at most recentCap, unordered
	recentMin int        // index in recent of its earliest slot, while recent is not empty
	pos       []int32    // by handle: the slot of the call holding it (inRecent set: in recent); for a free handle, the next free one
	free      int32      // the first free handle, +1; 0 when none
}

type heapSlot struct {
	at     int64  // the call's next deadline, in nanoseconds after base
	order  uint64 // the call's creation order
	c      *callState
	handle uint32  // c's handle into pos
	kind   dueKind // at one instant, member deadlines before not-received checks
}

const (
	noSlot    = -1      // the dueHandle of a call that is not in the heap
	inRecent  = 1 << 30 // pos flag: the slot is in recent
	recentCap = 32
	heapArity = 4
)

// keyRange bounds how far from base a key may be: within it, keys are
// exact and the difference of two keys fits in an int64.
const keyRange = 1 << 62 // about 146 years

// key is t as a heap key: nanoseconds after base. base is the first
// deadline of a heap that was empty, and stays while calls are pending, so
// with long timeouts, or a clock that runs for centuries with some call
// always pending, a deadline may lie further from it than a key can say
// exactly (t.Sub saturates at 292 years, and a saturated key would fall due
// before its deadline, again and again). Such a deadline first moves base
// to the earliest instant in the heap (rebase): keys are then exact for
// every deadline within 292 years of the earliest one pending, whatever
// the clock reads (Unix nanoseconds would overflow before 1678 and after
// 2262, and a test clock may start at the zero time).
func (h *deadlineHeap) key(t time.Time) int64 {
	if d := t.Sub(h.base); d > -keyRange && d < keyRange {
		return int64(d)
	}
	h.rebase(t)
	return int64(t.Sub(h.base))
}

// rebase makes the earlier of t and the heap's earliest instant the new
// base, shifting every key by the same amount, which keeps their order.
func (h *deadlineHeap) rebase(t time.Time) {
	base := t
	if m := h.min(); m != nil {
		if at := h.when(m); at.Before(t) {
			base = at
		}
	}
	shift := int64(base.Sub(h.base))
	for i := range h.slots {
		h.slots[i].at -= shift
	}
	for i := range h.recent {
		h.recent[i].at -= shift
	}
	h.base = base
}

// before reports whether slot a falls due before slot b.
func before(a, b *heapSlot) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.order < b.order
}

func (h *deadlineHeap) less(i, j int) bool { return before(&h.slots[i], &h.slots[j]) }

func (h *deadlineHeap) swap(i, j int) {
	s := h.slots
	s[i], s[j] = s[j], s[i]
	h.pos[s[i].handle] = int32(i)
	h.pos[s[j].handle] = int32(j)
}

// min returns the slot of the call due first, or nil.
func (h *deadlineHeap) min() *heapSlot {
	switch {
	case len(h.recent) > 0 && (len(h.slots) == 0 || before(&h.recent[h.recentMin], &h.slots[0])):
		return &h.recent[h.recentMin]
	case len(h.slots) > 0:
		return &h.slots[0]
	}
	return nil
}

// when returns the instant slot s falls due.
func (h *deadlineHeap) when(s *heapSlot) time.Time { return h.base.Add(time.Duration(s.at)) }

// set puts c where its next due instant, next, of the given kind says: in,
// out (a zero next) or moved. The heap is the only place a call's next
// instant is kept: a call computes it afresh when it changes (see
// nextDeadline), which costs a glance at a few members and spares every
// record 25 bytes (B3).
func (h *deadlineHeap) set(c *callState, next time.Time, kind dueKind) {
	switch {
	case next.IsZero():
		h.remove(c)
	case c.dueHandle == noSlot:
		h.add(c, next, kind)
	default:
		p := h.pos[c.dueHandle]
		at := h.key(next)
		if p&inRecent != 0 {
			i := int(p &^ inRecent)
			h.recent[i].at, h.recent[i].kind = at, kind
			h.findRecentMin()
			return
		}
		i := int(p)
		slot := &h.slots[i]
		if slot.at == at && slot.kind == kind {
			return
		}
		slot.at, slot.kind = at, kind
		if !h.down(i) {
			h.up(i)
		}
	}
}

// add puts c, not yet in, into recent, first sifting recent into the heap
// if it is full.
func (h *deadlineHeap) add(c *callState, next time.Time, kind dueKind) {
	if len(h.slots) == 0 && len(h.recent) == 0 {
		h.base = next
	}
	if len(h.recent) == recentCap {
		h.flush()
	}
	var id uint32
	if h.free > 0 {
		id = uint32(h.free - 1)
		h.free = -h.pos[id]
	} else {
		id = uint32(len(h.pos))
		h.pos = append(h.pos, 0)
	}
	c.dueHandle = int32(id)
	i := len(h.recent)
	h.pos[id] = int32(i) | inRecent
	h.recent = append(h.recent, heapSlot{at: h.key(next), kind: kind, order: c.order, c: c, handle: id})
	if i == 0 || before(&h.recent[i], &h.recent[h.recentMin]) {
		h.recentMin = i
	}
}

// flush sifts every call in recent into the heap.
func (h *deadlineHeap) flush() {
	for k := range h.recent {
		i := len(h.slots)
		h.slots = append(h.slots, h.recent[k])
		h.pos[h.slots[i].handle] = int32(i)
		h.up(i)
		h.recent[k] = heapSlot{}
	}
	h.recent, h.recentMin = h.recent[:0], -1
}

func (h *deadlineHeap) findRecentMin() {
	h.recentMin = -1
	for i := range h.recent {
		if h.recentMin < 0 || before(&h.recent[i], &h.recent[h.recentMin]) {
			h.recentMin = i
		}
	}
}

func (h *deadlineHeap) remove(c *callState) {
	if c.dueHandle == noSlot {
		return
	}
	id := uint32(c.dueHandle)
	p := h.pos[id]
	c.dueHandle = noSlot
	if p&inRecent != 0 {
		i, last := int(p&^inRecent), len(h.recent)-1
		if i != last {
			h.recent[i] = h.recent[last]
			h.pos[h.recent[i].handle] = int32(i) | inRecent
		}
		h.recent[last] = heapSlot{}
		h.recent = h.recent[:last]
		if h.recentMin == i || h.recentMin == last {
			h.findRecentMin()
		}
	} else {
		i, last := int(p), len(h.slots)-1
		if i != last {
			h.swap(i, last) // writes pos[id]: the handle is freed only after
		}
		h.slots[last] = heapSlot{}
		h.slots = h.slots[:last]
		if i != last && !h.down(i) {
			h.up(i)
		}
	}
	// Freed handles form a list through pos, with no allocation. The link
	// is written last: nothing may write pos[id] once it holds the link, or
	// the rest of the list is lost and pos grows with every call.
	h.pos[id], h.free = -h.free, int32(id)+1
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
