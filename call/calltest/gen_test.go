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
// in general mode (a host without advanced mode has no field for a mode),
// and its timeout is a whole number of milliseconds, none given (0), or
// within a millisecond of the limits: never Mode(2), never MaxTimeout plus
// a nanosecond.
func TestGeneralOpsDrawsGeneralInvites(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := calltest.NewModel(call.Options{NewID: calltest.IDs("c")}, t0)
		gen := calltest.Commands(m, calltest.DefaultUsers, calltest.GeneralOps...)
		for range 50 {
			c := gen.Draw(t, "command")
			if c.Op == calltest.OpInvite {
				if c.Mode != events.General {
					t.Fatalf("%v: mode %v with GeneralOps", c, c.Mode)
				}
				if c.Timeout%time.Millisecond != 0 || c.Timeout < -time.Second || c.Timeout > call.DefaultMaxTimeout+time.Millisecond {
					t.Fatalf("%v: timeout %v is no whole number of milliseconds near the limits", c, c.Timeout)
				}
			}
			m.Do(c)
		}
	})
}
