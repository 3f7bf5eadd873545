package call_test

import (
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// nestingSink is a Sink of a type of its own (not an events.SinkFunc) that
// makes a command from inside Emit, once.
type nestingSink struct {
	n      int
	nested func()
}

func (s *nestingSink) Emit(e events.Event) {
	s.n++
	if s.nested != nil && e.Kind == events.InvitationCreated && e.Caller == "alice" {
		f := s.nested
		s.nested = nil
		f()
	}
}

// The outermost command delivers what a command the Sink made from inside
// Emit queued before it returns (C3), whatever the Sink's type: the
// Registry knows such a command by emitOne's frame on the stack, which a
// build with profile-guided optimisation may reach by a call of its own for
// the Sink type the profile found hottest.
func TestNestedCommandFromASinkOfItsOwnType(t *testing.T) {
	s := &nestingSink{}
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: s, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	s.nested = func() {
		if _, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{}); err != nil {
			t.Error(err)
		}
	}
	if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	if s.n != 4 {
		t.Fatalf("the outer Invite returned after %d events reached the Sink, want 4 (C3)", s.n)
	}
}
