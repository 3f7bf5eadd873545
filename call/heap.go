package call

// heapItem is what minHeap orders: before says which of two goes first, and
// placed tells an item its new index, so that it can be removed or moved
// later without a search.
type heapItem[T any] interface {
	before(T) bool
	placed(i int)
}

// minHeap is a binary min-heap with indexed removal, shared by the call
// deadlines and the heartbeat deadlines.
type minHeap[T heapItem[T]] []T

func (h minHeap[T]) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].placed(i)
	h[j].placed(j)
}

// push adds x.
func (h *minHeap[T]) push(x T) {
	*h = append(*h, x)
	x.placed(len(*h) - 1)
	h.up(len(*h) - 1)
}

// fix restores the order after the item at i changed its key.
func (h minHeap[T]) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

// removeAt removes the item at i and tells it its index is -1.
func (h *minHeap[T]) removeAt(i int) {
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	gone := (*h)[last]
	var zero T
	(*h)[last] = zero
	*h = (*h)[:last]
	gone.placed(-1)
	if i != last {
		h.fix(i)
	}
}

func (h minHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].before(h[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i towards the leaves and reports whether it moved.
func (h minHeap[T]) down(i int) bool {
	start := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		j := l
		if r := l + 1; r < len(h) && h[r].before(h[l]) {
			j = r
		}
		if !h[j].before(h[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > start
}
