package call_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// A host whose Sink encodes each event for its transport inside Emit keeps
// nothing of it afterwards, so it can let the Registry reuse the memory of
// Members (Options.TransientMembers): a call's lifecycle then allocates
// nothing in the Registry. A Sink that does keep events must keep
// e.Detach(); here the wire bytes are kept, and a log of detached copies.
func ExampleOptions_transientMembers() {
	var wire [][]byte       // what went out: encoded inside Emit
	var kept []events.Event // events kept past Emit: detached
	r, _ := call.NewRegistry(call.Options{
		Clock:            clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)),
		NewID:            func() string { return "c1" },
		TransientMembers: true,
		Sink: events.SinkFunc(func(e events.Event) {
			b, _ := json.Marshal(e.Members) // e.Members is valid until Emit returns
			wire = append(wire, b)
			kept = append(kept, e.Detach())
		}),
	})
	r.Login("bob", "phone")
	res, _ := r.Invite("alice", []string{"bob"}, call.InviteConfig{})
	_ = r.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"})
	for i, e := range kept {
		fmt.Printf("%v to %s: %d bytes on the wire, members %s\n", e.Kind, e.To, len(wire[i]), members(e.Members))
	}
	// Output:
	// InvitationCreated to alice: 123 bytes on the wire, members [alice:Accepted bob:Received]
	// InvitationReceived to bob: 123 bytes on the wire, members [alice:Accepted bob:Received]
	// InvitationAccepted to alice: 53 bytes on the wire, members [bob:Accepted]
	// UserStateChanged to bob: 53 bytes on the wire, members [bob:Accepted]
}
