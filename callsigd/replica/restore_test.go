package replica_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/hashicorp/raft"
)

// TestRestoredOnInstalledSnapshot: a follower cut off while the leader
// commits entries and compacts its log past them is sent the leader's
// snapshot when it comes back; its replica is replaced by it, and
// Config.Restored is called once, there only, and not for the snapshot a
// node restores from its own store at its start.
func TestRestoredOnInstalledSnapshot(t *testing.T) {
	clk := clock.NewManual(t0)
	const n = 3
	trans := make([]*raft.InmemTransport, n)
	servers := make([]raft.Server, n)
	for i := range trans {
		var addr raft.ServerAddress
		addr, trans[i] = raft.NewInmemTransport("")
		servers[i] = raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: addr}
	}
	connect := func(i int) {
		for j := range trans {
			if i != j {
				trans[i].Connect(trans[j].LocalAddr(), trans[j])
				trans[j].Connect(trans[i].LocalAddr(), trans[i])
			}
		}
	}
	for i := range trans {
		connect(i)
	}
	restored := make([]atomic.Int32, n)
	ms := make([]member, n)
	snaps := make([]raft.SnapshotStore, n)
	logs := make([]*raft.InmemStore, n)
	stable := make([]*raft.InmemStore, n)
	start := func(i int) {
		rc := raftConfig()
		rc.TrailingLogs = 1 // a follower a few entries behind needs a snapshot
		rc.SnapshotThreshold = 1 << 20
		rc.SnapshotInterval = time.Hour // snapshots are the test's
		rec := &events.Recorder{}
		node, err := replica.NewNode(replica.Config{
			ID: string(servers[i].ID), Options: call.Options{Clock: clk, Sink: rec}, Raft: rc, Transport: trans[i],
			Logs: logs[i], Stable: stable[i], Snapshots: snaps[i],
			Restored: func() { restored[i].Add(1) },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Close() })
		ms[i] = member{node, rec}
	}
	for i := range ms {
		logs[i], stable[i], snaps[i] = raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore()
		start(i)
	}
	if err := ms[0].Bootstrap(servers); err != nil {
		t.Fatal(err)
	}
	leader := leaderOf(t, ms)
	converge(t, ms)
	f := 0
	for ms[f].ID() == leader.ID() {
		f++
	}

	// Cut the follower off, and commit entries it does not get.
	for j := range trans {
		if j != f {
			trans[f].Disconnect(trans[j].LocalAddr())
			trans[j].Disconnect(trans[f].LocalAddr())
		}
	}
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

	connect(f)
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
	addr := trans[f].LocalAddr()
	_, trans[f] = raft.NewInmemTransport(addr)
	connect(f)
	start(f)
	converge(t, ms)
	if got := restored[f].Load(); got != 0 {
		t.Fatalf("restarted on its own snapshot: Restored called %d times, want 0", got)
	}
}
