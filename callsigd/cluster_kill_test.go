package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/callsigd/replica"
	"github.com/hashicorp/raft"
)

// clusterChildEnv, set for a process TestChildServer runs, makes it a
// cluster node with raft's test timeouts (runClusterChild).
const clusterChildEnv = "CALLSIGD_CHILD_CLUSTER"

// runClusterChild is the command as a cluster node's process runs it
// under test: as run, but with childRaft's timeouts, serving on the
// listeners it inherits (descriptor 3: HTTP, 4: raft), which its parent
// opened on the node's addresses.
func runClusterChild(args []string) int {
	f, err := parseFlags(args, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "callsigd: %v\n", err)
		return 2
	}
	var lns [2]net.Listener
	for i, name := range []string{"http", "raft"} {
		file := os.NewFile(uintptr(3+i), name)
		if lns[i], err = net.FileListener(file); err != nil {
			fmt.Fprintf(os.Stderr, "callsigd: inherited %s listener: %v\n", name, err)
			return 1
		}
		_ = file.Close()
	}
	f.listener = lns[0]
	f.transport = replica.NewTransport(streamLayer{lns[1]}, time.Second, io.Discard)
	f.raft = childRaft()
	f.raft.LogOutput, f.raft.LogLevel = os.Stderr, "WARN"
	ctx, stop := signalContext()
	defer stop()
	if err := serve(ctx, f, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "callsigd: %v\n", err)
		return 1
	}
	return 0
}

// streamLayer is raft's TCP stream layer over a listener already open.
type streamLayer struct{ net.Listener }

func (s streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

// procNode is one node of a cluster under test run as a process of its
// own (the test binary, as TestChildServer), over real loopback TCP, its
// bolt files in a temporary directory.
type procNode struct {
	t                  *testing.T
	id                 string
	raftAddr, httpAddr string
	dir, peers         string
	args               []string
	proc               *child   // nil while it is down
	dead               []*child // the processes killed, for their logs
}

func (n *procNode) base() string { return "http://" + n.httpAddr }

// startProcCluster starts n nodes with the flags args and waits until
// they agree on a leader.
func startProcCluster(t *testing.T, n int, args ...string) []*procNode {
	t.Helper()
	nodes := make([]*procNode, n)
	lns := make([][2]net.Listener, n)
	var peers []string
	for i := range nodes {
		for j := range 2 {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			lns[i][j] = ln
		}
		nodes[i] = &procNode{t: t, id: fmt.Sprint("n", i+1), httpAddr: lns[i][0].Addr().String(),
			raftAddr: lns[i][1].Addr().String(), dir: t.TempDir(), args: args}
		peers = append(peers, nodes[i].id+"="+nodes[i].raftAddr+"="+nodes[i].httpAddr)
	}
	for i, nd := range nodes {
		nd.peers = strings.Join(peers, ",")
		nd.start(lns[i])
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, nd := range nodes {
				for i, p := range nd.dead {
					t.Logf("%s's stderr, process %d (killed):\n%s", nd.id, i+1, p.log())
				}
				if nd.proc != nil {
					t.Logf("%s's stderr, process %d:\n%s", nd.id, len(nd.dead)+1, nd.proc.log())
				}
			}
		}
	})
	procLeader(t, nodes)
	return nodes
}

// start runs the node's process on lns (HTTP, raft), or on new
// listeners on its addresses when they are nil; the process has them
// only, once started: its death closes them.
func (n *procNode) start(lns [2]net.Listener) {
	n.t.Helper()
	var files []*os.File
	for i, addr := range []string{n.httpAddr, n.raftAddr} {
		if lns[i] == nil {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				n.t.Fatal(err)
			}
			lns[i] = ln
		}
		f, err := lns[i].(*net.TCPListener).File()
		if err != nil {
			n.t.Fatal(err)
		}
		_ = lns[i].Close()
		files = append(files, f)
	}
	n.proc = startProcess(n.t, `cluster node `+n.id+` of \d+, raft in .*`, []string{clusterChildEnv + "=1"}, files,
		append([]string{"-node", n.id, "-peers", n.peers, "-data", n.dir}, n.args...)...)
	for _, f := range files {
		_ = f.Close()
	}
}

// kill kills the node's process with SIGKILL and waits for its end.
func (n *procNode) kill() {
	n.t.Helper()
	if err := n.proc.cmd.Process.Kill(); err != nil {
		n.t.Fatal(err)
	}
	_ = n.proc.cmd.Wait()
	n.dead, n.proc = append(n.dead, n.proc), nil
}

func (n *procNode) state() clusterState { return stateOf(n.t, n.id, n.base()) }

// procLeader waits until every node of nodes that runs knows one same
// leader, which is among them, and returns it.
func procLeader(t *testing.T, nodes []*procNode) *procNode {
	t.Helper()
	var up []*procNode
	for _, n := range nodes {
		if n.proc != nil {
			up = append(up, n)
		}
	}
	return leaderOf(t, up)
}

func (n *procNode) nodeID() string { return n.id }

// eventually waits, within waitLimit, until f is true.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	if !within(f) {
		t.Fatalf("no %s within %v", what, waitLimit)
	}
}

// within waits, within waitLimit, until f is true, and reports whether
// it is.
func within(f func() bool) bool {
	for deadline := time.Now().Add(waitLimit); !f(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// query asks for call id through c: the call's members (nil for
// call_not_found), and whether the node answered at all. A rate_limited
// answer is asked again a second later.
func query(t *testing.T, c *crashClient, id string) (members []callMember, ok bool) {
	t.Helper()
	for {
		r := c.request("call", map[string]any{"call_id": id})
		switch r.code {
		case "":
			if r.result == nil {
				return nil, false
			}
			var info struct {
				Members []callMember `json:"members"`
			}
			if err := json.Unmarshal(r.result, &info); err != nil {
				t.Fatalf("call %s: %s", id, r.result)
			}
			return info.Members, true
		case "call_not_found":
			return nil, true
		case "rate_limited":
			time.Sleep(time.Second) // the connection regains a rate_limited a second: it is not closed
		default:
			t.Errorf("%s: call %s: %s", c.user, id, r.code)
			return nil, false
		}
	}
}

// callMember is what the test reads of a member in the call op's result.
type callMember struct {
	User     string    `json:"user"`
	State    string    `json:"state"`
	Deadline time.Time `json:"deadline"`
}

// toldCall is a call a client was told of, as the test knows it.
type toldCall struct {
	caller, callee *crashClient
	deadline       time.Time
	short          bool   // a short timeout: it times out across the failover
	outcome        string // "" ringing, "accepted", "cancelled", or "unsure" (an answer with no known outcome)
}

// checkConnections checks the events of every connection of clients: no
// (call, Seq) twice on one connection, and over the device's connections
// in order, each call's Seq increasing.
func checkConnections(t *testing.T, clients []*crashClient) {
	t.Helper()
	for _, c := range clients {
		c.mu.Lock()
		conns := slices.Clone(c.events)
		c.mu.Unlock()
		last := map[string]uint64{}
		for n, evs := range conns {
			seen := map[string]bool{}
			for _, ev := range evs {
				key := fmt.Sprint(ev.CallID, "/", ev.Seq)
				if seen[key] {
					t.Errorf("%s/%s connection %d: event %s (%s) twice", c.user, c.device, n, key, ev.Kind)
				}
				seen[key] = true
				if ev.Seq <= last[ev.CallID] {
					t.Errorf("%s/%s connection %d: call %s Seq %d (%s) after %d", c.user, c.device, n, ev.CallID, ev.Seq, ev.Kind, last[ev.CallID])
				}
				last[ev.CallID] = ev.Seq
			}
		}
	}
}

// kinds returns the kinds of the events of call id on connection n of c,
// by Seq.
func kinds(c *crashClient, n int, id string) map[uint64]string {
	got := map[uint64]string{}
	for _, ev := range c.eventsOf(n) {
		if ev.CallID == id {
			got[ev.Seq] = ev.Kind
		}
	}
	return got
}

// TestClusterSIGKILL runs three nodes as processes, with clients on
// each under load (calls ringing, some answered, a few with short
// timeouts), and kills the leader with SIGKILL. A follower's client's
// command succeeds within a bound; every call a client was told of is
// there, with its deadline; the short ones time out once, on the new
// leader's clock; no connection gets an event twice, and on connections
// that stayed up each call's story is whole, its Seq without a gap. The
// dead node's clients reconnect to the others and get their replays.
// Restarted on its directory, the node rejoins: it names the leader, a
// command through it works, and it answers as the others do for every
// call, those made while it was down included.
func TestClusterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the nodes as processes")
	}
	nodes := startProcCluster(t, 3, "-heartbeat", "10s")
	leader := procLeader(t, nodes)
	var survivors []*procNode
	for _, n := range nodes {
		if n != leader {
			survivors = append(survivors, n)
		}
	}
	home := map[*crashClient]*procNode{} // the node of a client's first connection
	dial := func(c *crashClient, n *procNode) {
		t.Helper()
		if err := c.dial(n.base()); err != nil {
			t.Fatal(err)
		}
		if home[c] == nil {
			home[c] = n
		}
	}
	// Six pairs across the nodes, the caller on one and the callee on the
	// next; two short pairs on the survivors; the probe on a survivor.
	const pairs = 6
	var callers, callees, clients []*crashClient
	for i := range pairs {
		callers = append(callers, &crashClient{t: t, user: fmt.Sprint("caller", i)})
		callees = append(callees, &crashClient{t: t, user: fmt.Sprint("callee", i)})
		dial(callers[i], nodes[i%3])
		dial(callees[i], nodes[(i+1)%3])
	}
	var shortCallers, shortCallees []*crashClient
	for i := range 2 {
		shortCallers = append(shortCallers, &crashClient{t: t, user: fmt.Sprint("short", i)})
		shortCallees = append(shortCallees, &crashClient{t: t, user: fmt.Sprint("shortee", i)})
		dial(shortCallers[i], survivors[i])
		dial(shortCallees[i], survivors[1-i])
	}
	probe := &crashClient{t: t, user: "probe"}
	dial(probe, survivors[0])
	clients = slices.Concat(callers, callees, shortCallers, shortCallees, []*crashClient{probe})

	l := &ledger{t: t, told: map[string]*toldCall{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range pairs {
		wg.Go(func() { l.load(callers[i], callees[i], stop, nil) })
	}
	// Calls ringing on every pair, then the short ones, timing out a
	// second or two later: after the leader's death.
	eventually(t, "calls ringing", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.told) >= 4*pairs
	})
	for k := range 2 {
		for i, c := range shortCallers {
			l.tell(c.do("invite", map[string]any{"invitees": []string{shortCallees[i].user}, "timeout_ms": 1000 + 500*k}),
				&toldCall{caller: c, callee: shortCallees[i], short: true})
		}
	}

	killed := time.Now()
	leader.kill()
	l.mu.Lock()
	for id, tc := range l.told {
		if tc.short && !tc.deadline.After(killed) {
			t.Errorf("short call %s fell due at %v, before the kill: this machine is too slow for the test", id, tc.deadline)
		}
	}
	l.mu.Unlock()
	// The first command after the kill, on a survivor.
	var ghost string
	for {
		r := probe.request("invite", map[string]any{"invitees": []string{"ghost"}, "timeout_ms": ringMS})
		if r.result != nil {
			ghost = l.tell(r.result, &toldCall{caller: probe})
			break
		}
		if r.code != "unavailable" && r.code != "uncertain" {
			t.Fatalf("probe invite after the kill: %q", r.code)
		}
		if time.Since(killed) > failoverBound {
			break
		}
	}
	took := time.Since(killed)
	t.Logf("leader %s killed: first command done after %v", leader.id, took)
	if took > failoverBound {
		t.Fatalf("no command done within %v of the leader's death", failoverBound)
	}
	time.Sleep(500 * time.Millisecond) // the load goes on across the failover
	close(stop)
	wg.Wait()

	// The dead node's clients reconnect, to either survivor.
	var moved []*crashClient
	for i, c := range clients {
		if home[c] == leader {
			dial(c, survivors[i%2])
			moved = append(moved, c)
		}
	}
	// Every call a client was told of: by an invite's reply, or by an
	// event (an invite whose reply was lost, uncertain, or never came).
	for i := range pairs {
		l.fromEvents(callers[i], callees[i])
	}
	told := l.told
	// The moved invitees get their replays: every call ringing for them.
	for _, c := range moved {
		for id, tc := range told {
			if tc.callee != c || tc.outcome != "" {
				continue
			}
			eventually(t, c.user+"'s replay of "+id, func() bool {
				for _, ev := range c.eventsOf(c.conn - 1) {
					if ev.CallID == id && ev.Kind == "InvitationReceived" && ev.ToDevice == "d" && ev.Deadline.Equal(tc.deadline) {
						return true
					}
				}
				return false
			})
		}
	}
	// The short calls time out once each, on the new leader's clock.
	for id, tc := range told {
		if !tc.short {
			continue
		}
		for _, w := range []struct {
			c    *crashClient
			kind string
		}{{tc.caller, "InviteesAnsweredTimeout"}, {tc.callee, "InvitationTimeout"}} {
			eventually(t, w.kind+" of "+id, func() bool { return slices.Contains(slices.Collect(maps.Values(kinds(w.c, 0, id))), w.kind) })
			for _, ev := range w.c.eventsOf(0) {
				if ev.CallID == id && ev.Kind == w.kind && ev.At.Before(tc.deadline) {
					t.Errorf("%s: %s of %s at %v, before its deadline %v", w.c.user, w.kind, id, ev.At, tc.deadline)
				}
			}
		}
	}
	// Every call told of is there with its deadline, or over as told.
	ringing := l.check(func(tc *toldCall) *crashClient { return tc.caller })
	// On connections that stayed up (both members' on survivors), each
	// call's story is whole: Seq 1, 2, … without a gap, and its last
	// event the one its outcome makes.
	whole := 0
	for id, tc := range told {
		if tc.callee == nil || home[tc.caller] == leader || home[tc.callee] == leader || tc.outcome == "unsure" {
			continue
		}
		want := map[string][]string{
			"":          {"InvitationCreated", "InvitationReceived"},
			"accepted":  {"InvitationCreated", "InvitationReceived", "InvitationAccepted", "UserStateChanged"},
			"cancelled": {"InvitationCreated", "InvitationReceived", "InvitationCancelled"},
		}[tc.outcome]
		if tc.short {
			want = []string{"InvitationCreated", "InvitationReceived", "InviteesAnsweredTimeout", "InvitationTimeout"}
		}
		var got []string
		var a, b map[uint64]string
		if !within(func() bool {
			a, b = kinds(tc.caller, 0, id), kinds(tc.callee, 0, id)
			got = got[:0]
			for seq := uint64(1); ; seq++ {
				ka, ina := a[seq]
				kb, inb := b[seq]
				if ina == inb { // neither, or (a bug) both
					break
				}
				got = append(got, ka+kb)
			}
			return len(got) == len(a)+len(b) && slices.Equal(got, want)
		}) {
			t.Errorf("call %s (%s, short %v): %s got %v, %s got %v; want %v by Seq from 1",
				id, tc.outcome, tc.short, tc.caller.user, a, tc.callee.user, b, want)
		}
		whole++
	}
	checkConnections(t, clients)
	for _, c := range clients {
		if home[c] != leader && c.conn != 1 {
			t.Errorf("%s, on a survivor, has %d connections", c.user, c.conn)
		}
	}
	t.Logf("%d calls told of: %d ringing, %d whole stories on connections that stayed up; %d clients moved; errors %v",
		len(told), ringing, whole, len(moved), l.codes)

	// The dead node restarts on its directory and catches up. Clients
	// connect to it at once, while it replays its log: a second device
	// of every caller.
	leader.start([2]net.Listener{})
	back := map[*crashClient]*crashClient{}
	for _, c := range slices.Concat(callers, shortCallers, []*crashClient{probe}) {
		back[c] = &crashClient{t: t, user: c.user, device: "r"}
		if err := back[c].dial(leader.base()); err != nil {
			t.Fatal(err)
		}
	}
	now := procLeader(t, nodes)
	for _, n := range nodes {
		if st := n.state(); st.Leader != now.id {
			t.Fatalf("%s names %q as the leader, not %s", n.id, st.Leader, now.id)
		}
	}
	if r := back[probe].request("invite", map[string]any{"invitees": []string{"ghost2"}}); r.result == nil {
		t.Fatalf("an invite through the restarted node: %q", r.code)
	}
	if members, _ := query(t, back[probe], ghost); len(members) != 2 || !members[1].Deadline.Equal(told[ghost].deadline) {
		t.Fatalf("the restarted node has call %s, made while it was down, as %+v", ghost, members)
	}
	// It answers as the survivors do for every call told of.
	for id, tc := range told {
		there, _ := query(t, tc.caller, id)
		here, _ := query(t, back[tc.caller], id)
		if a, b := fmt.Sprint(there), fmt.Sprint(here); a != b {
			t.Errorf("call %s: the restarted node has %+v, %s's node %+v", id, here, tc.caller.user, there)
		}
	}
	// Its log, replayed, is no news: a caller's device that logs in gets
	// no event of its calls (choice-caller-device), and nothing happened
	// to the calls told of since the restart.
	for _, r := range back {
		for _, ev := range r.eventsOf(0) {
			if told[ev.CallID] != nil {
				t.Errorf("%s/%s, connected to the restarted node: %s Seq %d of call %s, made before the restart",
					r.user, r.device, ev.Kind, ev.Seq, ev.CallID)
			}
		}
	}
}

// childRaft is raft's configuration in the nodes' processes: testRaft's
// (elections in well under a second), or with CALLSIGD_KILL_RAFT=default
// raft's defaults, as the command has them, to measure a failover as
// it runs.
func childRaft() *raft.Config {
	if os.Getenv("CALLSIGD_KILL_RAFT") == "default" {
		return raft.DefaultConfig()
	}
	return testRaft()
}

// ringMS is the timeout of the calls that ring, in milliseconds: the
// longest callsigd allows by default (call.Options.MaxTimeout), so that
// they ring throughout a test, however many rounds it makes.
const ringMS = 600000

// failoverBound bounds the time from the leader's death to a command
// done: ten election timeouts.
var failoverBound = 10 * childRaft().ElectionTimeout

// ledger is what the clients were told of the calls, under load.
type ledger struct {
	t     *testing.T
	mu    sync.Mutex
	told  map[string]*toldCall
	codes map[string]int // the cluster's error codes the load got, by code
}

// got counts a cluster's error code that the load got, or reports any
// other.
func (l *ledger) got(c *crashClient, op, code string) {
	if code != "uncertain" && code != "unavailable" {
		l.t.Errorf("%s %s: %s", c.user, op, code)
		return
	}
	l.mu.Lock()
	if l.codes == nil {
		l.codes = map[string]int{}
	}
	l.codes[code]++
	l.mu.Unlock()
}

// tell records the call an invite's result res tells of, and returns
// its ID.
func (l *ledger) tell(res json.RawMessage, tc *toldCall) string {
	var r struct {
		CallID   string    `json:"call_id"`
		Deadline time.Time `json:"deadline"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.CallID == "" {
		l.t.Errorf("invite result %s", res)
	}
	tc.deadline = r.Deadline
	l.mu.Lock()
	l.told[r.CallID] = tc
	l.mu.Unlock()
	return r.CallID
}

func (l *ledger) setOutcome(id, outcome string) {
	l.mu.Lock()
	l.told[id].outcome = outcome
	l.mu.Unlock()
}

// answer sends an accept or a cancel of call id through c and records
// what is known of its outcome; false: the connection ended.
func (l *ledger) answer(c *crashClient, op, id, outcome string) bool {
	l.setOutcome(id, "unsure")
	r := c.request(op, map[string]any{"call_id": id})
	switch {
	case r.result != nil:
		l.setOutcome(id, outcome)
	case r.code == "":
		return false
	default:
		l.got(c, op, r.code)
	}
	return true
}

// load has caller invite callee (with ringMS: the calls ring)
// ten times a second, within the connections' rate, until stop is closed
// or a connection ends; the callee accepts every third call, the caller
// cancels every third. pick, when not nil, chooses instead which of the
// three each call gets.
func (l *ledger) load(caller, callee *crashClient, stop chan struct{}, pick func() int) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		r := caller.request("invite", map[string]any{"invitees": []string{callee.user}, "timeout_ms": ringMS})
		if r.result == nil {
			if r.code == "" {
				return // the caller's node died
			}
			l.got(caller, "invite", r.code)
			continue
		}
		id := l.tell(r.result, &toldCall{caller: caller, callee: callee})
		what := n % 3
		if pick != nil {
			what = pick()
		}
		switch what {
		case 1:
			if !l.answer(callee, "accept", id, "accepted") {
				return
			}
		case 2:
			if !l.answer(caller, "cancel", id, "cancelled") {
				return
			}
		}
	}
}

// fromEvents records the calls of the pair caller, callee that their
// events told of (an invite whose reply was lost, uncertain, or never
// came), and checks that the events give the deadlines the invites told.
func (l *ledger) fromEvents(caller, callee *crashClient) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range []*crashClient{caller, callee} {
		for n := range c.conn {
			for _, ev := range c.eventsOf(n) {
				tc := l.told[ev.CallID]
				switch {
				case ev.Kind != "InvitationReceived" && ev.Kind != "InvitationCreated":
				case tc == nil:
					l.told[ev.CallID] = &toldCall{caller: caller, callee: callee, deadline: ev.Deadline}
				case !tc.deadline.Equal(ev.Deadline):
					l.t.Errorf("%s: call %s %s deadline %v, told %v", c.user, ev.CallID, ev.Kind, ev.Deadline, tc.deadline)
				}
			}
		}
	}
}

// check asks for every call told of, through the client ask names, and
// checks it is there, ringing until the deadline told, or over as told
// (a short one timed out, an accepted or cancelled one); a call whose
// answer's outcome is unsure, or whose deadline has passed, is either.
// It returns how many ring.
func (l *ledger) check(ask func(*toldCall) *crashClient) (ringing int) {
	t := l.t
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, tc := range l.told {
		asker, state := ask(tc), "Received"
		if tc.callee == nil {
			state = "Inviting" // an invitee never online
		}
		members, ok := query(t, asker, id)
		if !ok {
			t.Errorf("%s/%s: no answer for call %s", asker.user, asker.device, id)
			continue
		}
		switch {
		case tc.short || tc.outcome == "accepted" || tc.outcome == "cancelled":
			if members != nil {
				t.Errorf("call %s, over (%s, short %v), is there: %+v", id, tc.outcome, tc.short, members)
			}
		case (tc.outcome == "unsure" || !time.Now().Before(tc.deadline)) && members == nil:
		case len(members) != 2 || members[1].State != state || !members[1].Deadline.Equal(tc.deadline):
			t.Errorf("%s/%s: call %s (%s) is not ringing until %v: %+v", asker.user, asker.device, id, tc.outcome, tc.deadline, members)
		default:
			ringing++
		}
	}
	return ringing
}

// TestClusterKillRandom runs a seeded schedule of SIGKILLs and restarts
// of any node, the leader or not, while pairs of clients invite, accept
// and cancel. After each kill, once a leader is known, the survivors
// answer the same for every call a client was told of, and as told;
// the dead node's clients reconnect to a survivor; the node restarts on
// its directory and rejoins. CALLSIGD_KILL_ROUNDS sets the number of
// kills (default 2), CALLSIGD_KILL_SEED the seed (default 1).
func TestClusterKillRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the nodes as processes")
	}
	rounds, seed := 2, uint64(1)
	if v := os.Getenv("CALLSIGD_KILL_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CALLSIGD_KILL_ROUNDS=%q", v)
		}
		rounds = n
	}
	if v := os.Getenv("CALLSIGD_KILL_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CALLSIGD_KILL_SEED=%q", v)
		}
		seed = n
	}
	t.Logf("CALLSIGD_KILL_SEED=%d CALLSIGD_KILL_ROUNDS=%d", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 0))
	nodes := startProcCluster(t, 3, "-heartbeat", "10s")

	const pairs = 4
	var callers, callees []*crashClient
	at := map[*crashClient]*procNode{} // the node of each client's connection
	dial := func(c *crashClient, n *procNode) {
		t.Helper()
		if err := c.dial(n.base()); err != nil {
			t.Fatal(err)
		}
		at[c] = n
	}
	for i := range pairs {
		callers = append(callers, &crashClient{t: t, user: fmt.Sprint("caller", i)})
		callees = append(callees, &crashClient{t: t, user: fmt.Sprint("callee", i)})
		dial(callers[i], nodes[rng.IntN(3)])
		dial(callees[i], nodes[rng.IntN(3)])
	}
	clients := slices.Concat(callers, callees)
	l := &ledger{t: t, told: map[string]*toldCall{}}
	for round := range rounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range pairs {
			picks := rand.New(rand.NewPCG(seed, uint64(round*pairs+i+1)))
			wg.Go(func() { l.load(callers[i], callees[i], stop, func() int { return picks.IntN(3) }) })
		}
		time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond)
		victim := nodes[rng.IntN(3)]
		wasLeader := victim.state().Leader == victim.id
		victim.kill()
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond) // the load goes on
		var live []*procNode
		for _, n := range nodes {
			if n != victim {
				live = append(live, n)
			}
		}
		leader := procLeader(t, live)
		time.Sleep(300 * time.Millisecond) // commands on the new leader, if there is one
		close(stop)
		wg.Wait()
		t.Logf("round %d: %s killed (the leader: %v); %s leads", round, victim.id, wasLeader, leader.id)
		for _, c := range clients {
			if at[c] == victim {
				dial(c, live[rng.IntN(2)])
			}
		}
		for i := range pairs {
			l.fromEvents(callers[i], callees[i])
		}
		// Through a device of each caller on each survivor: the same
		// answer for every call, and the one told.
		ask := map[*procNode]map[string]*crashClient{}
		for _, n := range live {
			ask[n] = map[string]*crashClient{}
			for _, c := range callers {
				k := &crashClient{t: t, user: c.user, device: fmt.Sprint("k", round, n.id)}
				if err := k.dial(n.base()); err != nil {
					t.Fatal(err)
				}
				ask[n][c.user] = k
			}
		}
		var a, b string
		if !within(func() bool {
			a, b = answers(t, l, ask[live[0]]), answers(t, l, ask[live[1]])
			return a == b
		}) {
			t.Fatalf("round %d: the survivors differ:\n%s: %s\n%s: %s", round, live[0].id, a, live[1].id, b)
		}
		for _, n := range live {
			l.check(func(tc *toldCall) *crashClient { return ask[n][tc.caller.user] })
			for _, k := range ask[n] {
				_ = k.ws.CloseNow()
			}
		}
		victim.start([2]net.Listener{})
		procLeader(t, nodes)
	}
	checkConnections(t, clients)
	t.Logf("%d calls told of; errors %v", len(l.told), l.codes)
}

// answers returns what the call op answers for every call told of,
// through the caller's client in ask, as one string, by call ID.
func answers(t *testing.T, l *ledger, ask map[string]*crashClient) string {
	t.Helper()
	l.mu.Lock()
	ids := slices.Sorted(maps.Keys(l.told))
	told := maps.Clone(l.told)
	l.mu.Unlock()
	var b strings.Builder
	for _, id := range ids {
		members, ok := query(t, ask[told[id].caller.user], id)
		fmt.Fprintf(&b, "%s %v %+v\n", id, ok, members)
	}
	return b.String()
}
