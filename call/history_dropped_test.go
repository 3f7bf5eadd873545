package call_test

import (
	"fmt"
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
)

// TestHistoryCursorOutlivesDroppedHistory: H8 keeps at most so many idle
// users, dropping the one idle longest with its history. A cursor made for
// that history, used once the user has a new one, pages into a history
// that is gone: it finds nothing older, as when eviction took the entries
// it pointed into, and never gives the new history's calls as older ones
// (numbered afresh, they may even reach the cursor's number).
func TestHistoryCursorOutlivesDroppedHistory(t *testing.T) {
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), NewID: counterIDs(), History: 10})
	if err != nil {
		t.Fatal(err)
	}
	ring := func(a, b string) {
		t.Helper()
		res, err := r.Invite(a, []string{b}, call.InviteConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reject(b, res.CallID, call.RejectConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		ring("u", "old")
	}
	page, cursor, err := r.History("u", 2, "")
	if err != nil || len(page) != 2 || cursor == "" {
		t.Fatalf("first page: %d calls, cursor %q, %v", len(page), cursor, err)
	}
	// More idle users than the bound: u, idle longest, is dropped.
	for i := range 100_001 {
		ring(fmt.Sprint("x", i), fmt.Sprint("y", i))
	}
	if h, _, _ := r.History("u", 0, ""); len(h) != 0 {
		t.Fatalf("u's history after the drop: %d calls, want none", len(h))
	}
	for n := 1; n <= 5; n++ { // a new history, up to as long as the old one
		ring("u", "new")
		got, next, err := r.History("u", 10, cursor)
		if err != nil || len(got) != 0 || next != "" {
			var who []string
			for _, c := range got {
				who = append(who, c.Members[1].User)
			}
			t.Fatalf("with %d new calls, the old cursor gives %v, next %q, %v; want none", n, who, next, err)
		}
	}
	// A cursor of the new history still pages it.
	page, cursor, _ = r.History("u", 2, "")
	if got, _, err := r.History("u", 10, cursor); err != nil || len(got) != 3 || len(page) != 2 {
		t.Fatalf("the new history's second page: %d calls, %v; want 3", len(got), err)
	}
}
