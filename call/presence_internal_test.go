package call

import (
	"strconv"
	"testing"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Idle user records are kept for their return, but no more than
// maxIdleUsers of them, oldest dropped first; a returning user is taken off
// the idle list, and one with devices, calls or history never is on it.
func TestIdleUsersBounded(t *testing.T) {
	clk := clock.NewManual(time.Unix(1_700_000_000, 0))
	r, err := NewRegistry(Options{Clock: clk, Sink: events.Discard})
	if err != nil {
		t.Fatal(err)
	}
	r.Login("online", "")
	const n = maxIdleUsers + 500
	for i := range n {
		callee := "u" + strconv.Itoa(i)
		res, err := r.Invite("online", []string{callee}, InviteConfig{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reject(callee, res.CallID, RejectConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.users.len(); got != maxIdleUsers+1 {
		t.Fatalf("%d user records, want %d idle + 1 online", got, maxIdleUsers)
	}
	if r.idle.n != maxIdleUsers {
		t.Fatalf("idle list holds %d, want %d", r.idle.n, maxIdleUsers)
	}
	if r.users.get("u0") != nil || r.users.get("u499") != nil || r.users.get("u500") == nil {
		t.Fatal("the oldest idle records should be the ones dropped")
	}
	if u := r.users.get("online"); u == nil || u.isIdle {
		t.Fatal("an online user must not be idle")
	}
	// u500 returns: off the idle list, and on it again once it holds nothing.
	if _, err := r.Invite("online", []string{"u500"}, InviteConfig{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if u := r.users.get("u500"); u.isIdle || r.idle.n != maxIdleUsers-1 {
		t.Fatalf("u500 in a call: idle %v, idle list %d", u.isIdle, r.idle.n)
	}
	clk.Advance(time.Minute)
	if u := r.users.get("u500"); !u.isIdle || r.idle.tail != u {
		t.Fatal("u500 after its call timed out: want it newest on the idle list")
	}
}
