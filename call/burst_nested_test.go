package call_test

import (
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestNestedInputsDuringBurstsReplay draws bursts of coinciding deadlines —
// invitations of both modes, not-received checks (H6) and heartbeat
// expiries (H5) at one instant — delivered in slices of a drawn size, and
// commands and presence changes that the Sink makes from inside Emit at
// drawn points of the burst. Whatever the interleaving, every call's
// events come in Seq order, and the journal, through JSON, replays into a
// new Registry with exactly the events, in order, and the state of the
// original (D1, C4).
func TestNestedInputsDuringBurstsReplay(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		restore := call.SetSliceEvents(rapid.IntRange(1, 6).Draw(t, "slice"))
		defer restore()
		calls := rapid.IntRange(1, 30).Draw(t, "calls")
		o := call.Options{NewID: counterIDs()}
		if rapid.Bool().Draw(t, "heartbeats") {
			o.HeartbeatTimeout = 30 * time.Second // the logins' deadlines coincide with the invitations'
		}
		if rapid.Bool().Draw(t, "not received") {
			o.NotReceivedAfter = 30 * time.Second
		}
		type action struct {
			at   int    // after this many events of the burst
			op   string // accept, reject, login, logout, invite, join
			call int
		}
		var actions []action
		for range rapid.IntRange(0, 6).Draw(t, "nested inputs") {
			actions = append(actions, action{
				at:   rapid.IntRange(1, 4*calls).Draw(t, "at"),
				op:   rapid.SampledFrom([]string{"accept", "reject", "login", "logout", "invite", "join", "quit"}).Draw(t, "op"),
				call: rapid.IntRange(0, calls-1).Draw(t, "call"),
			})
		}
		var (
			reg     *call.Registry
			live    events.Recorder
			journal jsonJournal
			n       int  // events of the burst emitted so far
			burst   bool // the clock has been advanced
		)
		ids := make([]string, calls)
		var sink events.SinkFunc = func(e events.Event) {
			live.Emit(e)
			if !burst {
				return
			}
			n++
			for _, a := range actions {
				if a.at != n {
					continue
				}
				nestedInput(reg, a.op, ids, a.call, n)
			}
		}
		clk := startBurst(t, o, sink, &journal, &reg, ids, false)
		burst = true
		clk.Advance(31 * time.Second)
		got := live.Events()
		seq := map[string]uint64{}
		for _, e := range got {
			if e.Seq != seq[e.CallID]+1 {
				t.Fatalf("%s: Seq %d after %d", e.CallID, e.Seq, seq[e.CallID])
			}
			seq[e.CallID] = e.Seq
		}

		bo := o
		var replayed events.Recorder
		bo.Clock, bo.Sink, bo.NewID = clock.NewManual(clk.Now()), &replayed, nil
		rec, err := call.Recover(nil, journal.decode(t), bo)
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		if d := diffStreams(got, replayed.Take()); d != "" {
			t.Fatalf("the replay: %s", d)
		}
		ws, err := reg.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		gs, err := rec.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if string(ws) != string(gs) {
			t.Fatalf("the replay's state differs:\n%s\nwant\n%s", gs, ws)
		}
	})
}
