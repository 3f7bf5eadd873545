package call

// deadlineHeap orders live calls by their next pending deadline, ties in the
// order the calls were created (the Time rule). The Registry keeps one clock
// timer for the heap's minimum, not one per call, so a million ringing calls
// cost a million heap slots and a single timer. Each slot carries its own
// sort key, so sifting compares adjacent memory instead of chasing a pointer
// into every call: that is what makes a million expiries cheap (B4).
type deadlineHeap struct{ h minHeap[heapSlot] }

type heapSlot struct {
	at    int64   // the call's next deadline, in Unix nanoseconds
	kind  dueKind // at one instant, member deadlines before not-received checks
	order uint64  // the call's creation order
	c     *callState
}

func (a heapSlot) before(b heapSlot) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.order < b.order
}

func (a heapSlot) placed(i int) { a.c.heapIdx = i }

// min returns the call due first, or nil.
func (d *deadlineHeap) min() *callState {
	if len(d.h) == 0 {
		return nil
	}
	return d.h[0].c
}

// set puts c where its next deadline says: in, out (a zero deadline) or
// moved.
func (d *deadlineHeap) set(c *callState) {
	switch {
	case c.next.IsZero():
		d.remove(c)
	case c.heapIdx < 0:
		d.h.push(heapSlot{at: c.next.UnixNano(), kind: c.nextKind, order: c.order, c: c})
	default:
		slot := &d.h[c.heapIdx]
		at := c.next.UnixNano()
		if slot.at == at && slot.kind == c.nextKind {
			return
		}
		slot.at, slot.kind = at, c.nextKind
		d.h.fix(c.heapIdx)
	}
}

func (d *deadlineHeap) remove(c *callState) {
	if c.heapIdx >= 0 {
		d.h.removeAt(c.heapIdx)
	}
}
