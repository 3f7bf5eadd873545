package replica_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// raftConfig is raft's configuration for tests: quick elections, no logs.
func raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.HeartbeatTimeout = 100 * time.Millisecond
	c.ElectionTimeout = 100 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.LogOutput = io.Discard
	return c
}

// member is a node under test with the events its Sink received.
type member struct {
	*replica.Node
	rec *events.Recorder
}

// inmemCluster starts n nodes over raft's in-memory transport, all on
// clk, and waits for a leader.
func inmemCluster(t *testing.T, n int, clk clock.Clock, o call.Options) []member {
	t.Helper()
	return newInmem(t, n, clk, o, nil).ms
}

// inmem is a cluster over raft's in-memory transport, whose nodes keep
// their stores across a restart.
type inmem struct {
	t      *testing.T
	clk    clock.Clock
	o      call.Options
	config func(i int, cfg *replica.Config) // nil, or changes node i's config at each start

	servers []raft.Server
	trans   []*raft.InmemTransport
	logs    []*raft.InmemStore
	stable  []*raft.InmemStore
	snaps   []raft.SnapshotStore
	ms      []member
}

// newInmem starts n nodes over raft's in-memory transport, all on clk,
// each with config's changes (config may be nil), and waits for a leader.
func newInmem(t *testing.T, n int, clk clock.Clock, o call.Options, config func(i int, cfg *replica.Config)) *inmem {
	t.Helper()
	c := &inmem{t: t, clk: clk, o: o, config: config,
		servers: make([]raft.Server, n), trans: make([]*raft.InmemTransport, n),
		logs: make([]*raft.InmemStore, n), stable: make([]*raft.InmemStore, n), snaps: make([]raft.SnapshotStore, n),
		ms: make([]member, n)}
	for i := range n {
		var addr raft.ServerAddress
		addr, c.trans[i] = raft.NewInmemTransport("")
		c.servers[i] = raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: addr}
		c.logs[i], c.stable[i], c.snaps[i] = raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	}
	for i := range n {
		c.connect(i)
	}
	for i := range n {
		c.start(i)
	}
	if err := c.ms[0].Bootstrap(c.servers); err != nil {
		t.Fatal(err)
	}
	leaderOf(t, c.ms)
	return c
}

// start starts node i on its transport and stores.
func (c *inmem) start(i int) {
	c.t.Helper()
	rec := &events.Recorder{}
	o := c.o
	o.Clock, o.Sink = c.clk, rec
	cfg := replica.Config{
		ID: string(c.servers[i].ID), Options: o, Raft: raftConfig(), Transport: c.trans[i],
		Logs: c.logs[i], Stable: c.stable[i], Snapshots: c.snaps[i],
	}
	if c.config != nil {
		c.config(i, &cfg)
	}
	node, err := replica.NewNode(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = node.Close() })
	c.ms[i] = member{node, rec}
}

// reopen starts node i again, once closed, on its stores and a new
// transport at its address.
func (c *inmem) reopen(i int) {
	c.t.Helper()
	_, c.trans[i] = raft.NewInmemTransport(c.trans[i].LocalAddr())
	c.connect(i)
	c.start(i)
}

// connect links node i's transport with every other's, both ways.
func (c *inmem) connect(i int) {
	for j := range c.trans {
		if i != j {
			c.trans[i].Connect(c.trans[j].LocalAddr(), c.trans[j])
			c.trans[j].Connect(c.trans[i].LocalAddr(), c.trans[i])
		}
	}
}

// disconnect cuts node i's transport off from every other's, both ways.
func (c *inmem) disconnect(i int) {
	for j := range c.trans {
		if i != j {
			c.trans[i].Disconnect(c.trans[j].LocalAddr())
			c.trans[j].Disconnect(c.trans[i].LocalAddr())
		}
	}
}

// leaderOf waits for a leader among ms, and returns it.
func leaderOf(t *testing.T, ms []member) member {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, m := range ms {
			if m.Node != nil && m.IsLeader() {
				return m
			}
		}
	}
	t.Fatal("no leader within 10 s")
	return member{}
}

// converge waits until every node has applied what the first has, and
// checks that they all then give the same snapshot bytes.
func converge(t *testing.T, ms []member) []byte {
	t.Helper()
	_, snap := convergeNodes(t, 10*time.Second, func() []*replica.Node {
		nodes := make([]*replica.Node, len(ms))
		for i, m := range ms {
			nodes[i] = m.Node
		}
		return nodes
	})
	return snap
}

// convergeNodes waits, for at most bound, until the nodes live gives
// (asked again at each try) have applied the same last entry, checks that
// their Snapshots are then the same bytes, and returns that index and
// snapshot.
func convergeNodes(t *testing.T, bound time.Duration, live func() []*replica.Node) (uint64, []byte) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		ns := live()
		index, snap, err := ns[0].State()
		if err != nil {
			t.Fatal(err)
		}
		same := true
		for _, n := range ns[1:] {
			i, s, err := n.State()
			if err != nil {
				t.Fatal(err)
			}
			if i != index {
				same = false
				last = fmt.Sprintf("%s at index %d, %s at %d", ns[0].ID(), index, n.ID(), i)
				break
			}
			if string(s) != string(snap) {
				t.Fatalf("at index %d, %s's snapshot\n%s\n%s's\n%s", index, ns[0].ID(), snap, n.ID(), s)
			}
		}
		if same {
			return index, snap
		}
	}
	t.Fatalf("the replicas did not converge within %v: %s", bound, last)
	return 0, nil
}

// online returns the events not marked Offline: every node's.
func online(evs []events.Event) []events.Event {
	return slices.DeleteFunc(slices.Clone(evs), func(e events.Event) bool { return e.Offline })
}

// TestConcurrentCommandsOneState: commands from many goroutines through
// the leader; every replica ends with the same snapshot bytes, every node
// delivered the same events, and the Offline ones (pushes) only the
// leader, which proposed them. A follower refuses commands, doing nothing.
func TestConcurrentCommandsOneState(t *testing.T) {
	clk := clock.NewManual(t0)
	ms := inmemCluster(t, 3, clk, call.Options{})
	leader := leaderOf(t, ms)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 6 {
		wg.Go(func() {
			caller, callee := fmt.Sprint("caller", g), fmt.Sprint("callee", g)
			if err := leader.Login(caller, "d"); err != nil {
				errs <- err
				return
			}
			for i := range 5 {
				res, err := leader.Invite(caller, []string{callee, "offline"}, call.InviteConfig{})
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 0 {
					err = leader.Accept(callee, res.CallID, call.AcceptConfig{})
				} else {
					_, err = leader.Cancel(caller, res.CallID, nil, call.CancelConfig{})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	converge(t, ms)
	if leader.Len() != 6*3 { // the accepted calls still ring "offline"
		t.Fatalf("%d live calls, want %d", leader.Len(), 6*3)
	}
	want := online(leader.rec.Events())
	for _, m := range ms {
		evs := m.rec.Events()
		if m.ID() != leader.ID() && len(evs) != len(online(evs)) {
			t.Errorf("follower %s got an Offline event: only the leader pushes", m.ID())
		}
		if got := online(evs); len(got) != len(want) {
			t.Errorf("%s delivered %d events, the leader %d", m.ID(), len(got), len(want))
		}
	}
	if len(online(leader.rec.Events())) == len(leader.rec.Events()) {
		t.Error("the leader pushed nothing: the invitee offline was not pushed")
	}
	for _, m := range ms {
		if m.ID() == leader.ID() {
			continue
		}
		before := leader.Len()
		_, err := m.Invite("x", []string{"y"}, call.InviteConfig{})
		if !errors.Is(err, replica.ErrNotLeader) {
			t.Fatalf("Invite on follower %s = %v, want ErrNotLeader", m.ID(), err)
		}
		if err := m.Login("x", "d"); !errors.Is(err, replica.ErrNotLeader) {
			t.Fatalf("Login on follower %s = %v, want ErrNotLeader", m.ID(), err)
		}
		converge(t, ms)
		if leader.Len() != before || len(leader.Devices("x")) != 0 {
			t.Fatal("a refused command changed the cluster")
		}
	}
}

// TestDeadlinesFireOnce: the invitations time out once, by the leader's
// tick entries, and every replica agrees, events and all.
func TestDeadlinesFireOnce(t *testing.T) {
	clk := clock.NewManual(t0)
	ms := inmemCluster(t, 3, clk, call.Options{})
	leader := leaderOf(t, ms)
	const calls = 5
	for i := range calls {
		for _, u := range []string{fmt.Sprint("a", i), fmt.Sprint("b", i)} {
			if err := leader.Login(u, "d"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := leader.Invite(fmt.Sprint("a", i), []string{fmt.Sprint("b", i)}, call.InviteConfig{Timeout: time.Duration(10+i) * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	converge(t, ms)
	clk.Advance(11500 * time.Millisecond) // the first two deadlines
	for deadline := time.Now().Add(10 * time.Second); leader.Len() != calls-2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls live after their deadline, want %d", leader.Len(), calls-2)
		}
	}
	clk.Advance(time.Minute) // the rest
	for deadline := time.Now().Add(10 * time.Second); leader.Len() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls live after their deadline", leader.Len())
		}
	}
	converge(t, ms)
	for _, m := range ms {
		timeouts := map[string]int{}
		for _, e := range m.rec.Events() {
			if e.Kind == events.InvitationTimeout {
				timeouts[e.CallID+" to "+e.To]++
			}
		}
		if len(timeouts) != calls {
			t.Errorf("%s: %d invitations timed out, want %d", m.ID(), len(timeouts), calls)
		}
		for k, c := range timeouts {
			if c != 1 {
				t.Errorf("%s: %s timed out %d times", m.ID(), k, c)
			}
		}
		if got, want := online(m.rec.Events()), online(leader.rec.Events()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s's events differ from the leader's", m.ID())
		}
	}
}

// TestRandomCommandsReplicasAgree: a seeded loop of random commands, time
// passing and leadership transfers; after each batch every replica holds
// the same state, and the Registry's own errors come back unchanged.
func TestRandomCommandsReplicasAgree(t *testing.T) {
	clk := clock.NewManual(t0)
	ms := inmemCluster(t, 3, clk, call.Options{HeartbeatTimeout: time.Minute, Glare: call.GlareMerge})
	rng := rand.New(rand.NewPCG(17, 1))
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	pick := func() string { return users[rng.IntN(len(users))] }
	var calls []string
	for batch := range 12 {
		leader := leaderOf(t, ms)
		for range 20 {
			var err error
			switch rng.IntN(8) {
			case 0:
				err = leader.Login(pick(), "d")
			case 1:
				err = leader.Logout(pick(), "d")
			case 2:
				err = leader.Heartbeat(pick(), "d")
			case 3, 4:
				var res call.InviteResult
				res, err = leader.Invite(pick(), []string{pick()}, call.InviteConfig{Timeout: time.Duration(5+rng.IntN(30)) * time.Second})
				if err == nil {
					calls = append(calls, res.CallID)
				}
			case 5, 6:
				if len(calls) > 0 {
					id := calls[rng.IntN(len(calls))]
					if rng.IntN(2) == 0 {
						err = leader.Accept(pick(), id, call.AcceptConfig{})
					} else {
						err = leader.Reject(pick(), id, call.RejectConfig{})
					}
				}
			case 7:
				clk.Advance(time.Duration(rng.IntN(20)) * time.Second)
			}
			var ce *call.Error
			if err != nil && !errors.As(err, &ce) {
				t.Fatalf("batch %d: %v is no command's error", batch, err)
			}
		}
		converge(t, ms)
		if batch%4 == 3 {
			if err := leader.Raft().LeadershipTransfer().Error(); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk.Advance(time.Hour) // everything falls due, under whichever leader
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l := leaderOf(t, ms)
		if _, ok := l.NextDue(); !ok && l.Len() == 0 && len(l.Online()) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still live an hour on", l.Len())
		}
	}
	converge(t, ms)
}

// Admit is asked once, by the proposer: its answers travel in the entry
// (H7), every replica refuses the same invitees, and the proposer's caller
// gets Admit's own errors back, for Invite and CallingInvite alike.
func TestAdmitAnswersTravelInTheEntry(t *testing.T) {
	errBlocked := errors.New("blocked by policy")
	var asked atomic.Int64
	o := call.Options{Admit: func(_, invitee string) error {
		asked.Add(1)
		if invitee == "mallory" {
			return errBlocked
		}
		return nil
	}}
	ms := inmemCluster(t, 3, clock.NewManual(t0), o)
	leader := leaderOf(t, ms)
	res, err := leader.Invite("alice", []string{"bob", "mallory"}, call.InviteConfig{Mode: events.Advanced})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].User != "mallory" || !errors.Is(res.Failed[0].Err, errBlocked) {
		t.Fatalf("Invite's failures %+v, want mallory with Admit's error", res.Failed)
	}
	more, err := leader.CallingInvite("alice", res.CallID, []string{"carol", "mallory"}, call.CallingInviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if len(more.Failed) != 1 || more.Failed[0].User != "mallory" || !errors.Is(more.Failed[0].Err, errBlocked) {
		t.Fatalf("CallingInvite's failures %+v, want mallory with Admit's error", more.Failed)
	}
	if n := asked.Load(); n != 4 {
		t.Fatalf("Admit asked %d times over three replicas, want 4: once per invitee, by the proposer only", n)
	}
	converge(t, ms)
	for _, m := range ms {
		info, ok := m.Call(res.CallID)
		if !ok {
			t.Fatalf("%s: no call %s", m.ID(), res.CallID)
		}
		var users []string
		for _, mb := range info.Members {
			users = append(users, mb.User)
		}
		if !slices.Equal(users, []string{"alice", "bob", "carol"}) {
			t.Fatalf("%s: members %v, want alice, bob, carol", m.ID(), users)
		}
	}
}

// The Sink runs on raft's apply goroutine with no lock of the Node's held:
// it may ask its Node for the applied index and query the replica, and
// the entry it is delivering counts as applied only once its events are
// out.
func TestSinkMayQueryItsNode(t *testing.T) {
	var node atomic.Pointer[replica.Node]
	var mu sync.Mutex
	var seen []uint64
	sink := events.SinkFunc(func(e events.Event) {
		n := node.Load()
		a := n.Applied()
		_, _ = n.Call(e.CallID)
		mu.Lock()
		seen = append(seen, a)
		mu.Unlock()
	})
	n := single(t, sink, 0) // no event before the commands below
	node.Store(n)
	done := make(chan error, 1)
	go func() {
		if err := n.Login("bob", "d"); err != nil {
			done <- err
			return
		}
		_, err := n.Invite("alice", []string{"bob"}, call.InviteConfig{})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Sink that asks its Node for Applied deadlocked the node")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("no event reached the Sink")
	}
	final := n.Applied()
	for _, a := range seen {
		if a >= final {
			t.Fatalf("the Sink saw Applied %d while delivering, final %d: the entry counted before its events were out", a, final)
		}
	}
}

// Do takes an entry as a follower forwards it, and fills in what the
// proposer decides over whatever the entry held: the time from its own
// clock, an Invite's ID (unless the entry names one) and Admit's answers.
// It refuses what only the node itself proposes (the passing of time).
func TestDoDecidesForTheProposer(t *testing.T) {
	clk := clock.NewManual(t0)
	o := call.Options{Admit: func(_, invitee string) error {
		if invitee == "mallory" {
			return errors.New("blocked")
		}
		return nil
	}}
	leader := leaderOf(t, inmemCluster(t, 1, clk, o))
	past := t0.Add(-time.Hour)
	res, err := leader.Do(call.Entry{Op: call.OpInvite, User: "alice", Users: []string{"bob", "mallory"}, At: past,
		CallID: "", HostID: true, Admit: []string{"", ""}})
	if err != nil {
		t.Fatal(err)
	}
	if !call.ValidID(res.Invite.CallID) || !res.Invite.Deadline.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("invite result %+v: want a made ID and the deadline from the node's clock", res.Invite)
	}
	if len(res.Invite.Failed) != 1 || res.Invite.Failed[0].User != "mallory" {
		t.Fatalf("failures %+v: want mallory, refused by this node's Admit, not the entry's answers", res.Invite.Failed)
	}
	if info, ok := leader.Call(res.Invite.CallID); !ok || !info.CreatedAt.Equal(t0) {
		t.Fatalf("call %+v (%v): want it created at the node's clock %v", info, ok, t0)
	}
	host, err := leader.Do(call.Entry{Op: call.OpInvite, User: "carol", Users: []string{"dave"}, CallID: "room-1"})
	if err != nil || host.Invite.CallID != "room-1" {
		t.Fatalf("host ID: %+v, %v", host.Invite, err)
	}
	if _, err := leader.Do(call.Entry{Op: call.OpAccept, User: "dave", CallID: "room-1", At: past, Admit: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	for _, op := range []call.Op{call.OpTick, call.OpResume, "nonsense"} {
		if _, err := leader.Do(call.Entry{Op: op, User: "alice", At: t0.Add(time.Hour)}); !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("Do(%s): %v, want ErrInvalidArgument", op, err)
		}
	}
	if _, ok := leader.NextDue(); !ok {
		t.Fatal("nothing due: the refused tick took effect")
	}
}
