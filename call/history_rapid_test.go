package call_test

import (
	"fmt"
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"pgregory.net/rapid"
)

// TestHistoryCursorsAcrossSteps: a cursor taken at one step and used
// steps later, while calls end and older ones are evicted (H8), gives the
// calls still kept that are older than the last one its page returned,
// newest first: no call twice, none skipped. Cursors also survive a
// Snapshot/Restore.
func TestHistoryCursorsAcrossSteps(t *testing.T) {
	used := 0
	defer func() { t.Logf("%d held cursors used", used) }()
	rapid.Check(t, func(t *rapid.T) {
		o := drawOptions(t)
		_ = drawPolicies(t, &o)
		if o.History == 0 {
			o.History = rapid.IntRange(1, 5).Draw(t, "History")
		}
		r, h, clk := checkedRegistry(t, o)
		type held struct {
			cursor string
			last   call.Info
		}
		cursors := map[string]held{}
		key := func(i call.Info) string { return fmt.Sprintf("%+v", i) }
		actions := h.Actions()
		actions["page"] = func(t *rapid.T) {
			u := rapid.SampledFrom(calltest.DefaultUsers).Draw(t, "user")
			count := rapid.IntRange(1, 3).Draw(t, "count")
			full, _, err := r.History(u, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			cursor := ""
			hc, ok := cursors[u]
			var want []call.Info
			if ok && rapid.Bool().Draw(t, "use the held cursor") {
				cursor = hc.cursor
				for i, c := range full {
					if key(c) == key(hc.last) {
						want = full[i+1:]
						break
					}
				}
				used++
			} else {
				want = full
			}
			if rapid.Bool().Draw(t, "restore first") {
				snap, err := r.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				co := o
				co.Clock = clock.NewManual(clk.Now())
				rr, err := call.Restore(snap, co)
				if err != nil {
					t.Fatal(err)
				}
				got, _, err := rr.History(u, count, cursor)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != min(count, len(want)) {
					live, _, _ := r.History(u, count, cursor)
					t.Fatalf("restored: %d calls, want %d\nfull %+v\nheld %+v\ngot %+v\nlive %+v", len(got), min(count, len(want)), full, hc.last, got, live)
				}
			}
			got, next, err := r.History(u, count, cursor)
			if err != nil {
				t.Fatalf("History(%q, %d, held cursor): %v", u, count, err)
			}
			n := min(count, len(want))
			if len(got) != n {
				t.Fatalf("after step %d: History(%q, %d, cursor %v) gave %d calls, want %d (full %d)", h.Steps, u, count, cursor != "", len(got), n, len(full))
			}
			for i := range got {
				if key(got[i]) != key(want[i]) {
					t.Fatalf("after step %d: call %d: %s, want %s", h.Steps, i, got[i].CallID, want[i].CallID)
				}
			}
			if (next == "") != (n == len(want)) {
				t.Fatalf("after step %d: next %q with %d of %d calls given", h.Steps, next, n, len(want))
			}
			if next != "" {
				cursors[u] = held{next, got[len(got)-1]}
			} else {
				delete(cursors, u)
			}
		}
		actions[""] = func(t *rapid.T) { h.Check(t) }
		t.Repeat(actions)
	})
}
