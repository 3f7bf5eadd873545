package replica_test

import (
	"errors"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/callsig/callsig/clock"
)

// Barrier gives a read point on the leader only, and only while a
// majority follows it: a follower refuses with ErrNotLeader; the
// leader's index covers every command it answered, and a follower that
// has applied it reads them; a leader cut off from the others gives none
// (a read there could miss what a new leader commits) and fails with
// ErrNotLeader once its lease has lapsed.
func TestBarrier(t *testing.T) {
	c := newInmem(t, 3, clock.NewManual(t0), call.Options{}, nil)
	leader := leaderOf(t, c.ms)
	var lead int
	for i, m := range c.ms {
		if m.Node == leader.Node {
			lead = i
			continue
		}
		if _, err := m.Barrier(); !errors.Is(err, replica.ErrNotLeader) {
			t.Fatalf("a follower's Barrier: %v", err)
		}
	}
	res, err := leader.Invite("alice", []string{"bob"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	index, err := leader.Barrier()
	if err != nil || index == 0 {
		t.Fatalf("the leader's Barrier: %d, %v, after an Invite it answered", index, err)
	}
	for _, m := range c.ms {
		for deadline := time.Now().Add(5 * time.Second); m.Applied() < index; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not apply %d", m.ID(), index)
			}
		}
		if _, ok := m.Call(res.CallID); !ok {
			t.Fatalf("%s at the barrier's index has no call %s", m.ID(), res.CallID)
		}
	}

	c.disconnect(lead)
	start := time.Now()
	if _, err := leader.Barrier(); !errors.Is(err, replica.ErrNotLeader) {
		t.Fatalf("the Barrier of a leader cut off: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the Barrier of a leader cut off took %v", d)
	}
}
