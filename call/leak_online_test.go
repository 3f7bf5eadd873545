package call_test

import (
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
)

// onlineRound makes n calls between users logged in on the default
// device, most with no other (so with no record, see call.Registry's
// users), that end every way there is; some callees log in a second
// device for a while, some callers log out before their call ends (G7),
// and the others log out once the round's calls are over, some while
// still in a call that times out. Every user of the round is gone at its
// end.
func onlineRound(t *testing.T, r *call.Registry, clk *clock.Manual, round, n int) {
	for i := range n {
		caller, callee := churnUser(round, i, 0), churnUser(round, i, 1)
		r.Login(caller, "")
		r.Login(callee, "")
		if i%7 == 3 {
			r.Login(callee, "phone")
		}
		id := inviteIth(t, r, i, caller, callee)
		if i%7 == 3 {
			r.Logout(callee, "phone")
		}
		endIth(t, r, i, caller, callee, id)
		switch i % 3 {
		case 0:
			r.Logout(caller, "") // G7 cancels a call still pending
		case 1:
			r.Logout(callee, "")
		}
		if i%1000 == 999 {
			clk.Advance(time.Second)
		}
	}
	for range 30 {
		clk.Advance(time.Second)
	}
	for i := range n {
		r.Logout(churnUser(round, i, 0), "")
		r.Logout(churnUser(round, i, 1), "")
	}
	if got := r.Online(); got != nil {
		t.Fatalf("round %d: %d devices still online", round, len(got))
	}
}
