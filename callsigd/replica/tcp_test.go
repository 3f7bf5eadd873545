package replica_test

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/hashicorp/raft"
)

// startTCP starts node id over loopback TCP at addr ("127.0.0.1:0": any
// port) with its stores in dir, and returns it with its transport's address.
func startTCP(t *testing.T, id, addr, dir string, clk clock.Clock) (member, raft.ServerAddress, func()) {
	t.Helper()
	trans, err := replica.NewTCPTransport(addr, nil, time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stores, err := replica.OpenStores(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &events.Recorder{}
	rc := raftConfig()
	rc.TrailingLogs = 4 // a snapshot leaves few entries: a node far behind gets the snapshot
	cfg := replica.Config{ID: id, Options: call.Options{Clock: clk, Sink: rec}, Raft: rc, Transport: trans}
	stores.Configure(&cfg)
	node, err := replica.NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		if err := node.Close(); err != nil {
			t.Error(err)
		}
		if err := trans.Close(); err != nil {
			t.Error(err)
		}
		if err := stores.Close(); err != nil {
			t.Error(err)
		}
	}
	return member{node, rec}, trans.LocalAddr(), stop
}

// TestTCPBoltRestartCatchesUp: three nodes over loopback TCP with bolt
// logs and file snapshots agree; a follower stopped while commands go on
// and a snapshot is taken restarts from its files and catches up, through
// the snapshot, to the same bytes.
func TestTCPBoltRestartCatchesUp(t *testing.T) {
	clk := clock.NewManual(t0)
	base := t.TempDir()
	ms := make([]member, 3)
	stops := make([]func(), 3)
	addrs := make([]raft.ServerAddress, 3)
	var servers []raft.Server
	for i := range ms {
		id := fmt.Sprint("n", i)
		ms[i], addrs[i], stops[i] = startTCP(t, id, "127.0.0.1:0", filepath.Join(base, id), clk)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: addrs[i]})
	}
	defer func() {
		for _, stop := range stops {
			if stop != nil {
				stop()
			}
		}
	}()
	if err := ms[0].Bootstrap(servers); err != nil {
		t.Fatal(err)
	}
	leader := leaderOf(t, ms)
	invite := func(k int) {
		t.Helper()
		l := leaderOf(t, ms)
		if _, err := l.Invite(fmt.Sprint("a", k), []string{fmt.Sprint("b", k)}, call.InviteConfig{Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 5 {
		invite(k)
	}
	converge(t, ms)

	var f int // a follower, stopped
	for f = range ms {
		if ms[f].ID() != leader.ID() {
			break
		}
	}
	stops[f]()
	stops[f] = nil
	live := append(append([]member{}, ms[:f]...), ms[f+1:]...)
	for k := 5; k < 20; k++ {
		invite(k)
	}
	clk.Advance(2 * time.Minute) // every deadline: the leader's tick entries
	for deadline := time.Now().Add(10 * time.Second); leaderOf(t, live).Len() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the deadlines did not fire")
		}
	}
	if err := leaderOf(t, live).Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for k := 20; k < 25; k++ {
		invite(k)
	}
	converge(t, live)

	ms[f], _, stops[f] = startTCP(t, ms[f].ID(), string(addrs[f]), filepath.Join(base, ms[f].ID()), clk)
	snap := converge(t, ms)
	if s := ms[f].Raft().Stats()["last_snapshot_index"]; s == "0" {
		t.Fatal("the restarted node caught up without the snapshot: Restore untested")
	}
	if n := ms[f].Len(); n != 5 {
		t.Fatalf("the restarted node has %d live calls, want 5\n%s", n, snap)
	}
}
