package calltest_test

import (
	"fmt"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// hostProperty is the property test a host writes for its server; run it
// from the host's own test file:
//
//	func TestServerRapid(t *testing.T) { rapid.Check(t, hostProperty) }
//
// Here a Registry plays the server; a host passes its own, built around
// one, with the clock and the ID source injected.
func hostProperty(t *rapid.T) {
	start := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	opts := call.Options{MaxInvitees: 4, DefaultTimeout: 30 * time.Second}

	clk := clock.NewManual(start)
	delivered := &events.Recorder{}
	so := opts
	so.Clock, so.Sink, so.NewID = clk, delivered, calltest.IDs("call-")
	server, err := call.NewRegistry(so)
	if err != nil {
		t.Fatal(err)
	}

	mo := opts
	mo.NewID = calltest.IDs("call-") // the same sequence, a copy of its own
	h := &calltest.Harness{
		Server:  server,
		Model:   calltest.NewModel(mo, start),
		Advance: clk.Advance,
		Take:    delivered.Take,
	}
	h.Run(t) // draws commands, steps server and model, compares; then every deadline passes
}

// printTB stands in for the *testing.T or *rapid.T a host's test has: it
// prints a failed check instead of failing.
type printTB struct{}

func (printTB) Helper() {}

func (printTB) Fatalf(format string, args ...any) { fmt.Printf("FAIL: "+format+"\n", args...) }

// A host drives its server and the model side by side. Under rapid,
// [calltest.Harness.Run] draws the commands (see hostProperty); here a few
// are given by hand, to show what each step checks and what a failure
// looks like.
func Example() {
	start := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	opts := call.Options{DefaultTimeout: 30 * time.Second}
	clk := clock.NewManual(start)
	delivered := &events.Recorder{}
	so := opts
	so.Clock, so.Sink, so.NewID = clk, delivered, calltest.IDs("call-")
	server, _ := call.NewRegistry(so)
	mo := opts
	mo.NewID = calltest.IDs("call-")

	h := &calltest.Harness{
		Server:  server,
		Model:   calltest.NewModel(mo, start),
		Advance: clk.Advance,
		Take: func() []events.Event {
			es := delivered.Take()
			for _, e := range es {
				fmt.Printf("  %v %s#%d to %s\n", e.Kind, e.CallID, e.Seq, e.To)
			}
			return es
		},
	}
	for _, c := range []calltest.Command{
		{Op: calltest.OpLogin, User: "bob", Device: "phone"},
		{Op: calltest.OpInvite, User: "alice", Users: []string{"bob", "carol"}},
		{Op: calltest.OpAccept, User: "bob", CallID: "call-1", Device: "phone"},
		{Op: calltest.OpAccept, User: "bob", CallID: "call-1"},  // G3: the same answer again is a no-op
		{Op: calltest.OpReject, User: "bob", CallID: "call-1"},  // a different one is ErrNotPending
		{Op: calltest.OpAccept, User: "dave", CallID: "call-1"}, // G10: a stranger finds no call
	} {
		fmt.Println(c)
		h.Step(printTB{}, c)
	}
	fmt.Println("every deadline passes:")
	h.Finish(printTB{}) // carol times out; the Checker sees every invitee ended once
	fmt.Println("calls left:", server.Len())

	// A server that disagrees with the model fails the step, with the
	// difference: here one that delivers nothing.
	h.Take = func() []events.Event { return nil }
	h.Step(printTB{}, calltest.Command{Op: calltest.OpInvite, User: "alice", Users: []string{"bob"}})

	// Output:
	// login bob device="phone"
	// invite alice invitees=[bob carol] timeout=0s
	//   InvitationCreated call-1#1 to alice
	//   InvitationReceived call-1#2 to bob
	//   InvitationReceived call-1#3 to carol
	// accept bob call=call-1 device="phone"
	//   InvitationAccepted call-1#4 to alice
	//   UserStateChanged call-1#5 to bob
	// accept bob call=call-1 device=""
	// reject bob call=call-1 device=""
	// accept dave call=call-1 device=""
	// every deadline passes:
	//   InviteesAnsweredTimeout call-1#6 to alice
	//   InvitationTimeout call-1#7 to carol
	// calls left: 0
	// FAIL: step 8, invite alice invitees=[bob] timeout=0s: events differ (- want, + got): 2 wanted, 0 got
	// - InvitationCreated call-2#1 to=alice offline at=2025-01-01T09:10:00Z caller=alice from=alice deadline=2025-01-01T09:10:30Z members=[alice:Accepted bob:Received<by=alice,until=2025-01-01T09:10:30Z>]
	// - InvitationReceived call-2#2 to=bob at=2025-01-01T09:10:00Z caller=alice from=alice deadline=2025-01-01T09:10:30Z members=[alice:Accepted bob:Received<by=alice,until=2025-01-01T09:10:30Z>]
}
