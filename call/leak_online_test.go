package call_test

import (
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
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
		mode := events.General
		if i%5 == 4 {
			mode = events.Advanced
		}
		res, err := r.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Duration(1+i%20) * time.Second, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if i%7 == 3 {
			r.Logout(callee, "phone")
		}
		switch i % 5 {
		case 1:
			err = r.Accept(callee, res.CallID, call.AcceptConfig{})
		case 2:
			_, err = r.Cancel(caller, res.CallID, nil, call.CancelConfig{})
		case 3:
			err = r.Reject(callee, res.CallID, call.RejectConfig{})
		case 4:
			if err = r.Accept(callee, res.CallID, call.AcceptConfig{}); err == nil {
				err = r.End(caller, res.CallID, call.EndConfig{})
			}
		}
		if err != nil {
			t.Fatal(err)
		}
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
