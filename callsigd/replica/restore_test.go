package replica_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/callsig/callsig/clock"
)

// TestRestoredOnInstalledSnapshot: a follower cut off while the leader
// commits entries and compacts its log past them is sent the leader's
// snapshot when it comes back; its replica is replaced by it, and
// Config.Restored is called once, there only, and not for the snapshot a
// node restores from its own store at its start.
func TestRestoredOnInstalledSnapshot(t *testing.T) {
	const n = 3
	restored := make([]atomic.Int32, n)
	c := newInmem(t, n, clock.NewManual(t0), call.Options{}, func(i int, cfg *replica.Config) {
		cfg.Raft.TrailingLogs = 1 // a follower a few entries behind needs a snapshot
		cfg.Raft.SnapshotThreshold = 1 << 20
		cfg.Raft.SnapshotInterval = time.Hour // snapshots are the test's
		cfg.Restored = func() { restored[i].Add(1) }
	})
	ms := c.ms
	leader := leaderOf(t, ms)
	converge(t, ms)
	f := 0
	for ms[f].ID() == leader.ID() {
		f++
	}

	// Cut the follower off, and commit entries it does not get.
	c.disconnect(f)
	for i := range 5 {
		a, b := fmt.Sprint("a", i), fmt.Sprint("b", i)
		for _, u := range []string{a, b} {
			if err := leader.Login(u, "d"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := leader.Invite(a, []string{b}, call.InviteConfig{Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	// One more entry after the snapshot: what the log still holds.
	if err := leader.Login("c", "d"); err != nil {
		t.Fatal(err)
	}
	for j := range ms {
		if j != f {
			if got := restored[j].Load(); got != 0 {
				t.Fatalf("%s: Restored called %d times, never sent a snapshot", ms[j].ID(), got)
			}
		}
	}

	c.connect(f)
	snap := converge(t, ms)
	if got := restored[f].Load(); got != 1 {
		t.Fatalf("the follower that installed the leader's snapshot: Restored called %d times, want 1", got)
	}
	_, fsnap, err := ms[f].State()
	if err != nil {
		t.Fatal(err)
	}
	if string(fsnap) != string(snap) {
		t.Fatalf("the follower's replica\n%s\nthe leader's\n%s", fsnap, snap)
	}

	// Restarted on its stores, the follower restores its own snapshot
	// before NewNode returns: not one a leader installed.
	if err := ms[f].Close(); err != nil {
		t.Fatal(err)
	}
	restored[f].Store(0)
	c.reopen(f)
	converge(t, ms)
	if got := restored[f].Load(); got != 0 {
		t.Fatalf("restarted on its own snapshot: Restored called %d times, want 0", got)
	}
}
