package cluster

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
	"github.com/hashicorp/raft"
)

// gate is a node's Sink that can hold the node's apply goroutine: while
// held, the first event the replica makes waits in Emit until release,
// and the node applies nothing more — its replica is held behind.
type gate struct {
	mu   sync.Mutex
	held chan struct{} // nil: open
}

func (g *gate) Emit(events.Event) {
	g.mu.Lock()
	h := g.held
	g.mu.Unlock()
	if h != nil {
		<-h
	}
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

// testNode is a started Cluster of a test, with its Sink and the count
// of the barrier requests (barrierPath) its HTTP server was sent.
type testNode struct {
	*Cluster
	gate     *gate
	barriers *atomic.Int64
}

// startNodes starts n Clusters, each waiting wait for a leader, over
// raft's in-memory transport with quick elections, their stores in
// temporary directories, each serving its routes over HTTP on loopback;
// and waits until every node knows one same leader.
func startNodes(t *testing.T, n int, wait time.Duration) []testNode {
	t.Helper()
	key := []byte(strings.Repeat("k", 32))
	peers := make([]Peer, n)
	trans := make([]*raft.InmemTransport, n)
	servers := make([]*httptest.Server, n)
	for i := range n {
		var addr raft.ServerAddress
		addr, trans[i] = raft.NewInmemTransport("")
		servers[i] = httptest.NewUnstartedServer(nil)
		peers[i] = Peer{ID: fmt.Sprint("n", i), Raft: string(addr), HTTP: servers[i].Listener.Addr().String()}
	}
	for i := range n {
		for j := range n {
			if i != j {
				trans[i].Connect(trans[j].LocalAddr(), trans[j])
			}
		}
	}
	nodes := make([]testNode, n)
	for i := range n {
		rc := raft.DefaultConfig()
		rc.HeartbeatTimeout = 200 * time.Millisecond
		rc.ElectionTimeout = 200 * time.Millisecond
		rc.LeaderLeaseTimeout = 200 * time.Millisecond
		rc.CommitTimeout = 5 * time.Millisecond
		rc.LogOutput = io.Discard
		c, err := New(Config{ID: peers[i].ID, Peers: peers, Dir: t.TempDir(), Key: key, Raft: rc, Transport: trans[i], Wait: wait})
		if err != nil {
			t.Fatal(err)
		}
		g := &gate{}
		if err := c.Open(call.Options{Sink: g, History: 10}); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		for p, h := range c.Routes() {
			mux.Handle(p, h)
		}
		barriers := new(atomic.Int64)
		servers[i].Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == barrierPath {
				barriers.Add(1)
			}
			mux.ServeHTTP(w, r)
		})
		servers[i].Start()
		t.Cleanup(func() {
			servers[i].Close()
			_ = c.Close()
		})
		nodes[i] = testNode{c, g, barriers}
	}
	// Run first at the end: a held node must apply again to close.
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.gate.release()
		}
	})
	leaderOfNodes(t, nodes)
	return nodes
}

// leaderOfNodes waits until every node of nodes knows one same leader,
// among them, and returns it and the others.
func leaderOfNodes(t *testing.T, nodes []testNode) (testNode, []testNode) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		id := nodes[0].Node().Leader()
		var leader *testNode
		var others []testNode
		for i, nd := range nodes {
			switch {
			case nd.Node().Leader() != id:
				id = ""
			case nd.cfg.ID == id:
				leader = &nodes[i]
			default:
				others = append(others, nd)
			}
		}
		if id != "" && leader != nil && leader.Node().IsLeader() {
			return *leader, others
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader that every node knows")
		}
	}
}

// A follower's queries after ReadBarrier see every command committed
// before it, though its replica was behind: ReadBarrier waits until the
// replica has applied the leader's index. When the replica cannot catch
// up within Config.Wait, ReadBarrier fails with ErrUnavailable rather
// than let a stale read through.
func TestReadBarrierCatchesUp(t *testing.T) {
	nodes := startNodes(t, 3, 2*time.Second)
	leader, fs := leaderOfNodes(t, nodes)
	f := fs[0]
	for _, d := range [][2]string{{"alice", "web"}, {"bob", "phone"}} {
		if err := leader.Login(d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.ReadBarrier(); err != nil {
		t.Fatal(err)
	}
	// The follower applies bob's invitation up to its event, and waits
	// there: carol's call, and dave's that ended, are committed, not
	// applied on f.
	f.gate.hold()
	if _, err := leader.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	res, err := leader.Invite("alice", []string{"carol"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ended, err := leader.Invite("alice", []string{"dave"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Cancel("alice", ended.CallID, nil, call.CancelConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Call(res.CallID); ok {
		t.Fatal("the follower's replica was not held behind")
	}

	release := time.AfterFunc(300*time.Millisecond, f.gate.release)
	defer release.Stop()
	start := time.Now()
	if err := f.ReadBarrier(); err != nil {
		t.Fatalf("ReadBarrier: %v", err)
	}
	if _, ok := f.Call(res.CallID); !ok {
		t.Fatalf("after ReadBarrier (%v), the follower does not have the call the leader made", time.Since(start))
	}
	if calls, _, err := f.History("dave", 10, ""); err != nil || len(calls) != 1 || calls[0].CallID != ended.CallID {
		t.Fatalf("dave's history after ReadBarrier: %v, %v", calls, err)
	}

	// Held past Config.Wait: unavailable, not a stale read.
	f.gate.hold()
	if _, err := leader.Invite("bob", []string{"alice"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Invite("bob", []string{"dave"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	err = f.ReadBarrier()
	if !errors.Is(err, ErrUnavailable) || call.Code(err) != CodeUnavailable {
		t.Fatalf("ReadBarrier on a replica held behind: %v", err)
	}
	f.gate.release()
	if err := f.ReadBarrier(); err != nil {
		t.Fatalf("ReadBarrier once released: %v", err)
	}
}

// While no leader can be reached, ReadBarrier tries again, as a command
// does, and fails with ErrUnavailable once Config.Wait has passed: no
// query reads a replica that may be stale.
func TestReadBarrierWithoutLeader(t *testing.T) {
	const wait = 500 * time.Millisecond
	nodes := startNodes(t, 3, wait)
	leader, fs := leaderOfNodes(t, nodes)
	if err := leader.Login("alice", "web"); err != nil {
		t.Fatal(err)
	}
	last := fs[0]
	for _, nd := range []testNode{fs[1], leader} {
		if err := nd.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); last.Node().Leader() != ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the last node still knows a leader")
		}
	}
	start := time.Now()
	err := last.ReadBarrier()
	if !errors.Is(err, ErrUnavailable) || call.Code(err) != CodeUnavailable {
		t.Fatalf("ReadBarrier without a leader: %v", err)
	}
	if d := time.Since(start); d < wait {
		t.Fatalf("ReadBarrier gave up after %v, before Config.Wait (%v)", d, wait)
	}

	// Queries waiting for a leader when the node shuts down end at once
	// with errShuttingDown, not at Config.Wait, and the coalescer they
	// share runs no more rounds.
	errs := make(chan error, 20)
	for range cap(errs) {
		go func() { errs <- last.ReadBarrier() }()
	}
	time.Sleep(wait / 10)
	last.Interrupt()
	interrupted := time.Now()
	for range cap(errs) {
		if err := <-errs; err != errShuttingDown {
			t.Fatalf("ReadBarrier when the node shuts down: %v, want %v", err, errShuttingDown)
		}
	}
	if d := time.Since(interrupted); d > wait/2 {
		t.Fatalf("ReadBarrier took %v to end after Interrupt, Config.Wait is %v", d, wait)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		last.reads.mu.Lock()
		idle := !last.reads.running && last.reads.next == nil
		last.reads.mu.Unlock()
		if idle {
			break // its goroutine has ended
		}
		if time.Now().After(deadline) {
			t.Fatal("the read coalescer still runs rounds after the shutdown")
		}
	}
}

// barrierEntries counts the barrier entries (raft.LogBarrier) in nd's
// raft log after index from, up to its last.
func barrierEntries(t *testing.T, nd testNode, from uint64) int {
	t.Helper()
	nd.mu.Lock()
	logs := nd.stores.Bolt
	nd.mu.Unlock()
	last, err := logs.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := from + 1; i <= last; i++ {
		var l raft.Log
		if err := logs.GetLog(i, &l); err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if l.Type == raft.LogBarrier {
			n++
		}
	}
	return n
}

// Concurrent queries share read barriers: waves of 50 queries, spread
// over the three nodes and started at once, make far fewer barrier
// entries on the leader than there are queries (one each would be 200),
// while every query still sees the last call whose Invite was answered
// before it began, as invites go on from every node meanwhile. That check
// is a sanity check only: the window in which a query served by a barrier
// already under way would read stale data is too narrow for it to catch
// (it passes with such a coalescer). The rule that a query is served only
// by a barrier that started after it arrived is proven by the coalescer's
// own tests (TestCoalescerLaterRound).
func TestReadBarrierCoalesces(t *testing.T) {
	nodes := startNodes(t, 3, 5*time.Second)
	leader, _ := leaderOfNodes(t, nodes)
	for _, u := range []string{"alice", "bob"} {
		if err := leader.Login(u, "web"); err != nil {
			t.Fatal(err)
		}
	}
	first, err := leader.Invite("alice", []string{"bob"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := first.CallID // the last call whose Invite was answered
	from := leader.Node().Raft().LastIndex()

	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			res, err := nodes[i%len(nodes)].Invite("alice", []string{"bob"}, call.InviteConfig{})
			if err != nil {
				t.Errorf("invite: %v", err)
				return
			}
			mu.Lock()
			acked = res.CallID
			mu.Unlock()
		}
	})

	const readers, waves = 50, 4
	for range waves {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range readers {
			nd := nodes[i%len(nodes)]
			wg.Go(func() {
				<-start
				mu.Lock()
				id := acked
				mu.Unlock()
				if err := nd.ReadBarrier(); err != nil {
					t.Errorf("ReadBarrier on %s: %v", nd.cfg.ID, err)
					return
				}
				if _, ok := nd.Call(id); !ok {
					t.Errorf("a query on %s does not see call %s, whose Invite was answered before it began", nd.cfg.ID, id)
				}
			})
		}
		close(start)
		wg.Wait()
	}
	close(stop)
	writer.Wait()

	entries := barrierEntries(t, leader, from)
	var requests int64
	for _, nd := range nodes {
		requests += nd.barriers.Load()
	}
	t.Logf("%d queries: %d barrier entries on the leader, %d barrier requests", readers*waves, entries, requests)
	if entries > readers*waves/5 {
		t.Fatalf("%d queries made %d barrier entries", readers*waves, entries)
	}
}
