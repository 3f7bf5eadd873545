package deadline

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// elem is what the tests file: an element with its creation order and the
// handle the heap gives it.
type elem struct {
	order  uint64
	handle int32
}

func newElem(order uint64) *elem { return &elem{order: order, handle: None} }

func orderOf(e *elem) any {
	if e == nil {
		return nil
	}
	return e.order
}

// The heap against a plain list: any sequence of adds, moves and
// removals, enough elements to fill the recent buffer many times over (so
// that elements are sifted in, moved and removed both while recent and
// while in the heap), with deadlines that collide and both kinds at one
// instant, some of them centuries apart (so that keys are rebased). After
// each step Min must be the element a linear scan finds first by
// (deadline, kind, creation order), due exactly when it was set.
func TestHeapRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h Heap[*elem]
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		// Deadlines up to 350 years after base, those in at once at most
		// 250 years apart: further from base than a key's range, or than
		// a Duration reaches, within what the heap keeps exact.
		const span = 250 * 365 * 24 * time.Hour
		type due struct {
			next time.Time // zero: out of the heap
			kind uint8
		}
		var elems []*elem // every element made
		model := map[*elem]due{}
		var order uint64
		// draw sets e's deadline, unless the deadlines in would then span
		// more than the heap keeps exact: it then skips the step.
		draw := func(t *rapid.T, e *elem) {
			d := due{
				next: base.AddDate(50*rapid.IntRange(0, 7).Draw(t, "era"), 0, 0).
					Add(time.Duration(rapid.IntRange(0, 40).Draw(t, "at")) * time.Second),
				kind: uint8(rapid.IntRange(0, 1).Draw(t, "kind")),
			}
			for other, o := range model {
				if other != e && !o.next.IsZero() && (d.next.Sub(o.next) > span || o.next.Sub(d.next) > span) {
					t.Skip("too far apart")
				}
			}
			model[e] = d
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				e := newElem(order + 1)
				draw(t, e)
				order++
				h.Set(&e.handle, e, e.order, model[e].next, model[e].kind)
				elems = append(elems, e)
			},
			"move": func(t *rapid.T) {
				if len(elems) == 0 {
					t.Skip("no elements")
				}
				e := rapid.SampledFrom(elems).Draw(t, "elem")
				draw(t, e)
				if rapid.IntRange(0, 4).Draw(t, "clear") == 0 {
					model[e] = due{} // out of the heap
				}
				h.Set(&e.handle, e, e.order, model[e].next, model[e].kind)
			},
			"remove": func(t *rapid.T) {
				if len(elems) == 0 {
					t.Skip("no elements")
				}
				e := rapid.SampledFrom(elems).Draw(t, "elem")
				h.Remove(&e.handle)
				model[e] = due{}
			},
			"": func(t *rapid.T) {
				var want *elem
				n := 0
				for _, e := range elems {
					d := model[e]
					if d.next.IsZero() {
						if e.handle != None {
							t.Fatalf("element %d is out but holds handle %d", e.order, e.handle)
						}
						continue
					}
					n++
					w := model[want]
					if want == nil || d.next.Before(w.next) ||
						d.next.Equal(w.next) && (d.kind < w.kind || d.kind == w.kind && e.order < want.order) {
						want = e
					}
				}
				got, at, kind := h.Min()
				if got != nil {
					if d := model[got]; !at.Equal(d.next) || kind != d.kind {
						t.Fatalf("min element %d due %v (%d), want %v (%d)", got.order, at, kind, d.next, d.kind)
					}
				} else if !at.IsZero() {
					t.Fatalf("empty heap's min due %v, want the zero time", at)
				}
				if got != want {
					t.Fatalf("min is %v, want %v", orderOf(got), orderOf(want))
				}
				if h.Len() != n {
					t.Fatalf("Len %d, want %d", h.Len(), n)
				}
			},
		})
	})
}

// Deadlines further from the heap's base than a key can say move the base
// to the earliest instant in (rebase): each then falls due exactly when it
// was set, here with a clock that starts at the zero time and deadlines
// that lie, in turn, two and three centuries after it.
func TestHeapRebase(t *testing.T) {
	var h Heap[*elem]
	start := time.Time{}.Add(time.Second)
	centuries := func(n int) time.Time { return start.AddDate(100*n, 0, 0) }
	a, b, c := newElem(1), newElem(2), newElem(3)
	h.Set(&a.handle, a, a.order, start, 0)
	h.Set(&b.handle, b, b.order, centuries(2), 0)
	h.Remove(&a.handle)
	// c lies three centuries after the base, a's deadline: further than a
	// Duration reaches.
	h.Set(&c.handle, c, c.order, centuries(3), 0)
	for _, want := range []struct {
		e  *elem
		at time.Time
	}{{b, centuries(2)}, {c, centuries(3)}} {
		got, at, _ := h.Min()
		if got != want.e || !at.Equal(want.at) {
			t.Fatalf("min is %v due %v, want %v due %v", orderOf(got), at, want.e.order, want.at)
		}
		h.Remove(&got.handle)
	}
	// A deadline earlier than the base by more than a key's range: the
	// base moves back to it.
	h.Set(&c.handle, c, c.order, centuries(2), 1)
	h.Set(&a.handle, a, a.order, start.Add(time.Nanosecond), 1)
	if got, at, kind := h.Min(); got != a || !at.Equal(start.Add(time.Nanosecond)) || kind != 1 {
		t.Fatalf("min is %v due %v (%d), want 1 due %v (1)", orderOf(got), at, kind, start.Add(time.Nanosecond))
	}
	h.Remove(&a.handle)
	if got, at, _ := h.Min(); got != c || !at.Equal(centuries(2)) {
		t.Fatalf("min is %v due %v, want 3 due %v", orderOf(got), at, centuries(2))
	}
	// The earliest element moved three centuries on: the base moves to
	// where it goes, not where it was.
	h.Set(&c.handle, c, c.order, centuries(5), 1)
	if got, at, _ := h.Min(); got != c || !at.Equal(centuries(5)) {
		t.Fatalf("min is %v due %v, want 3 due %v", orderOf(got), at, centuries(5))
	}
}

// The base stays after the element that set it leaves, and a rebase then
// measures keys from a new base further from the old one than a Duration
// reaches: every key must still come out exact.
func TestHeapRebaseFromStaleBase(t *testing.T) {
	var h Heap[*elem]
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	centuries := func(n int) time.Time { return start.AddDate(100*n, 0, 0) }
	a, b, c := newElem(1), newElem(2), newElem(3)
	h.Set(&a.handle, a, a.order, centuries(4), 0) // the base
	h.Set(&b.handle, b, b.order, centuries(3), 0)
	h.Remove(&a.handle)
	h.Set(&c.handle, c, c.order, centuries(1), 0) // three centuries before the base
	for _, want := range []struct {
		e  *elem
		at time.Time
	}{{c, centuries(1)}, {b, centuries(3)}} {
		got, at, _ := h.Min()
		if got != want.e || !at.Equal(want.at) {
			t.Fatalf("min is %v due %v, want %v due %v", orderOf(got), at, want.e.order, want.at)
		}
		h.Remove(&got.handle)
	}
}

// At one instant, lower kinds fall due first, then earlier creation
// orders, whatever the order of the Sets, in recent and in the heap.
func TestHeapOrderAtOneInstant(t *testing.T) {
	var h Heap[*elem]
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 3 * recentCap // most are sifted into the heap
	elems := make([]*elem, n)
	for i := range elems {
		elems[i] = newElem(uint64(i + 1))
	}
	// Filed in reverse order of creation, odd orders of kind 0.
	for i := n - 1; i >= 0; i-- {
		e := elems[i]
		h.Set(&e.handle, e, e.order, at, uint8(1-e.order%2))
	}
	var got []uint64
	for h.Len() > 0 {
		e, _, _ := h.Min()
		got = append(got, e.order)
		h.Remove(&e.handle)
	}
	for i, o := range got {
		want := uint64(2*i + 1) // kind 0 first: 1, 3, 5, ...
		if i >= n/2 {
			want = uint64(2 * (i - n/2 + 1)) // then kind 1: 2, 4, 6, ...
		}
		if o != want {
			t.Fatalf("position %d: order %d, want %d (all: %v)", i, o, want, got)
		}
	}
}

// Handles of removed elements are reused: elements added and removed
// again and again, through the heap (more than recentCap at once, so most
// are sifted in before they leave) and through recent, never need more
// handles than are in at once, and every free handle is on the free list.
func TestHeapReusesHandles(t *testing.T) {
	var h Heap[*elem]
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const live = 4 * recentCap
	var order uint64
	elems := make([]*elem, live)
	for round := range 100 {
		for i := range elems {
			order++
			elems[i] = newElem(order)
			h.Set(&elems[i].handle, elems[i], order, base.Add(time.Duration((i*7+round)%live)*time.Second), 0)
		}
		// Remove in an order other than the heap's, so that removals move
		// slots about (swap) as well as take the last one.
		for k := range elems {
			h.Remove(&elems[(k*5)%live].handle)
		}
		if h.Len() != 0 {
			t.Fatalf("round %d: %d slots left", round, h.Len())
		}
		if len(h.pos) > live {
			t.Fatalf("round %d: %d handles for at most %d elements in at once", round, len(h.pos), live)
		}
		free := 0
		for f := h.free; f > 0; f = -h.pos[f-1] {
			if free++; free > len(h.pos) {
				t.Fatalf("round %d: the free list loops", round)
			}
		}
		if free != len(h.pos) {
			t.Fatalf("round %d: %d handles on the free list, want all %d", round, free, len(h.pos))
		}
	}
}

// A heap emptied drops its references to the elements it held, in its
// slots and in recent, so that they can be collected.
func TestHeapDropsElements(t *testing.T) {
	var h Heap[*elem]
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	elems := make([]*elem, 2*recentCap+5) // recent holds some when the last are added
	for i := range elems {
		elems[i] = newElem(uint64(i + 1))
		h.Set(&elems[i].handle, elems[i], elems[i].order, base.Add(time.Duration(i%7)*time.Second), 0)
	}
	for _, e := range elems {
		h.Remove(&e.handle)
	}
	for i, s := range h.slots[:cap(h.slots)] {
		if s.v != nil {
			t.Fatalf("heap slot %d still holds element %d", i, s.v.order)
		}
	}
	for i, s := range h.recent[:cap(h.recent)] {
		if s.v != nil {
			t.Fatalf("recent slot %d still holds element %d", i, s.v.order)
		}
	}
}
