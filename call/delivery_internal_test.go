package call

import (
	"testing"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestDelivererLeavesWithoutTheLock: a command on one goroutine delivers
// its own events and leaves without taking the lock again (exitLeft); the
// next input, or Backlog, ends that delivery, recycling the batch's memory
// as the deliverer would have. A command the Sink makes from inside Emit
// pins the deliverer, which then comes back under the lock for its events.
func TestDelivererLeavesWithoutTheLock(t *testing.T) {
	var r *Registry
	var got []events.Kind
	nested := false
	sink := events.SinkFunc(func(e events.Event) {
		got = append(got, e.Kind)
		if nested && e.Kind == events.InvitationReceived {
			nested = false
			if _, err := r.Invite("c", []string{"d"}, InviteConfig{Timeout: time.Minute}); err != nil {
				t.Error(err)
			}
		}
	})
	r, err := NewRegistry(Options{Clock: clock.NewManual(time.Unix(1e9, 0)), Sink: sink, TransientMembers: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Invite("a", []string{"b"}, InviteConfig{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !r.out.delivering || r.out.exit.Load() != exitLeft || r.out.inFlight == 0 {
		t.Fatalf("after Invite: delivering %v, exit %d, inFlight %d; want the deliverer gone without the lock",
			r.out.delivering, r.out.exit.Load(), r.out.inFlight)
	}
	if n := r.Backlog(); n != 0 {
		t.Fatalf("Backlog %d after Invite returned", n)
	}
	if r.out.delivering || r.out.exit.Load() != exitHeld || r.out.batch != nil || cap(r.out.freeQueue) == 0 {
		t.Fatalf("Backlog left the delivery unended: delivering %v, exit %d", r.out.delivering, r.out.exit.Load())
	}

	// Accept ends the call: its record goes back to the free list only
	// once the delivery that told of its end is ended.
	if err := r.Accept("b", res.CallID, AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	if len(r.recycler.free[0]) != 0 || len(r.recycler.endedInBatch) != 1 {
		t.Fatalf("before the delivery ended: %d free, %d ended in the batch", len(r.recycler.free[0]), len(r.recycler.endedInBatch))
	}
	r.Backlog()
	if len(r.recycler.free[0]) != 1 || len(r.recycler.endedInBatch) != 0 {
		t.Fatalf("after: %d free, %d ended in the batch", len(r.recycler.free[0]), len(r.recycler.endedInBatch))
	}

	// An Invite whose Sink invites from inside Emit: the nested command
	// pins the deliverer, which delivers its events before the outer
	// Invite returns (C3).
	nested = true
	got = got[:0]
	if _, err := r.Invite("a", []string{"b"}, InviteConfig{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if n := r.Backlog(); n != 0 || len(got) != 4 || got[3] != events.InvitationReceived {
		t.Fatalf("Backlog %d, events %v after an Invite whose Sink invited from inside Emit", n, got)
	}
}
