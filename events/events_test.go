package events_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/events"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{events.InvitationReceived.String(), "InvitationReceived"},
		{events.InvitationEnded.String(), "InvitationEnded"},
		{events.Kind(0).String(), "Kind(0)"},
		{events.Advanced.String(), "Advanced"},
		{events.Mode(7).String(), "Mode(7)"},
		{events.NotYetReceived.String(), "NotYetReceived"},
		{events.ReasonBusy.String(), "Busy"},
		{events.ReasonCallerOffline.String(), "CallerOffline"},
		{events.Reason(200).String(), "Reason(200)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestPending(t *testing.T) {
	for s := events.State(0); s <= events.NotYetReceived; s++ {
		want := s == events.Inviting || s == events.Received || s == events.NotYetReceived
		if s.Pending() != want {
			t.Errorf("%s.Pending() = %v", s, s.Pending())
		}
	}
}

// TestEventJSONRoundTrip: events and their enumerations travel as names.
func TestEventJSONRoundTrip(t *testing.T) {
	e := events.Event{
		Kind: events.InvitationRejected, To: "alice", CallID: "c1", Seq: 3,
		At: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC), Mode: events.Advanced, Caller: "alice", From: "bob",
		Members: []events.Member{{User: "bob", State: events.Rejected, Inviter: "alice"}}, Reason: events.ReasonBusy,
		Push: &events.Push{Title: "t"},
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"InvitationRejected"`, `"Advanced"`, `"Rejected"`, `"Busy"`} {
		if !json.Valid(b) || !strings.Contains(string(b), name) {
			t.Errorf("%s lacks %s", b, name)
		}
	}
	var back events.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Kind != e.Kind || back.Mode != e.Mode || back.Reason != e.Reason || back.Members[0].State != events.Rejected || !back.At.Equal(e.At) {
		t.Errorf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"Kind":"Nope"}`), &back); err == nil {
		t.Error("an unknown kind decoded")
	}
	if _, err := json.Marshal(events.Event{Kind: 99}); err == nil {
		t.Error("an unknown kind encoded")
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r events.Recorder
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				r.Emit(events.Event{Seq: uint64(i*100 + j)})
			}
		}()
	}
	wg.Wait()
	if n := len(r.Events()); n != 800 {
		t.Fatalf("Events: %d, want 800", n)
	}
	if n := len(r.Take()); n != 800 {
		t.Fatalf("Take: %d, want 800", n)
	}
	if n := len(r.Take()); n != 0 {
		t.Fatalf("Take after Take: %d, want 0", n)
	}
}

func TestSinkFuncAndDiscard(t *testing.T) {
	var got events.Event
	events.SinkFunc(func(e events.Event) { got = e }).Emit(events.Event{To: "x"})
	if got.To != "x" {
		t.Error("SinkFunc did not call through")
	}
	events.Discard.Emit(events.Event{})
}

// Detach gives an event Members of its own, so that a Sink may keep it
// after Emit when the Registry reuses Members (call.Options.TransientMembers);
// the Recorder keeps detached copies.
func TestDetach(t *testing.T) {
	shared := []events.Member{{User: "alice", State: events.Accepted}, {User: "bob", State: events.Received}}
	e := events.Event{Kind: events.InvitationCreated, CallID: "c1", Members: shared[:1:1]}
	d := e.Detach()
	var rec events.Recorder
	rec.Emit(e)
	shared[0].User = "reused"
	if d.Members[0].User != "alice" || rec.Events()[0].Members[0].User != "alice" {
		t.Fatalf("detached Members follow the original: %v, recorded %v", d.Members, rec.Events()[0].Members)
	}
	if len(d.Members) != 1 || d.CallID != "c1" || d.Kind != events.InvitationCreated {
		t.Fatalf("Detach changed the event: %+v", d)
	}
	if (events.Event{}).Detach().Members != nil {
		t.Fatal("Detach of an event without Members made some")
	}
}
