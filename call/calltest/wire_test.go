package calltest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// wellFormed is the ID rule of RULES.md §2: not empty, at most 128 bytes,
// UTF-8, no Cc or Cf character.
func wellFormed(s string) bool {
	if s == "" || len(s) > 128 || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) })
}

// drawWire draws a Wire that narrows each thing or not.
func drawWire(t *rapid.T) calltest.Wire {
	w := calltest.Wire{
		Connected:  rapid.Bool().Draw(t, "Connected"),
		JSON:       rapid.Bool().Draw(t, "JSON"),
		WellFormed: rapid.Bool().Draw(t, "WellFormed"),
		TimeUnit:   rapid.SampledFrom([]time.Duration{0, time.Millisecond, time.Second, 7 * time.Millisecond}).Draw(t, "TimeUnit"),
	}
	if rapid.Bool().Draw(t, "fixed pool") {
		w.Users = []string{"u1", "u2", "u3", "u4"}
		w.Devices = []string{"d1", "d2"}
	}
	if rapid.Bool().Draw(t, "general") {
		w.Ops = calltest.GeneralOps
	}
	if rapid.Bool().Draw(t, "bounds") {
		w.TimeoutMin = rapid.SampledFrom([]time.Duration{0, time.Second}).Draw(t, "TimeoutMin")
		w.TimeoutMax = rapid.SampledFrom([]time.Duration{30 * time.Second, time.Hour}).Draw(t, "TimeoutMax")
	}
	return w
}

// wireBreach returns what c carries that w says the protocol cannot, or "".
// m is the Model before c.
func wireBreach(w calltest.Wire, m *calltest.Model, c calltest.Command) string {
	users, devices := w.Users, w.Devices
	if users == nil {
		users = append(slices.Clone(calltest.DefaultUsers), "guest-1", "guest-2", "guest-3", "guest-4", "guest-5", "outsider")
	}
	if devices == nil {
		devices = calltest.Devices
	}
	malformedOK := !w.WellFormed
	inPool := func(pool []string, id string) bool {
		return slices.Contains(pool, id) || malformedOK && !wellFormed(id) && (!w.JSON || utf8.ValidString(id))
	}
	unit := w.TimeUnit // without one, the timeouts drawn are free to probe the limits to the nanosecond
	if c.Op == calltest.OpAdvance {
		if w.TimeUnit > 0 && c.Advance%w.TimeUnit != 0 {
			return "a clock step off the unit"
		}
		return ""
	}
	if !inPool(users, c.User) {
		return "an acting user outside the pool: " + c.User
	}
	for _, u := range c.Users {
		if !inPool(users, u) {
			return "a listed user outside the pool: " + u
		}
	}
	hasDevice := c.Op != calltest.OpInvite && c.Op != calltest.OpCancel && c.Op != calltest.OpCallingInvite
	if hasDevice && !(c.Device == "" && slices.Contains(devices, "") || inPool(devices, c.Device)) {
		return "a device outside the pool: " + c.Device
	}
	if w.WellFormed && c.CallID != "" && !wellFormed(c.CallID) {
		return "a malformed call ID"
	}
	if w.JSON {
		for _, s := range append([]string{c.User, c.CallID, c.Device, c.Data}, c.Users...) {
			if !utf8.ValidString(s) {
				return "a string that is not UTF-8"
			}
		}
	}
	if c.Op == calltest.OpInvite || c.Op == calltest.OpCallingInvite {
		if unit > 0 && c.Timeout%unit != 0 {
			return "a timeout off the unit"
		}
		if c.Timeout != 0 && w.TimeoutMax > 0 && (c.Timeout < w.TimeoutMin || c.Timeout > w.TimeoutMax) {
			return "a timeout outside the bounds"
		}
	}
	if c.Op == calltest.OpInvite {
		general := w.Ops != nil && !slices.ContainsFunc(w.Ops, func(op calltest.Op) bool { return op >= calltest.OpCallingInvite && op <= calltest.OpEnd })
		if general && c.Mode != events.General || w.JSON && c.Mode != events.General && c.Mode != events.Advanced {
			return "mode " + c.Mode.String()
		}
	}
	if w.Connected {
		online := m.Devices(c.User)
		switch c.Op {
		case calltest.OpLogin:
			if slices.Contains(online, c.Device) {
				return "a login of a device already online"
			}
		case calltest.OpLogout, calltest.OpHeartbeat:
			if !slices.Contains(online, c.Device) {
				return "a logout or heartbeat of a device not online"
			}
		case calltest.OpInvite, calltest.OpCancel, calltest.OpCallingInvite:
			if len(online) == 0 {
				return "a command by a user with no connection"
			}
		default:
			if !slices.Contains(online, c.Device) {
				return "a command from a device not online"
			}
		}
	}
	return ""
}

// TestWireCommands: whatever a Wire narrows, Wire.Commands draws nothing
// outside it.
func TestWireCommands(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWire(t)
		m := calltest.NewModel(call.Options{NewID: calltest.IDs("c"), MaxInvitees: 2}, t0)
		gen := w.Commands(m)
		for range 60 {
			c := gen.Draw(t, "command")
			if b := wireBreach(w, m, c); b != "" {
				t.Fatalf("%v under %+v: %s", c, w, b)
			}
			m.Do(c)
		}
	})
}

// TestWireCommandsReach: narrowed to a connected protocol with a fixed
// pool and millisecond timeouts, the commands drawn still reach the
// Registry's answers, successes and refusals alike.
func TestWireCommandsReach(t *testing.T) {
	w := calltest.Wire{Users: []string{"u1", "u2", "u3", "u4"}, Devices: []string{"d1", "d2"},
		TimeUnit: time.Millisecond, TimeoutMax: time.Hour, Connected: true, JSON: true}
	seen := map[string]bool{}
	rapid.Check(t, func(t *rapid.T) {
		m := calltest.NewModel(call.Options{NewID: calltest.IDs("c"), MaxInvitees: 2}, t0)
		gen := w.Commands(m)
		for range 60 {
			c := gen.Draw(t, "command")
			if b := wireBreach(w, m, c); b != "" {
				t.Fatalf("%v: %s", c, b)
			}
			r, evs := m.Do(c)
			switch {
			case r.Err == nil && (len(evs) > 0 || c.Op == calltest.OpLogin):
				seen[c.Op.String()] = true
			case errors.Is(r.Err, call.ErrInvalidTimeout):
				seen["invalid timeout"] = true
			case errors.Is(r.Err, call.ErrTooManyInvitees):
				seen["too many invitees"] = true
			case errors.Is(r.Err, call.ErrNotPending), errors.Is(r.Err, call.ErrCallNotFound):
				seen[c.Op.String()+" refused"] = true
			}
		}
	})
	for _, s := range []string{"invite", "accept", "reject", "cancel", "login", "logout", "join", "quit", "end", "callinginvite",
		"invalid timeout", "too many invitees", "accept refused"} {
		if !seen[s] {
			t.Errorf("no %s was drawn", s)
		}
	}
}

// TestHarnessWire runs the host property under a Wire: the Registry
// passes, through Finish too (with Connected, its End of an advanced call
// comes from a device of the member).
func TestHarnessWire(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := drawWire(t)
		w.TimeoutMin, w.TimeoutMax = 0, 0
		opts := call.Options{MaxInvitees: 3, DefaultTimeout: 30 * time.Second}
		clk := clock.NewManual(t0)
		rec := &events.Recorder{}
		so := opts
		so.Clock, so.Sink, so.NewID = clk, rec, calltest.IDs("c")
		r, err := call.NewRegistry(so)
		if err != nil {
			t.Fatal(err)
		}
		mo := opts
		mo.NewID = calltest.IDs("c")
		h := &calltest.Harness{Server: r, Model: calltest.NewModel(mo, t0), Advance: clk.Advance, Take: rec.Take, Wire: w}
		h.Run(t)
	})
}
