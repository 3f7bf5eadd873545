package call_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestSnapshotAnyYear: D2 — Snapshot never fails, and Restore takes back,
// a state the Registry can hold. A deadline MaxTimeout after a reading
// near the end of 9999 is in year 10000, which RFC 3339 (and time.Time's
// MarshalJSON) cannot write; a clock that reads before year 1 counts as
// reading the zero time (D3), and its calls end at it. Both snapshot,
// restore to the same bytes, and the deadline falls due where it was.
func TestSnapshotAnyYear(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 0, 5e8, time.UTC),
	} {
		clk := clock.NewManual(start)
		r, err := call.NewRegistry(call.Options{Clock: clk, NewID: counterIDs(), History: 1})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: call.DefaultMaxTimeout})
		if err != nil {
			t.Fatal(err)
		}
		ended, err := r.Invite("carol", []string{"dave"}, call.InviteConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Reject("dave", ended.CallID, call.RejectConfig{}); err != nil { // into the histories
			t.Fatal(err)
		}
		snap, err := r.Snapshot()
		if err != nil {
			t.Fatalf("%v: Snapshot: %v", start, err)
		}
		rec := &events.Recorder{}
		clk2 := clock.NewManual(start)
		b, err := call.Restore(snap, call.Options{Clock: clk2, Sink: rec, History: 1})
		if err != nil {
			t.Fatalf("%v: Restore: %v\n%s", start, err, snap)
		}
		if again, err := b.Snapshot(); err != nil || !bytes.Equal(again, snap) {
			t.Fatalf("%v: snapshot again: %v\n%s\nwant\n%s", start, err, again, snap)
		}
		clk2.Advance(res.Deadline.Sub(start))
		evs := rec.Take()
		if len(evs) != 2 || evs[0].Kind != events.InviteesAnsweredTimeout || !evs[0].At.Equal(res.Deadline) {
			t.Fatalf("%v: at the deadline %v: %v", start, res.Deadline, evs)
		}
	}
}
