package call_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// With Options.TransientMembers the Registry reuses the memory of ended
// calls and of members lists once the events pointing into it are emitted.
// Commands called from inside Emit are where "once emitted" is easy to get
// wrong: their events queue behind the batch being delivered, and their
// lists and ended records must not be reused with that batch's memory.
// Here every InvitationReceived makes the Sink accept it and ring the next
// call of a chain, from inside Emit, so a whole chain of calls is created,
// answered and ended within one top-level Invite; the Sink checks every
// event's Members as Emit receives it.
func TestTransientMembersReentrant(t *testing.T) {
	const chain = 300
	var r *call.Registry
	seen := 0
	who := func(i int) (caller, callee string) { return fmt.Sprintf("a%d", i%7), fmt.Sprintf("b%d", i%5) }
	sink := events.SinkFunc(func(e events.Event) {
		seen++
		var i int
		if _, err := fmt.Sscanf(e.CallID, "c%d", &i); err != nil {
			t.Fatalf("call ID %q", e.CallID)
		}
		caller, callee := who(i)
		want := fmt.Sprintf("[%s:Accepted %s:Inviting]", caller, callee)
		switch e.Kind {
		case events.InvitationAccepted, events.UserStateChanged:
			want = fmt.Sprintf("[%s:Accepted]", callee)
		}
		if got := members(e.Members); got != want {
			t.Fatalf("%s of %s (Seq %d) carries Members %s as Emit receives it, want %s", e.Kind, e.CallID, e.Seq, got, want)
		}
		if e.Kind != events.InvitationReceived {
			return
		}
		if i+1 < chain {
			next, nextCallee := who(i + 1)
			if _, err := r.Invite(next, []string{nextCallee}, call.InviteConfig{}); err != nil {
				t.Fatalf("Invite from inside Emit: %v", err)
			}
		}
		if err := r.Accept(callee, e.CallID, call.AcceptConfig{}); err != nil {
			t.Fatalf("Accept from inside Emit: %v", err)
		}
	})
	n := 0
	var err error
	r, err = call.NewRegistry(call.Options{
		Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)), Sink: sink,
		NewID: func() string { s := fmt.Sprintf("c%d", n); n++; return s }, TransientMembers: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	caller, callee := who(0)
	if _, err := r.Invite(caller, []string{callee}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	if seen != 4*chain || r.Len() != 0 {
		t.Fatalf("%d events, %d calls live after the chain; want %d and 0", seen, r.Len(), 4*chain)
	}
}

// members renders a members list as user:State pairs.
func members(ms []events.Member) string {
	s := "["
	for i, m := range ms {
		if i > 0 {
			s += " "
		}
		s += m.User + ":" + m.State.String()
	}
	return s + "]"
}
