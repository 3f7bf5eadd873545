package calltest_test

import (
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestGeneralOpsDrawsGeneralInvites: with GeneralOps, every invite drawn is
// in general mode (a host without advanced mode has no field for a mode):
// never Mode(2). Through a Wire with a millisecond TimeUnit, its timeout is
// also a whole number of milliseconds, none given (0), or within a
// millisecond of the limits: never MaxTimeout plus a nanosecond, which the
// plain generator draws to probe the Registry's own limits.
func TestGeneralOpsDrawsGeneralInvites(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := calltest.NewModel(call.Options{NewID: calltest.IDs("c")}, t0)
		plain := calltest.Commands(m, calltest.DefaultUsers, calltest.GeneralOps...)
		wire := calltest.Wire{Users: calltest.DefaultUsers, Ops: calltest.GeneralOps, TimeUnit: time.Millisecond}.Commands(m)
		for range 50 {
			c, viaWire := plain.Draw(t, "command"), false
			if rapid.Bool().Draw(t, "wire") {
				c, viaWire = wire.Draw(t, "wire command"), true
			}
			if c.Op == calltest.OpInvite {
				if c.Mode != events.General {
					t.Fatalf("%v: mode %v with GeneralOps", c, c.Mode)
				}
				if viaWire && (c.Timeout%time.Millisecond != 0 || c.Timeout < -time.Second || c.Timeout > call.DefaultMaxTimeout+time.Millisecond) {
					t.Fatalf("%v: timeout %v is no whole number of milliseconds near the limits", c, c.Timeout)
				}
			}
			m.Do(c)
		}
	})
}
