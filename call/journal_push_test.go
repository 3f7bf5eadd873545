package call_test

import (
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// scribbler is a Journal that writes over every entry's Push, as it
// appends it and again afterwards (it keeps the pointers).
type scribbler struct{ kept []*events.Push }

func (j *scribbler) Append(e call.Entry) error {
	if e.Push != nil {
		*e.Push = events.Push{Title: "scribbled in Append"}
		j.kept = append(j.kept, e.Push)
	}
	return nil
}

func (j *scribbler) scribble() {
	for _, p := range j.kept {
		*p = events.Push{Title: "scribbled after Append"}
	}
}

// TestJournalGetsItsOwnPush: D1 — the entry a Journal gets is its own: a
// Journal that writes over the entry's Push, in Append or later, changes
// neither the call nor its events, those of the command journaled or later
// ones (G8's replay on Login, a Cancel's).
func TestJournalGetsItsOwnPush(t *testing.T) {
	j := &scribbler{}
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: rec, Journal: j, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	invite := events.Push{Title: "call", Content: "from alice"}
	if _, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: time.Minute, Push: &invite}); err != nil {
		t.Fatal(err)
	}
	j.scribble()
	r.Login("bob", "phone") // G8: bob is rung again with the invite's push
	cancel := events.Push{Title: "missed call"}
	if _, err := r.Cancel("alice", "c1", []string{"carol"}, call.CancelConfig{Push: &cancel}); err != nil {
		t.Fatal(err)
	}
	j.scribble()
	want := map[events.Kind]events.Push{events.InvitationReceived: invite, events.InvitationCancelled: cancel}
	n := 0
	for _, e := range rec.Take() {
		if w, ok := want[e.Kind]; ok {
			n++
			if e.Push == nil || *e.Push != w {
				t.Errorf("%v to %s: Push %+v, want %+v", e.Kind, e.To, e.Push, w)
			}
		}
	}
	if n != 4 || len(j.kept) != 2 {
		t.Fatalf("%d events with a push, %d journaled pushes; want 4 (two rings, bob's replay, carol's cancel), 2", n, len(j.kept))
	}
}
