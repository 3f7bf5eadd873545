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
		var calls []*callState // every call made; in the heap when next is set
		var order uint64
		draw := func(t *rapid.T, c *callState) {
			c.next = base.Add(time.Duration(rapid.IntRange(0, 40).Draw(t, "at")) * time.Second)
			c.nextKind = dueKind(rapid.IntRange(0, 1).Draw(t, "kind"))
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				order++
				c := &callState{order: order, dueHandle: noSlot}
				draw(t, c)
				h.set(c)
				calls = append(calls, c)
			},
			"move": func(t *rapid.T) {
				if len(calls) == 0 {
					t.Skip("no calls")
				}
				c := rapid.SampledFrom(calls).Draw(t, "call")
				draw(t, c)
				if rapid.IntRange(0, 4).Draw(t, "clear") == 0 {
					c.next = time.Time{} // out of the heap
				}
				h.set(c)
			},
			"remove": func(t *rapid.T) {
				if len(calls) == 0 {
					t.Skip("no calls")
				}
				c := rapid.SampledFrom(calls).Draw(t, "call")
				h.remove(c)
				c.next = time.Time{}
			},
			"": func(t *rapid.T) {
				var want *callState
				n := 0
				for _, c := range calls {
					if c.next.IsZero() {
						if c.dueHandle != noSlot {
							t.Fatalf("call %d is out but holds handle %d", c.order, c.dueHandle)
						}
						continue
					}
					n++
					if want == nil || c.next.Before(want.next) ||
						c.next.Equal(want.next) && (c.nextKind < want.nextKind || c.nextKind == want.nextKind && c.order < want.order) {
						want = c
					}
				}
				if got := h.min(); got != want {
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
