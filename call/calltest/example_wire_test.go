package calltest_test

import (
	"fmt"
	"slices"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/events"
)

// A host whose protocol has timeouts in whole milliseconds, no advanced
// mode, tokens for four users and one logged-in device per connection
// narrows the commands drawn to what its clients can send. Under rapid it
// gives the Wire to its Harness (h.Wire = w; h.Run(t)), or draws with
// w.Commands(model).Draw(t, "command"); here a thousand commands are drawn
// with fixed seeds and checked against what the protocol carries.
func ExampleWire() {
	w := calltest.Wire{
		Users:      []string{"alice", "bob", "carol", "dave"},
		Devices:    []string{"phone", "web"},
		Ops:        calltest.GeneralOps,
		TimeUnit:   time.Millisecond,
		TimeoutMax: time.Hour, // timeout_ms is unsigned: no negative timeout
		Connected:  true,
		JSON:       true,
	}
	start := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("call-")}, start)
	gen := w.Commands(m)
	wholeMs, general, fromConnection, inPool := true, true, true, true
	for seed := range 1000 {
		c := gen.Example(seed)
		online := m.Devices(c.User)
		switch c.Op {
		case calltest.OpInvite:
			wholeMs = wholeMs && c.Timeout%time.Millisecond == 0 && c.Timeout >= 0 && c.Timeout <= time.Hour
			general = general && c.Mode == events.General
			fromConnection = fromConnection && len(online) > 0
		case calltest.OpAccept, calltest.OpReject:
			fromConnection = fromConnection && slices.Contains(online, c.Device)
		case calltest.OpLogin:
			fromConnection = fromConnection && !slices.Contains(online, c.Device)
		case calltest.OpLogout:
			fromConnection = fromConnection && slices.Contains(online, c.Device)
		}
		if c.Op != calltest.OpAdvance {
			inPool = inPool && slices.Contains(w.Users, c.User)
		}
		m.Do(c)
	}
	fmt.Println("timeouts in whole ms within [0, 1h]:", wholeMs)
	fmt.Println("invites in general mode:", general)
	fmt.Println("each command from an online device, each login a new one:", fromConnection)
	fmt.Println("acting users from the pool:", inPool)
	// Output:
	// timeouts in whole ms within [0, 1h]: true
	// invites in general mode: true
	// each command from an online device, each login a new one: true
	// acting users from the pool: true
}
