package call

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The deadline heap against a plain list: any sequence of adds, moves and
// removals, enough calls to fill the recent buffer many times over (so
// that calls are sifted in, moved and removed both while recent and while
// in the heap), with deadlines that collide and both kinds at one instant.
// After each step min must be the call a linear scan finds first by
// (deadline, kind, creation order).
func TestDeadlineHeapRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var h deadlineHeap
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		type due struct {
			next time.Time // zero: out of the heap
			kind dueKind
		}
		var calls []*callState // every call made
		model := map[*callState]due{}
		var order uint64
		draw := func(t *rapid.T, c *callState) {
			d := due{
				next: base.Add(time.Duration(rapid.IntRange(0, 40).Draw(t, "at")) * time.Second),
				kind: dueKind(rapid.IntRange(0, 1).Draw(t, "kind")),
			}
			model[c] = d
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				order++
				c := &callState{order: order, dueHandle: noSlot}
				draw(t, c)
				h.set(c, model[c].next, model[c].kind)
				calls = append(calls, c)
			},
			"move": func(t *rapid.T) {
				if len(calls) == 0 {
					t.Skip("no calls")
				}
				c := rapid.SampledFrom(calls).Draw(t, "call")
				draw(t, c)
				if rapid.IntRange(0, 4).Draw(t, "clear") == 0 {
					model[c] = due{} // out of the heap
				}
				h.set(c, model[c].next, model[c].kind)
			},
			"remove": func(t *rapid.T) {
				if len(calls) == 0 {
					t.Skip("no calls")
				}
				c := rapid.SampledFrom(calls).Draw(t, "call")
				h.remove(c)
				model[c] = due{}
			},
			"": func(t *rapid.T) {
				var want *callState
				n := 0
				for _, c := range calls {
					d := model[c]
					if d.next.IsZero() {
						if c.dueHandle != noSlot {
							t.Fatalf("call %d is out but holds handle %d", c.order, c.dueHandle)
						}
						continue
					}
					n++
					w := model[want]
					if want == nil || d.next.Before(w.next) ||
						d.next.Equal(w.next) && (d.kind < w.kind || d.kind == w.kind && c.order < want.order) {
						want = c
					}
				}
				var got *callState
				if s := h.min(); s != nil {
					got = s.c
					if d := model[got]; !h.when(s).Equal(d.next) || s.kind != d.kind {
						t.Fatalf("min call %d due %v (%d), want %v (%d)", got.order, h.when(s), s.kind, d.next, d.kind)
					}
				}
				if got != want {
					t.Fatalf("min is %v, want %v", orderOf(got), orderOf(want))
				}
				if got := len(h.slots) + len(h.recent); got != n {
					t.Fatalf("%d slots, want %d", got, n)
				}
			},
		})
	})
}

func orderOf(c *callState) any {
	if c == nil {
		return nil
	}
	return c.order
}

// Handles of removed calls are reused: calls added and removed again and
// again, through the heap (more than recentCap at once, so most are sifted
// in before they leave) and through recent, never need more handles than
// are live at once, and every free handle is on the free list.
func TestDeadlineHeapReusesHandles(t *testing.T) {
	var h deadlineHeap
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const live = 4 * recentCap
	var order uint64
	calls := make([]*callState, live)
	for round := range 100 {
		for i := range calls {
			order++
			calls[i] = &callState{order: order, dueHandle: noSlot}
			h.set(calls[i], base.Add(time.Duration((i*7+round)%live)*time.Second), dueDeadline)
		}
		// Remove in an order other than the heap's, so that removals move
		// slots about (swap) as well as take the last one.
		for k := range calls {
			h.remove(calls[(k*5)%live])
		}
		if len(h.slots)+len(h.recent) != 0 {
			t.Fatalf("round %d: %d slots left", round, len(h.slots)+len(h.recent))
		}
		if len(h.pos) > live {
			t.Fatalf("round %d: %d handles for at most %d calls live at once", round, len(h.pos), live)
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
