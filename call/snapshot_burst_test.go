package call_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestSnapshotMidBurstRecovers: a snapshot taken from inside Emit in the middle
// of a sliced burst (B4), with or without TransientMembers, recovered with
// the journal entries after its index, reaches the original's state (D1,
// D2). The last clock reading and the journal count may differ: what the
// snapshot left due falls due at the recovered Registry's first firing,
// an input of its own (D2).
func TestSnapshotMidBurstRecovers(t *testing.T) {
	snaps := 0
	defer func() { t.Logf("%d snapshots compared", snaps) }()
	rapid.Check(t, func(t *rapid.T) {
		restore := call.SetSliceEvents(rapid.IntRange(1, 4).Draw(t, "slice"))
		defer restore()
		calls := rapid.IntRange(1, 12).Draw(t, "calls")
		o := call.Options{NewID: counterIDs(), History: rapid.IntRange(0, 3).Draw(t, "history")}
		o.TransientMembers = rapid.Bool().Draw(t, "transient")
		if rapid.Bool().Draw(t, "heartbeats") {
			o.HeartbeatTimeout = 30 * time.Second
		}
		if rapid.Bool().Draw(t, "not received") {
			o.NotReceivedAfter = 30 * time.Second
		}
		snapAt := rapid.IntRange(1, 4*calls).Draw(t, "snap at")
		nestedAt := rapid.IntRange(0, 4*calls).Draw(t, "nested at")
		nestedOp := rapid.SampledFrom([]string{"accept", "login", "logout", "invite", "quit", "heartbeat"}).Draw(t, "op")
		nestedCall := rapid.IntRange(0, calls-1).Draw(t, "call")
		var (
			reg     *call.Registry
			journal jsonJournal
			n       int
			burst   bool
			snap    []byte
		)
		ids := make([]string, calls)
		var sink events.SinkFunc = func(e events.Event) {
			if !burst {
				return
			}
			n++
			if n == snapAt {
				var err error
				if snap, err = reg.Snapshot(); err != nil {
					t.Fatal(err)
				}
			}
			if n == nestedAt {
				nestedInput(reg, nestedOp, ids, nestedCall, n)
			}
		}
		clk := startBurst(t, o, sink, &journal, &reg, ids, true)
		burst = true
		clk.Advance(31 * time.Second)
		if snap == nil {
			return
		}
		idx, err := call.SnapshotIndex(snap)
		if err != nil {
			t.Fatal(err)
		}
		entries := journal.decode(t)
		bo := o
		bclk := clock.NewManual(clk.Now())
		bo.Clock, bo.Sink, bo.NewID = bclk, events.Discard, nil
		rec, err := call.Recover(snap, entries[idx:], bo)
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		// Let both reach the same time.
		clk.Advance(time.Minute)
		bclk.Advance(time.Minute)
		for _, r := range []*call.Registry{reg, rec} {
			_, _ = r.Invite("zz", []string{"zz"}, call.InviteConfig{}) // an input that fails, to catch up
		}
		ws, _ := reg.Snapshot()
		gs, _ := rec.Snapshot()
		if reg.Len() != rec.Len() {
			t.Fatalf("Len %d, want %d", rec.Len(), reg.Len())
		}
		for _, id := range ids {
			wi, wok := reg.Call(id)
			gi, gok := rec.Call(id)
			if wok != gok || fmt.Sprint(wi) != fmt.Sprint(gi) {
				t.Fatalf("call %s: %v %v, want %v %v", id, gi, gok, wi, wok)
			}
		}
		for i := range calls {
			for _, u := range []string{fmt.Sprint("a", i), fmt.Sprint("b", i), fmt.Sprint("c", i)} {
				wh, _, _ := reg.History(u, 0, "")
				gh, _, _ := rec.History(u, 0, "")
				if fmt.Sprint(wh) != fmt.Sprint(gh) {
					t.Fatalf("history of %s:\n%v\nwant\n%v", u, gh, wh)
				}
			}
		}
		norm := regexp.MustCompile(`"(last|journal)":("[^"]*"|\d+),`)
		ws = norm.ReplaceAll(ws, nil)
		gs = norm.ReplaceAll(gs, nil)
		if string(ws) != string(gs) {
			t.Fatalf("state differs:\n%s\nwant\n%s", gs, ws)
		}
		snaps++
	})
}
