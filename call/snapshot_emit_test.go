package call_test

import (
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestSnapshotInsideEmitRecovers: a snapshot taken from inside Emit at a
// drawn event of a drawn run, with the journal entries after the index it
// names, recovers (call.Recover) into the state the run ends in: taken
// from inside Emit, a snapshot holds the state the input left, and its
// index the entries that state has seen (D1, D2).
func TestSnapshotInsideEmitRecovers(t *testing.T) {
	n := 0
	defer func() { t.Logf("%d recoveries compared", n) }()
	rapid.Check(t, func(t *rapid.T) {
		if rapid.Bool().Draw(t, "slices of one") {
			defer call.SetSliceEvents(1)()
		}
		o := drawOptions(t)
		o.TransientMembers = rapid.Bool().Draw(t, "transient")
		_ = drawPolicies(t, &o)
		late := rapid.SampledFrom([]time.Duration{0, 0, 700 * time.Millisecond, neverFires}).Draw(t, "timer lateness")
		steps := rapid.IntRange(0, 150).Draw(t, "steps")
		snapAtEvent := rapid.IntRange(1, 200).Draw(t, "snapshot at event")
		clk := clock.NewManual(rapidStart)
		journal := &jsonJournal{}
		var (
			a     *call.Registry
			seen  int
			snap  []byte
			evIDs = map[string]bool{}
		)
		rec := &events.Recorder{}
		sink := events.SinkFunc(func(e events.Event) {
			seen++
			evIDs[e.CallID] = true
			if seen == snapAtEvent {
				var err error
				if snap, err = a.Snapshot(); err != nil {
					t.Fatal(err)
				}
			}
			rec.Emit(e)
		})
		ao := o
		ao.Clock, ao.Sink, ao.NewID, ao.Journal = slowClock{clk, late}, sink, calltest.IDs("c"), journal
		var err error
		if a, err = call.NewRegistry(ao); err != nil {
			t.Fatal(err)
		}
		model := modelOf(o)
		gen := calltest.Commands(model, calltest.DefaultUsers)
		flush := calltest.Command{Op: calltest.OpAccept, User: "nobody", CallID: "no-such-call"}
		for step := 0; step <= steps; step++ {
			c := flush
			if step < steps {
				c = gen.Draw(t, "input")
			}
			calltest.Do(a, clk.Advance, c)
			model.Do(c)
			rec.Take()
		}
		if snap == nil {
			return
		}
		idx, err := call.SnapshotIndex(snap)
		if err != nil {
			t.Fatal(err)
		}
		entries := journal.decode(t)
		if idx > uint64(len(entries)) {
			t.Fatalf("snapshot index %d past the journal's %d entries", idx, len(entries))
		}
		if int(idx) == len(entries) {
			return // nothing after it: what it left due falls due at the next firing
		}
		bo := o
		bo.Clock, bo.Sink = clock.NewManual(clk.Now()), events.Discard
		b, err := call.Recover(snap, entries[idx:], bo)
		if err != nil {
			t.Fatalf("Recover(snapshot at event %d, index %d, %d entries after): %v", snapAtEvent, idx, len(entries)-int(idx), err)
		}
		ids := []string{"no-such-call"}
		for id := range evIDs {
			ids = append(ids, id)
		}
		sameState(t, "recovered from a snapshot taken inside Emit", a, b, ids, true)
		n++
	})
}
