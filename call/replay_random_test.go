package call_test

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestRandomReplayAndResume (D1, D2, C4): random inputs of both modes,
// presence and time on Registry A with a journal; then
//
//   - the journal, through JSON, replayed into Registry B gives the same
//     events and the same state, and
//   - A's snapshot at a random step, restored, plus the journal after it,
//     gives the same events as A emitted from that step on, and A's state.
func TestRandomReplayAndResume(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		before, after := &memJournal{}, &memJournal{}
		cur := before
		clk := clock.NewManual(t0)
		rec := &events.Recorder{}
		policies := call.Options{NotReceivedAfter: time.Duration(seed%3) * 4 * time.Second, History: int(seed % 3),
			HeartbeatTimeout: time.Duration(seed%4/3) * 25 * time.Second,
			Busy:             call.BusyPolicy(seed % 2), Glare: call.GlarePolicy(seed / 2 % 2)}
		a, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: counterIDs(),
			NotReceivedAfter: policies.NotReceivedAfter, History: policies.History, Busy: policies.Busy, Glare: policies.Glare,
			HeartbeatTimeout: policies.HeartbeatTimeout,
			Journal:          call.JournalFunc(func(e call.Entry) error { return cur.Append(e) })})
		if err != nil {
			t.Fatal(err)
		}
		steps := 50 + rng.IntN(250)
		snapAt := rng.IntN(steps)
		var snap []byte
		var emittedBefore int
		for step := range steps {
			if step == snapAt {
				snap, _ = a.Snapshot()
				cur, emittedBefore = after, len(rec.Events())
			}
			randomInput(rng, a, clk)
		}
		want := rec.Take()
		stateA, _ := a.Snapshot()

		all := append(before.entries(t), after.entries(t)...)
		recB := &events.Recorder{}
		ob := policies
		ob.Clock, ob.Sink = clock.NewManual(t0), recB
		b, err := call.Recover(nil, all, ob)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got := recB.Take(); !reflect.DeepEqual(normalize(got), normalize(want)) {
			t.Fatalf("seed %d: replay:\n%s", seed, diffEvents(normalize(got), normalize(want)))
		}
		if stateB, _ := b.Snapshot(); !bytes.Equal(stateA, stateB) {
			t.Fatalf("seed %d: replayed state differs:\n%s\n%s", seed, stateA, stateB)
		}

		recC := &events.Recorder{}
		oc := policies
		oc.Clock, oc.Sink = clock.NewManual(t0), recC
		c, err := call.Recover(snap, after.entries(t), oc)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if got := recC.Take(); !reflect.DeepEqual(normalize(got), normalize(want[emittedBefore:])) {
			t.Fatalf("seed %d, snapshot at step %d:\n%s", seed, snapAt, diffEvents(normalize(got), normalize(want[emittedBefore:])))
		}
		if stateC, _ := c.Snapshot(); !bytes.Equal(stateA, stateC) {
			t.Fatalf("seed %d: resumed state differs:\n%s\n%s", seed, stateA, stateC)
		}
	}
}
