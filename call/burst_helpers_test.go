package call_test

import (
	"fmt"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// startBurst makes a Registry of o on a clock.Manual at t0, emitting to
// sink and journaling to journal, sets *reg to it (before any event, so
// that the sink can use it), and makes the calls of an inviteBurst on it.
// It returns the clock: 30 s on, the burst falls due.
func startBurst(t *rapid.T, o call.Options, sink events.Sink, journal call.Journal, reg **call.Registry, ids []string, answers bool) *clock.Manual {
	clk := clock.NewManual(t0)
	o.Clock, o.Sink, o.Journal = clk, sink, journal
	var err error
	if *reg, err = call.NewRegistry(o); err != nil {
		t.Fatal(err)
	}
	inviteBurst(t, *reg, ids, answers)
	return clk
}

// inviteBurst makes len(ids) calls on reg that all fall due at once 30 s
// later, writing their IDs into ids: call i is a<i>'s, to b<i> and, by a
// draw, c<i>, in a drawn mode; its caller and (answers) its invitee b<i>
// may be logged in first. With answers, b<i> may also accept an advanced
// call at once, so that the burst holds calls past ringing.
func inviteBurst(t *rapid.T, reg *call.Registry, ids []string, answers bool) {
	for i := range ids {
		a0, b0 := fmt.Sprint("a", i), fmt.Sprint("b", i)
		if rapid.Bool().Draw(t, "caller online") {
			_ = reg.Login(a0, "")
		}
		if answers && rapid.Bool().Draw(t, "invitee online") {
			_ = reg.Login(b0, "")
		}
		invitees := []string{b0}
		if rapid.Bool().Draw(t, "two invitees") {
			invitees = append(invitees, fmt.Sprint("c", i))
		}
		mode := rapid.SampledFrom([]events.Mode{events.General, events.Advanced}).Draw(t, "mode")
		res, err := reg.Invite(a0, invitees, call.InviteConfig{Timeout: 30 * time.Second, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.CallID
		if answers && mode == events.Advanced && rapid.Bool().Draw(t, "accept") {
			_ = reg.Accept(b0, res.CallID, call.AcceptConfig{})
		}
	}
}

// nestedInput runs op, an input the Sink makes from inside Emit during an
// inviteBurst's burst, on call i (ids[i]) of it; n, the number of the
// burst's events emitted so far, names the caller of a new invite. Its
// error is ignored: the call may be over by then.
func nestedInput(reg *call.Registry, op string, ids []string, i, n int) {
	a0, b0 := fmt.Sprint("a", i), fmt.Sprint("b", i)
	switch op {
	case "accept":
		_ = reg.Accept(b0, ids[i], call.AcceptConfig{})
	case "reject":
		_ = reg.Reject(b0, ids[i], call.RejectConfig{})
	case "login":
		_ = reg.Login(b0, "d")
	case "logout":
		_ = reg.Logout(a0, "")
	case "invite":
		_, _ = reg.Invite(fmt.Sprint("n", n), []string{b0}, call.InviteConfig{Timeout: 10 * time.Second})
	case "join":
		_, _ = reg.Join(b0, ids[i], call.JoinConfig{})
	case "quit":
		_ = reg.Quit(a0, ids[i], call.QuitConfig{})
	case "heartbeat":
		_ = reg.Heartbeat(a0, "")
	default:
		panic("nestedInput: no op " + op)
	}
}
