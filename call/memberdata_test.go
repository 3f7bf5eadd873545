package call_test

import (
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Member.Data is the extended data of that member's last action (RULES.md §2):
// End is the ender's action, and a Cancel that cancels someone the
// caller's, in both modes. (The golden scenarios print a member's Data
// only where it differs from the event's, so they cannot show an ender's.)
func TestEndAndCancelAreMembersLastActions(t *testing.T) {
	dataOf := func(ms []events.Member, user string) string {
		for _, m := range ms {
			if m.User == user {
				return m.Data
			}
		}
		t.Fatalf("%s is no member of %v", user, ms)
		return ""
	}
	newReg := func() (*call.Registry, *clock.Manual, *events.Recorder) {
		clk := clock.NewManual(t0)
		rec := &events.Recorder{}
		r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: counterIDs(), History: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"alice", "bob", "carol"} {
			r.Login(u, "")
		}
		return r, clk, rec
	}

	t.Run("End", func(t *testing.T) {
		r, _, rec := newReg()
		res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced, ExtendedData: "inv"})
		if err := r.Accept("bob", res.CallID, call.AcceptConfig{ExtendedData: "hi"}); err != nil {
			t.Fatal(err)
		}
		rec.Take()
		if err := r.End("bob", res.CallID, call.EndConfig{ExtendedData: "bye"}); err != nil {
			t.Fatal(err)
		}
		for _, e := range rec.Take() {
			if d := dataOf(e.Members, "bob"); d != "bye" || dataOf(e.Members, "alice") != "inv" {
				t.Fatalf("%v to %s: bob's Data %q, alice's %q; want the End's and the Invite's", e.Kind, e.To, d, dataOf(e.Members, "alice"))
			}
		}
		h, _, _ := r.History("alice", 0, "")
		if len(h) != 1 || dataOf(h[0].Members, "bob") != "bye" || h[0].ExtendedData != "inv" {
			t.Fatalf("History: %+v", h)
		}
	})

	t.Run("Cancel, general", func(t *testing.T) {
		r, _, rec := newReg()
		res, _ := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{ExtendedData: "inv"})
		if _, err := r.Cancel("alice", res.CallID, []string{"bob"}, call.CancelConfig{ExtendedData: "nvm"}); err != nil {
			t.Fatal(err)
		}
		info, _ := r.Call(res.CallID)
		if dataOf(info.Members, "alice") != "nvm" || info.ExtendedData != "inv" {
			t.Fatalf("after a Cancel: %+v", info)
		}
		// A Cancel that cancels nobody is no action: the Data stays.
		if failed, err := r.Cancel("alice", res.CallID, []string{"bob"}, call.CancelConfig{ExtendedData: "again"}); err != nil || len(failed) != 1 {
			t.Fatal(failed, err)
		}
		if info, _ := r.Call(res.CallID); dataOf(info.Members, "alice") != "nvm" {
			t.Fatalf("a Cancel of nobody changed the caller's Data: %+v", info.Members)
		}
		rec.Take()
		r.Login("carol", "tablet") // G8's replay still carries the Invite's data
		if evs := rec.Take(); len(evs) != 1 || evs[0].Kind != events.InvitationReceived || evs[0].Data != "inv" {
			t.Fatalf("the replay on login: %v", evs)
		}
	})

	t.Run("Cancel, advanced, the call empties", func(t *testing.T) {
		r, _, rec := newReg()
		res, _ := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced, ExtendedData: "inv"})
		if err := r.Reject("bob", res.CallID, call.RejectConfig{}); err != nil {
			t.Fatal(err)
		}
		if err := r.Quit("alice", res.CallID, call.QuitConfig{ExtendedData: "q"}); err != nil {
			t.Fatal(err)
		}
		rec.Take()
		if _, err := r.Cancel("alice", res.CallID, nil, call.CancelConfig{ExtendedData: "nvm"}); err != nil {
			t.Fatal(err)
		}
		ended := false
		for _, e := range rec.Take() {
			if e.Kind == events.InvitationEnded {
				ended = true
				if d := dataOf(e.Members, "alice"); d != "nvm" {
					t.Fatalf("InvitationEnded to %s: alice's Data %q, want the Cancel's", e.To, d)
				}
			}
		}
		if !ended {
			t.Fatal("the call did not end when the Cancel emptied it")
		}
	})
}
