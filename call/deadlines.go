package call

// deadlineHeap orders live calls by their next pending deadline, ties in the
// order the calls were created (the Time rule). The Registry keeps one clock
// timer for the heap's minimum, not one per call, so a million ringing calls
// cost a million heap slots and a single timer. Each slot carries its own
// sort key, so sifting compares adjacent memory instead of chasing a pointer
// into every call: that is what makes a million expiries cheap (B4).
type deadlineHeap []heapSlot

type heapSlot struct {
	at    int64   // the call's next deadline, in Unix nanoseconds
	kind  dueKind // at one instant, member deadlines before not-received checks
	order uint64  // the call's creation order
	c     *callState
}

func (h deadlineHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.order < b.order
}

func (h deadlineHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].c.heapIdx = int32(i)
	h[j].c.heapIdx = int32(j)
}

// min returns the call due first, or nil.
func (h deadlineHeap) min() *callState {
	if len(h) == 0 {
		return nil
	}
	return h[0].c
}

// set puts c where its next deadline says: in, out (a zero deadline) or
// moved.
func (h *deadlineHeap) set(c *callState) {
	switch {
	case c.next.IsZero():
		h.remove(c)
	case c.heapIdx < 0:
		c.heapIdx = int32(len(*h))
		*h = append(*h, heapSlot{at: c.next.UnixNano(), kind: c.nextKind, order: c.order, c: c})
		h.up(len(*h) - 1)
	default:
		i := int(c.heapIdx)
		at := c.next.UnixNano()
		if slot := &(*h)[i]; slot.at == at && slot.kind == c.nextKind {
			return
		}
		(*h)[i].at, (*h)[i].kind = at, c.nextKind
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h *deadlineHeap) remove(c *callState) {
	i := int(c.heapIdx)
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = heapSlot{}
	*h = (*h)[:last]
	c.heapIdx = -1
	if i != last && !h.down(i) {
		h.up(i)
	}
}

func (h deadlineHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i towards the leaves and reports whether it moved.
func (h deadlineHeap) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		j := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
