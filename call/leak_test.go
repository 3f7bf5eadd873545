package call_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Memory must not grow with the number of calls that ever were: every
// structure the Registry reuses (the deadline heap's handles, the
// heartbeat heap, the call and user tables, the spare user records, the
// users kept for their history (H8), the records and event lists
// TransientMembers recycles) is run through
// millions of calls between distinct users, the default NewID, and the
// heap after an early round is compared with the heap after the last. The
// early round comes once every structure has reached its size for the
// load, so what grows between them grows with the calls made.
func TestMemoryFlatUnderChurn(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("millions of calls")
	}
	for _, w := range []struct {
		name   string
		o      call.Options
		rounds int
		run    func(t *testing.T, r *call.Registry, clk *clock.Manual, round, n int)
	}{
		{"timeouts", call.Options{}, 6, timeoutRound},
		{"mixed", call.Options{HeartbeatTimeout: 15 * time.Second}, 5, mixedRound},
		{"mixed-transient", call.Options{HeartbeatTimeout: 15 * time.Second, TransientMembers: true}, 5, mixedRound},
		// H8: every user has a history, and more users go idle each round
		// than the Registry keeps for their history.
		{"mixed-history", call.Options{HeartbeatTimeout: 15 * time.Second, History: 2}, 5, mixedRound},
		// Users logged in on the default device alone, who need no record.
		{"online", call.Options{}, 5, onlineRound},
	} {
		t.Run(w.name, func(t *testing.T) {
			const n = 150_000 // calls a round
			clk := clock.NewManual(t0)
			w.o.Clock, w.o.Sink = clk, events.Discard
			r, err := call.NewRegistry(w.o)
			if err != nil {
				t.Fatal(err)
			}
			const early = 2 // rounds before the first reading
			var first uint64
			for round := range w.rounds {
				w.run(t, r, clk, round, n)
				if r.Len() != 0 {
					t.Fatalf("round %d: %d calls left", round, r.Len())
				}
				if round == early-1 {
					first = heapInUse()
				}
			}
			last := heapInUse()
			calls := (w.rounds - early) * n
			growth := float64(int64(last)-int64(first)) / float64(calls)
			t.Logf("heap %d -> %d bytes over %d calls: %.3f B/call", first, last, calls, growth)
			if growth > 0.05 {
				t.Errorf("the heap grew by %.2f bytes per call over %d calls (%d -> %d)", growth, calls, first, last)
			}
			runtime.KeepAlive(r)
		})
	}
}

// churnUser returns the user ID of side (caller 0, callee 1) of call i of
// a round: every call of every round is between users seen nowhere else.
func churnUser(round, i, side int) string { return fmt.Sprintf("u%02d%07d%d", round, i, side) }

// inviteIth makes call i of a round from caller to callee, advanced one
// time in five, ringing for 1 to 20 seconds, and returns its ID.
func inviteIth(t *testing.T, r *call.Registry, i int, caller, callee string) string {
	t.Helper()
	mode := events.General
	if i%5 == 4 {
		mode = events.Advanced
	}
	res, err := r.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Duration(1+i%20) * time.Second, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return res.CallID
}

// endIth ends call i of a round (inviteIth's) the way i gives: left to
// time out, accepted, cancelled, rejected, or (advanced) accepted and
// ended.
func endIth(t *testing.T, r *call.Registry, i int, caller, callee, id string) {
	t.Helper()
	var err error
	switch i % 5 {
	case 1:
		err = r.Accept(callee, id, call.AcceptConfig{})
	case 2:
		_, err = r.Cancel(caller, id, nil, call.CancelConfig{})
	case 3:
		err = r.Reject(callee, id, call.RejectConfig{})
	case 4:
		if err = r.Accept(callee, id, call.AcceptConfig{}); err == nil {
			err = r.End(caller, id, call.EndConfig{})
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// timeoutRound makes n calls that all time out, at 30 different instants.
func timeoutRound(t *testing.T, r *call.Registry, clk *clock.Manual, round, n int) {
	for i := range n {
		cfg := call.InviteConfig{Timeout: time.Duration(1+i%30) * time.Second}
		if _, err := r.Invite(churnUser(round, i, 0), []string{churnUser(round, i, 1)}, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for range 30 {
		clk.Advance(time.Second)
	}
}

// mixedRound makes n calls that end every way there is: timed out,
// accepted, cancelled, rejected, and advanced calls that are ended; the
// callers of half of them log in first, and log out or miss their
// heartbeats (G7 then cancels what is still pending).
func mixedRound(t *testing.T, r *call.Registry, clk *clock.Manual, round, n int) {
	for i := range n {
		caller, callee := churnUser(round, i, 0), churnUser(round, i, 1)
		if i%2 == 0 {
			r.Login(caller, "d")
		}
		endIth(t, r, i, caller, callee, inviteIth(t, r, i, caller, callee))
		if i%4 == 2 {
			r.Logout(caller, "d")
		}
		if i%1000 == 999 {
			clk.Advance(time.Second) // heartbeats lapse while calls are made
		}
	}
	for range 30 {
		clk.Advance(time.Second)
	}
}
