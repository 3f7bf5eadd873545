// Package deadline orders elements by their next due instant: a heap of
// deadlines with the order of the Time rule (RULES.md): instant first,
// then kind, then creation order.
//
// A Heap holds a handle for each element in it, which the element keeps
// (Set and Remove take a pointer to it), so that moving or removing an
// element costs no search. The heap never calls a method of its elements:
// every key it compares is kept in its own slots.
package deadline

import "time"

// Heap orders elements by their next due instant, ties by kind (lower
// first), then by creation order (lower first). A driver keeps one clock
// timer for the minimum, not one per element, so a million elements cost a
// million slots and a single timer. The zero Heap is empty and ready.
//
// With a million elements, the cost is cache misses, not comparisons
// (B4), and the structure is laid out for that:
//   - each slot carries its own sort key, so sifting compares adjacent
//     memory instead of chasing a pointer into every element;
//   - an element finds its slot through a small table of positions (pos),
//     by a handle it holds, so a sift that moves other elements' slots
//     updates 4 bytes each in that table, not a field in each element;
//   - the heap is 4-ary, half the depth of a binary heap, and a node's
//     four children sit side by side;
//   - a new element waits in a small unordered buffer (recent) before it
//     is sifted into the heap, which happens only when the buffer is full.
//     Most calls are answered, rejected or cancelled long before their
//     deadline: such an element comes and goes without touching the heap.
//     The minimum is the earlier of the heap's top and the buffer's
//     earliest, so the order seen is the same.
type Heap[T any] struct {
	base      time.Time // keys count from here: set when the first element goes in
	slots     []slot[T] // the heap
	recent    []slot[T] // elements not yet sifted in, at most recentCap, unordered
	recentMin int       // index in recent of its earliest slot, while recent is not empty
	pos       []int32   // by handle: the slot of the element holding it (inRecent set: in recent); for a free handle, the next free one
	free      int32     // the first free handle, +1; 0 when none
}

// slot is an element's place in a Heap, with its sort key.
type slot[T any] struct {
	at     int64  // the next due instant, in nanoseconds after the heap's base
	order  uint64 // creation order
	v      T
	handle uint32 // v's handle into pos
	kind   uint8  // at one instant, lower kinds first
}

// None is the handle of an element that is not in the heap. An element's
// handle must be None before its first Set.
const None = -1

const (
	inRecent  = 1 << 30 // pos flag: the slot is in recent
	recentCap = 32
	arity     = 4
)

// keyRange bounds how far from base a key may be: within it, keys are
// exact and the difference of two keys fits in an int64.
const keyRange = 1 << 62 // about 146 years

// key is t as a heap key: nanoseconds after base. base is the first
// deadline of a heap that was empty, and stays while elements are in, so
// with long timeouts, or a clock that runs for centuries with some element
// always in, a deadline may lie further from it than a key can say
// exactly (t.Sub saturates at 292 years, and a saturated key would fall
// due before its deadline, again and again). Such a deadline first moves
// base to the earliest instant in the heap (rebase): keys are then exact
// for every deadline within 292 years of the earliest one in, whatever
// the clock reads (Unix nanoseconds would overflow before 1678 and after
// 2262, and a test clock may start at the zero time).
func (h *Heap[T]) key(t time.Time) int64 {
	if d := Sub(t, h.base); d > -keyRange && d < keyRange {
		return int64(d)
	}
	h.rebase(t)
	return int64(Sub(t, h.base))
}

// rebase makes the earlier of t and the heap's earliest instant the new
// base, and every key the distance from it, which keeps their order. Each
// key is computed afresh from its instant rather than shifted by the
// distance between the bases: the old base stays after the elements that
// set it leave, and may lie further from the new one than a Duration
// reaches.
func (h *Heap[T]) rebase(t time.Time) {
	base := t
	if m := h.min(); m != nil {
		if at := h.when(m); at.Before(t) {
			base = at
		}
	}
	for i := range h.slots {
		h.slots[i].at = int64(Sub(h.when(&h.slots[i]), base))
	}
	for i := range h.recent {
		h.recent[i].at = int64(Sub(h.when(&h.recent[i]), base))
	}
	h.base = base
}

// before reports whether slot a falls due before slot b.
func before[T any](a, b *slot[T]) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.order < b.order
}

func (h *Heap[T]) less(i, j int) bool { return before(&h.slots[i], &h.slots[j]) }

func (h *Heap[T]) swap(i, j int) {
	s := h.slots
	s[i], s[j] = s[j], s[i]
	h.pos[s[i].handle] = int32(i)
	h.pos[s[j].handle] = int32(j)
}

// Len returns the number of elements in the heap.
func (h *Heap[T]) Len() int { return len(h.slots) + len(h.recent) }

// Min returns the element due first, when it falls due and its kind; the
// zero T and a zero time when the heap is empty.
func (h *Heap[T]) Min() (v T, at time.Time, kind uint8) {
	if s := h.min(); s != nil {
		return s.v, h.when(s), s.kind
	}
	return v, at, 0
}

// min returns the slot of the element due first, or nil. It is written
// to be small enough to inline into Min, which a driver calls a few times
// for every input.
func (h *Heap[T]) min() (m *slot[T]) {
	if len(h.slots) > 0 {
		m = &h.slots[0]
	}
	if len(h.recent) > 0 {
		if r := &h.recent[h.recentMin]; m == nil || before(r, m) {
			m = r
		}
	}
	return m
}

// when returns the instant slot s falls due.
func (h *Heap[T]) when(s *slot[T]) time.Time { return Add(h.base, time.Duration(s.at)) }

// Set files v, whose handle is *handle, at next with the given kind: in
// (when *handle is None; order is then its creation order, which breaks
// ties and stays while it is in), out (a zero next) or moved. The heap
// writes *handle: None once v is out.
//
// The heap is the only place an element's next instant is kept: a driver
// computes it afresh when the element changes rather than keep a copy.
func (h *Heap[T]) Set(handle *int32, v T, order uint64, next time.Time, kind uint8) {
	switch {
	case next.IsZero():
		h.Remove(handle)
	case *handle == None:
		h.add(handle, v, order, next, kind)
	default:
		d := Sub(next, h.base)
		if d <= -keyRange || d >= keyRange {
			// The keys must be rebased, on the earliest instant in the
			// heap but for v's own, which is about to change: v goes
			// out, and back in at next.
			h.Remove(handle)
			h.add(handle, v, order, next, kind)
			return
		}
		at, p := int64(d), h.pos[*handle]
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

// add puts v, not yet in, into recent, first sifting recent into the heap
// if it is full.
func (h *Heap[T]) add(handle *int32, v T, order uint64, next time.Time, kind uint8) {
	at := int64(0) // next is the base of an empty heap
	if len(h.slots) == 0 && len(h.recent) == 0 {
		h.base = next
	} else {
		at = h.key(next)
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
	*handle = int32(id)
	i := len(h.recent)
	h.pos[id] = int32(i) | inRecent
	h.recent = append(h.recent, slot[T]{at: at, kind: kind, order: order, v: v, handle: id})
	if i == 0 || before(&h.recent[i], &h.recent[h.recentMin]) {
		h.recentMin = i
	}
}

// flush sifts every element in recent into the heap.
func (h *Heap[T]) flush() {
	for k := range h.recent {
		i := len(h.slots)
		h.slots = append(h.slots, h.recent[k])
		h.pos[h.slots[i].handle] = int32(i)
		h.up(i)
		h.recent[k] = slot[T]{} // drop the reference to the element
	}
	h.recent, h.recentMin = h.recent[:0], -1
}

func (h *Heap[T]) findRecentMin() {
	h.recentMin = -1
	for i := range h.recent {
		if h.recentMin < 0 || before(&h.recent[i], &h.recent[h.recentMin]) {
			h.recentMin = i
		}
	}
}

// Remove takes the element whose handle is *handle out of the heap, if it
// is in, and sets *handle to None.
func (h *Heap[T]) Remove(handle *int32) {
	if *handle == None {
		return
	}
	id := uint32(*handle)
	p := h.pos[id]
	*handle = None
	if p&inRecent != 0 {
		i, last := int(p&^inRecent), len(h.recent)-1
		if i != last {
			h.recent[i] = h.recent[last]
			h.pos[h.recent[i].handle] = int32(i) | inRecent
		}
		h.recent[last] = slot[T]{}
		h.recent = h.recent[:last]
		if h.recentMin == i || h.recentMin == last {
			h.findRecentMin()
		}
	} else {
		i, last := int(p), len(h.slots)-1
		if i != last {
			h.swap(i, last) // writes pos[id]: the handle is freed only after
		}
		h.slots[last] = slot[T]{}
		h.slots = h.slots[:last]
		if i != last && !h.down(i) {
			h.up(i)
		}
	}
	// Freed handles form a list through pos, with no allocation. The link
	// is written last: nothing may write pos[id] once it holds the link, or
	// the rest of the list is lost and pos grows with every element.
	h.pos[id], h.free = -h.free, int32(id)+1
}

func (h *Heap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / arity
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts i towards the leaves and reports whether it moved.
func (h *Heap[T]) down(i int) bool {
	start, n := i, len(h.slots)
	for {
		first := arity*i + 1
		if first >= n {
			break
		}
		j := first
		for k := first + 1; k < first+arity && k < n; k++ {
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
