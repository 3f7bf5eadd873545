package call

// deadlineHeap orders live calls by their next pending deadline, ties in the
// order the calls were created (the Time rule). The Registry keeps one clock
// timer for the heap's minimum, not one per call, so a million ringing calls
// cost a million heap slots and a single timer.
type deadlineHeap []*callState

func (h deadlineHeap) less(i, j int) bool {
	a, b := h[i], h[j]
	if !a.next.Equal(b.next) {
		return a.next.Before(b.next)
	}
	return a.order < b.order
}

func (h deadlineHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

// min returns the call due first, or nil.
func (h deadlineHeap) min() *callState {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}

// set puts c where its next deadline says: in, out (a zero deadline) or
// moved.
func (h *deadlineHeap) set(c *callState) {
	switch {
	case c.next.IsZero():
		h.remove(c)
	case c.heapIdx < 0:
		c.heapIdx = len(*h)
		*h = append(*h, c)
		h.up(c.heapIdx)
	default:
		if !h.down(c.heapIdx) {
			h.up(c.heapIdx)
		}
	}
}

func (h *deadlineHeap) remove(c *callState) {
	i := c.heapIdx
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
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
