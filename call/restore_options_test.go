package call_test

import (
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestRestoreUnderPoliciesOff: Restore rebuilds the state under the
// Options it is given (D2), and a host policy those Options switch off
// stays off for what the snapshot had scheduled under it: with
// NotReceivedAfter zero no not-received check runs (H6: "when
// NotReceivedAfter is non-zero"), as with HeartbeatTimeout zero no device
// is logged out by the clock (H5); with History N each user keeps its N
// newest ended calls (H8).
func TestRestoreUnderPoliciesOff(t *testing.T) {
	clk := clock.NewManual(t0)
	r, err := call.NewRegistry(call.Options{Clock: clk, NewID: counterIDs(), History: 3, HeartbeatTimeout: 10 * time.Second, NotReceivedAfter: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reject("bob", res.CallID, call.RejectConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Login("alice", "d1"); err != nil {
		t.Fatal(err)
	}
	res, err := r.Invite("alice", []string{"carol"}, call.InviteConfig{Timeout: 30 * time.Second}) // carol offline: Inviting, checked at 5s
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	newest, _, _ := r.History("bob", 1, "")

	restore := func(o call.Options) (*call.Registry, *clock.Manual, *events.Recorder) {
		t.Helper()
		c, rec := clock.NewManual(t0), &events.Recorder{}
		o.Clock, o.Sink = c, rec
		rr, err := call.Restore(snap, o)
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		return rr, c, rec
	}

	// H6 off: carol stays Inviting, nobody is told, and nothing falls due
	// before her deadline.
	rr, c, rec := restore(call.Options{History: 3, HeartbeatTimeout: 10 * time.Second})
	c.Advance(9 * time.Second) // past the check, before alice's heartbeat lapses
	if evs := rec.Take(); len(evs) != 0 {
		t.Errorf("NotReceivedAfter 0: %d events, first %v %v, want none", len(evs), evs[0].Kind, evs[0].Members)
	}
	if info, _ := rr.Call(res.CallID); info.Members[1].State != events.Inviting {
		t.Errorf("NotReceivedAfter 0: carol %v, want Inviting", info.Members[1].State)
	}

	// H5 off: alice stays online.
	rr, c, _ = restore(call.Options{History: 3, NotReceivedAfter: 5 * time.Second})
	c.Advance(20 * time.Second)
	if got := rr.Devices("alice"); len(got) != 1 {
		t.Errorf("HeartbeatTimeout 0: alice's devices %v, want [d1]", got)
	}

	// H8 with a smaller N: the newest calls are kept.
	rr, _, _ = restore(call.Options{History: 1})
	got, next, err := rr.History("bob", 0, "")
	if err != nil || len(got) != 1 || next != "" || got[0].CallID != newest[0].CallID {
		t.Errorf("History 1: %v %q %v, want the newest call %s alone", got, next, err, newest[0].CallID)
	}
}

// TestRestoreUnderPoliciesOn: a host policy that the Options given to
// Restore switch on applies from the snapshot on (D2): a device online
// without a heartbeat has its first at the snapshot's last reading (H5),
// and an invitation the snapshot holds, sent with no check scheduled, gets
// none (H6: it counts from the sending, which the snapshot has no check
// for).
func TestRestoreUnderPoliciesOn(t *testing.T) {
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Login("alice", ""); err != nil {
		t.Fatal(err)
	}
	res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute}) // bob offline: Inviting
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c, rec := clock.NewManual(t0.Add(time.Second)), &events.Recorder{}
	rr, err := call.Restore(snap, call.Options{Clock: c, Sink: rec, NotReceivedAfter: 5 * time.Second, HeartbeatTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(29*time.Second - time.Nanosecond) // just before alice's heartbeat lapses, long after a check
	if evs := rec.Take(); len(evs) != 0 {
		t.Errorf("before the lapse: %d events, first %v %v; want none", len(evs), evs[0].Kind, evs[0].Members)
	}
	if info, _ := rr.Call(res.CallID); info.Members[1].State != events.Inviting {
		t.Errorf("bob %v, want Inviting", info.Members[1].State)
	}
	c.Advance(time.Nanosecond) // t0+30s: alice lapses, G7 cancels bob
	evs := rec.Take()
	if len(evs) != 1 || evs[0].Kind != events.InvitationCancelled || !evs[0].At.Equal(t0.Add(30*time.Second)) {
		t.Errorf("at the lapse: %v, want bob's InvitationCancelled at 30s", evs)
	}
}
