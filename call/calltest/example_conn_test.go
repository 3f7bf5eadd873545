package calltest_test

import (
	"fmt"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
)

// Each connection of a host is one login of a device: what the Model
// says it must get is in Want, and Check compares the host's own record
// of what it wrote to each. (With a Harness, set Harness.Conns instead:
// every step is then checked.)
func ExampleConnChecker() {
	start := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("call-")}, start)
	cc := calltest.NewConnChecker(m) // before the first input
	m.Login("bob", "phone")
	m.Login("bob", "web")
	m.Invite("alice", []string{"bob"}, call.InviteConfig{}) // alice has no connection: hers is a push
	m.Logout("bob", "web")
	m.Accept("bob", "call-1", call.AcceptConfig{Device: "phone"})

	want := cc.Want()
	for _, c := range want {
		fmt.Printf("%s/%s:", c.User, c.Device)
		for _, e := range c.Events {
			fmt.Printf(" %v#%d", e.Kind, e.Seq)
		}
		fmt.Println()
	}
	fmt.Println(cc.Check(want))

	// A host that wrote bob's ring to his phone only:
	fmt.Println(cc.Check([]calltest.Conn{want[0], {User: "bob", Device: "web"}}))
	// Output:
	// bob/phone: InvitationReceived#2 UserStateChanged#4
	// bob/web: InvitationReceived#2
	// <nil>
	// calltest: connection 1, bob/"web" login #1: InvitationReceived call-1#2 to=bob at=2025-01-01T09:00:00Z caller=alice from=alice deadline=2025-01-01T09:01:30Z members=[alice:Accepted bob:Received<by=alice,until=2025-01-01T09:01:30Z>] never arrived (0 of 1 events did)
}
