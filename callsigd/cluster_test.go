package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/callsigd/internal/wstest"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/coder/websocket"
	"github.com/hashicorp/raft"
)

// The cluster's flags: -node and -peers go together and need -data; the
// node's -addr defaults to its HTTP address and -heartbeat to 30 s, and
// -heartbeat 0 is refused; -peers must be well formed; dev mode needs
// loopback raft addresses too.
func TestClusterFlags(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	peers := "n1=127.0.0.1:7001=127.0.0.1:8001, n2=127.0.0.1:7002=127.0.0.1:8002,n3=127.0.0.1:7003=127.0.0.1:8003"
	f, err := parseFlags([]string{"-node", "n2", "-peers", peers, "-data", dir}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != "127.0.0.1:8002" || f.heartbeat != clusterHeartbeat || len(f.peerList) != 3 ||
		f.self != (f.peerList[1]) || f.self.Raft != "127.0.0.1:7002" {
		t.Fatalf("parsed %+v", f)
	}
	f, err = parseFlags([]string{"-node", "n1", "-peers", peers, "-data", dir, "-addr", "localhost:9000", "-heartbeat", "5s"}, io.Discard)
	if err != nil || f.addr != "localhost:9000" || f.heartbeat != 5*time.Second {
		t.Fatalf("parsed %+v, %v", f, err)
	}
	remote := "a=10.0.0.1:7000=10.0.0.1:8000,b=10.0.0.2:7000=10.0.0.2:8000"
	for _, args := range [][]string{
		{"-node", "a", "-peers", remote, "-data", dir, "-secret-file", secret},
		{"-node", "a", "-peers", remote, "-data", dir, "-insecure-dev"},
		{"-node", "solo", "-peers", "solo=[::1]:7000=[::1]:8000", "-data", dir},
	} {
		if _, err := parseFlags(args, io.Discard); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	bad := map[string][]string{
		"-node without -peers":     {"-node", "n1", "-data", dir},
		"-peers without -node":     {"-peers", peers, "-data", dir},
		"-node without -data":      {"-node", "n1", "-peers", peers},
		"-node not among -peers":   {"-node", "n4", "-peers", peers, "-data", dir},
		"heartbeat 0 in a cluster": {"-node", "n1", "-peers", peers, "-data", dir, "-heartbeat", "0"},
		"not ID=RAFT=HTTP":         {"-node", "n1", "-peers", "n1=127.0.0.1:7001", "-data", dir},
		"too many parts":           {"-node", "n1", "-peers", "n1=127.0.0.1:7001=127.0.0.1:8001=x", "-data", dir},
		"an ID twice":              {"-node", "n1", "-peers", "n1=127.0.0.1:7001=127.0.0.1:8001,n1=127.0.0.1:7002=127.0.0.1:8002", "-data", dir},
		"an address twice":         {"-node", "n1", "-peers", "n1=127.0.0.1:7001=127.0.0.1:8001,n2=127.0.0.1:8001=127.0.0.1:8002", "-data", dir},
		"raft and HTTP alike":      {"-node", "n1", "-peers", "n1=127.0.0.1:7001=127.0.0.1:7001", "-data", dir},
		"no port":                  {"-node", "n1", "-peers", "n1=127.0.0.1=127.0.0.1:8001", "-data", dir},
		"port 0":                   {"-node", "n1", "-peers", "n1=127.0.0.1:0=127.0.0.1:8001", "-data", dir},
		"no ID":                    {"-node", "n1", "-peers", "=127.0.0.1:7001=127.0.0.1:8001", "-data", dir},
		"no node":                  {"-node", "n1", "-peers", " , ", "-data", dir},
		"dev mode, remote raft":    {"-node", "a", "-peers", remote, "-data", dir, "-addr", "127.0.0.1:8000"},
	}
	for name, args := range bad {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%s: %q parsed", name, args)
		}
	}
}

// testRaft is raft's configuration in tests: elections in well under a
// second, no log.
func testRaft() *raft.Config {
	c := raft.DefaultConfig()
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 300 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.LogOutput = io.Discard
	return c
}

// testNode is one callsigd of a cluster under test, run in-process by
// serve over real loopback TCP (raft and HTTP) with its bolt files in a
// temporary directory.
type testNode struct {
	t                  *testing.T
	id                 string
	raftAddr, httpAddr string
	dir                string
	peers              string
	args               []string // more flags
	flags              *flags   // as the running node has them

	stop   context.CancelFunc
	exit   chan error
	stderr *lines
}

// base returns the node's HTTP URL.
func (n *testNode) base() string { return "http://" + n.httpAddr }

// startCluster starts n nodes with the flags args, and waits until each
// knows the same leader.
func startCluster(t *testing.T, n int, args ...string) []*testNode {
	t.Helper()
	nodes := make([]*testNode, n)
	var lns []net.Listener
	var trans []raft.Transport
	var peers []string
	for i := range nodes {
		tr, err := replica.NewTCPTransport("127.0.0.1:0", nil, time.Second, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = &testNode{t: t, id: fmt.Sprint("n", i+1), raftAddr: string(tr.LocalAddr()), httpAddr: ln.Addr().String(),
			dir: t.TempDir(), args: args}
		lns, trans = append(lns, ln), append(trans, tr)
		peers = append(peers, nodes[i].id+"="+nodes[i].raftAddr+"="+nodes[i].httpAddr)
	}
	for i, nd := range nodes {
		nd.peers = strings.Join(peers, ",")
		nd.start(lns[i], trans[i])
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.shutdown()
		}
		if t.Failed() {
			for _, nd := range nodes {
				t.Logf("%s's stderr:\n%s", nd.id, nd.stderr)
			}
		}
	})
	leaderOf(t, nodes)
	return nodes
}

// start runs the node on ln and tr (nil: new ones on its addresses) and
// waits for its first line.
func (n *testNode) start(ln net.Listener, tr raft.Transport) {
	n.t.Helper()
	var err error
	if ln == nil {
		if ln, err = net.Listen("tcp", n.httpAddr); err != nil {
			n.t.Fatal(err)
		}
	}
	if tr == nil {
		if tr, err = replica.NewTCPTransport(n.raftAddr, nil, time.Second, io.Discard); err != nil {
			n.t.Fatal(err)
		}
	}
	f, err := parseFlags(append([]string{"-node", n.id, "-peers", n.peers, "-data", n.dir}, n.args...), io.Discard)
	if err != nil {
		n.t.Fatal(err)
	}
	f.listener, f.transport, f.raft, f.wait = ln, tr, testRaft(), 3*time.Second
	n.flags = f
	ctx, stop := context.WithCancel(context.Background())
	n.stop, n.exit, n.stderr = stop, make(chan error, 1), &lines{first: make(chan string, 1)}
	f.raft.LogOutput, f.raft.LogLevel = n.stderr, "WARN"
	go func() { n.exit <- serve(ctx, f, n.stderr) }()
	select {
	case line := <-n.stderr.first:
		if want := "callsigd: serving " + n.base() + " (dev mode, cluster node " + n.id; !strings.HasPrefix(line, want) {
			n.t.Fatalf("first line %q, want %q…", line, want)
		}
	case err := <-n.exit:
		n.t.Fatalf("%s: %v", n.id, err)
	case <-time.After(waitLimit):
		n.t.Fatalf("%s: no first line", n.id)
	}
}

// shutdown stops the node, as SIGTERM does, and waits for it; a node
// stopped already is left alone.
func (n *testNode) shutdown() {
	n.t.Helper()
	if n.stop == nil {
		return
	}
	n.stop()
	n.stop = nil
	select {
	case err := <-n.exit:
		if err != nil {
			n.t.Errorf("%s stopped with %v; stderr:\n%s", n.id, err, n.stderr)
		}
	case <-time.After(2 * waitLimit):
		n.t.Errorf("%s: still running; stderr:\n%s", n.id, n.stderr)
	}
}

// stopAsDead stops the node without handing its leadership over, as a
// node that dies leaves: the others elect a leader when they hear from
// it no more. (Its devices stay online in the cluster either way.)
func (n *testNode) stopAsDead() {
	n.t.Helper()
	n.flags.noHandover = true // read once the stop is seen (serve's ctx)
	n.shutdown()
}

// waitLimit bounds every wait of these tests.
const waitLimit = 10 * time.Second

// clusterState is GET /v1/cluster's body.
type clusterState struct {
	Node   string `json:"node"`
	Leader string `json:"leader"`
	Peers  []struct {
		ID   string `json:"id"`
		Raft string `json:"raft"`
		HTTP string `json:"http"`
	} `json:"peers"`
}

func (n *testNode) state() clusterState { return stateOf(n.t, n.id, n.base()) }

// stateOf reads the GET /v1/cluster of node id, served at base.
func stateOf(t *testing.T, id, base string) clusterState {
	t.Helper()
	var st clusterState
	if code, body := wstest.Get(t, base+"/v1/cluster"); code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("%s /v1/cluster: %d %s", id, code, body)
	}
	return st
}

// leaderOf waits until every node of nodes knows one same leader, which
// is among them, and returns it.
func leaderOf[N clusterNode](t *testing.T, nodes []N) N {
	t.Helper()
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		leader := nodes[0].state().Leader
		same := leader != ""
		for _, n := range nodes[1:] {
			same = same && n.state().Leader == leader
		}
		for _, n := range nodes {
			if same && n.nodeID() == leader {
				return n
			}
		}
	}
	t.Fatal("the nodes agree on no leader")
	var none N
	return none
}

// clusterNode is a node of a test cluster, in-process (testNode) or a
// process of its own (procNode), as leaderOf asks after it.
type clusterNode interface {
	nodeID() string
	state() clusterState // its GET /v1/cluster
}

func (n *testNode) nodeID() string { return n.id }

// wsClient is a WebSocket client of one node, with the results and
// events it receives as maps, as the cluster tests read them.
type wsClient struct{ *wstest.Client }

// dial connects user/device to n with a dev token minted by n, and waits
// for the hello.
func dial(t *testing.T, n *testNode, user, device string) *wsClient {
	t.Helper()
	c, err := tryDial(t, n, user, device)
	if err != nil {
		t.Fatal(err)
	}
	c.Hello()
	return c
}

func tryDial(t *testing.T, n *testNode, user, device string) (*wsClient, error) {
	t.Helper()
	resp, err := http.Post(n.base()+"/v1/dev/token", "application/json", strings.NewReader(`{"user":"`+user+`","device":"`+device+`"}`))
	if err != nil {
		return nil, err
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	c, err := wstest.Dial(t, "ws://"+n.httpAddr+"/v1/ws?token="+tok.Token, user, device)
	if err != nil {
		return nil, err
	}
	return &wsClient{c}, nil
}

// waitEnd waits until the connection ends and returns its close code.
func (c *wsClient) waitEnd() websocket.StatusCode {
	c.T.Helper()
	return websocket.CloseStatus(c.WaitEnd())
}

// do sends a request and waits for its reply: the result, or the error's
// code.
func (c *wsClient) do(op string, args map[string]any) (map[string]any, string) {
	c.T.Helper()
	res, code := c.Do(op, args)
	if code != "" {
		return nil, code
	}
	var m map[string]any
	if err := json.Unmarshal(res, &m); err != nil {
		c.T.Fatalf("%s result %s: %v", op, res, err)
	}
	return m, ""
}

// ok is do for a request that must succeed.
func (c *wsClient) ok(op string, args map[string]any) map[string]any {
	c.T.Helper()
	var m map[string]any
	c.OK(op, args, &m)
	return m
}

// eventMaps returns the event frames received so far, each as a map.
func (c *wsClient) eventMaps() []map[string]any {
	frames := c.EventFrames()
	evs := make([]map[string]any, len(frames))
	for i, b := range frames {
		_ = json.Unmarshal(b, &evs[i])
	}
	return evs
}

// event waits for an event of kind for callID and returns it.
func (c *wsClient) event(kind, callID string) map[string]any {
	c.T.Helper()
	var ev map[string]any
	c.WaitFor(kind+" of "+callID, func() bool {
		for _, e := range c.eventMaps() {
			if e["kind"] == kind && e["call_id"] == callID {
				ev = e
				return true
			}
		}
		return false
	})
	return ev
}

// count returns how many events of kind for callID c has received.
func (c *wsClient) count(kind, callID string) int {
	n := 0
	for _, e := range c.eventMaps() {
		if e["kind"] == kind && e["call_id"] == callID {
			n++
		}
	}
	return n
}

// followers returns the nodes other than leader.
func followers(nodes []*testNode, leader *testNode) []*testNode {
	var fs []*testNode
	for _, n := range nodes {
		if n != leader {
			fs = append(fs, n)
		}
	}
	return fs
}

// TestClusterEndToEnd: three nodes, clients on each. An invitation from
// a follower's client to a user on another follower reaches him, his
// accept reaches the caller; a call made on the leader reaches a
// follower's client; errors keep their codes through the forwarding; a
// follower's client reads its own commands' effects (the call query);
// an offline invitee is pushed once, by one node. /healthz and
// /v1/cluster say who leads.
func TestClusterEndToEnd(t *testing.T) {
	var hookMu sync.Mutex
	var hooked []string
	hook := newHook(t, func(to, kind string) {
		hookMu.Lock()
		hooked = append(hooked, to+" "+kind)
		hookMu.Unlock()
	})
	nodes := startCluster(t, 3, "-heartbeat", "1m", "-push-webhook", hook)
	leader := leaderOf(t, nodes)
	fs := followers(nodes, leader)
	for _, n := range nodes {
		st := n.state()
		if st.Node != n.id || st.Leader != leader.id || len(st.Peers) != 3 || st.Peers[2].HTTP != nodes[2].httpAddr ||
			st.Peers[0].ID != "n1" || st.Peers[1].Raft != nodes[1].raftAddr {
			t.Fatalf("%s /v1/cluster: %+v", n.id, st)
		}
		if code, body := wstest.Get(t, n.base()+"/healthz"); code != http.StatusOK {
			t.Fatalf("%s /healthz: %d %s", n.id, code, body)
		}
	}

	alice := dial(t, fs[0], "alice", "web")
	bob := dial(t, fs[1], "bob", "phone")
	carol := dial(t, leader, "carol", "web")

	res := alice.ok("invite", map[string]any{"invitees": []string{"bob"}, "timeout_ms": 60000, "data": "hi"})
	id, _ := res["call_id"].(string)
	if id == "" || res["timeout_ms"] != float64(60000) {
		t.Fatalf("invite result %v", res)
	}
	// Read your writes: the follower answered once its replica had the call.
	if info := alice.ok("call", map[string]any{"call_id": id}); info["caller"] != "alice" {
		t.Fatalf("call %v", info)
	}
	if ev := bob.event("InvitationReceived", id); ev["caller"] != "alice" || ev["data"] != "hi" {
		t.Fatalf("bob got %v", ev)
	}
	bob.ok("accept", map[string]any{"call_id": id, "data": "yes"})
	if ev := alice.event("InvitationAccepted", id); ev["from"] != "bob" || ev["data"] != "yes" || ev["device"] != "phone" {
		t.Fatalf("alice got %v", ev)
	}
	// An error keeps its code through the forwarding.
	if _, code := alice.do("invite", map[string]any{"invitees": []string{"alice"}}); code != "self_invite" {
		t.Fatalf("a self-invite: %q", code)
	}
	if _, code := alice.do("cancel", map[string]any{"call_id": "nope"}); code != "call_not_found" {
		t.Fatalf("a cancel of no call: %q", code)
	}

	// A call made on the leader reaches a follower's client.
	res = carol.ok("invite", map[string]any{"invitees": []string{"alice", "dave"}})
	id2, _ := res["call_id"].(string)
	alice.event("InvitationReceived", id2)
	alice.ok("reject", map[string]any{"call_id": id2})
	if ev := carol.event("InvitationRejected", id2); ev["from"] != "alice" {
		t.Fatalf("carol got %v", ev)
	}
	// Dave, offline, is pushed his invitation by one node only: the leader.
	deadline := time.Now().Add(waitLimit)
	for {
		hookMu.Lock()
		got := append([]string(nil), hooked...)
		hookMu.Unlock()
		if len(got) > 0 {
			if len(got) != 1 || got[0] != "dave InvitationReceived" {
				t.Fatalf("pushes %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no push")
		}
		time.Sleep(10 * time.Millisecond)
	}
	carol.ok("cancel", map[string]any{"call_id": id2})
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(10 * time.Millisecond) {
		hookMu.Lock()
		got := append([]string(nil), hooked...)
		hookMu.Unlock()
		if len(got) >= 2 {
			if len(got) != 2 || got[1] != "dave InvitationCancelled" {
				t.Fatalf("pushes %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no second push")
		}
	}
	if n := alice.count("InvitationReceived", id2) + bob.count("InvitationReceived", id); n != 2 {
		t.Fatalf("%d invitations received, want one each", n)
	}
}

// newHook serves a push webhook until the test ends, telling got of
// each push, and returns its URL.
func newHook(t *testing.T, got func(to, kind string)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			To    string `json:"to"`
			Event struct {
				Kind string `json:"kind"`
			} `json:"event"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		got(body.To, body.Event.Kind)
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + ln.Addr().String()
}

// TestClusterUnavailable: with two nodes of three down, the last one has
// no leader: /healthz answers 503, a command and the queries get
// unavailable, a new connection is refused (1013) — and nothing was
// done: once a stopped node is back (it rejoins by itself, from its
// files), the command has left no call.
func TestClusterUnavailable(t *testing.T) {
	nodes := startCluster(t, 3, "-heartbeat", "1m")
	leader := leaderOf(t, nodes)
	last := followers(nodes, leader)[0]
	alice := dial(t, last, "alice", "web")
	// The other follower first, then the leader, neither handing over:
	// once the leader is gone no node can gather a majority, and the
	// last one never leads (a 503 seen while it stood for election and
	// won would say nothing).
	followers(nodes, leader)[1].stopAsDead()
	leader.stopAsDead()
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
		code, _ := wstest.Get(t, last.base()+"/healthz")
		if code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %d without a majority", code)
		}
	}
	if _, code := alice.do("invite", map[string]any{"invitees": []string{"bob"}}); code != "unavailable" {
		t.Fatalf("invite without a majority: %q", code)
	}
	// The queries wait for a leader as the commands do: no answer from a
	// replica that may be stale (call_not_found for a call the cluster
	// may have).
	for _, op := range []string{"call", "history"} {
		if _, code := alice.do(op, map[string]any{"call_id": "call-1"}); code != "unavailable" {
			t.Fatalf("%s without a majority: %q", op, code)
		}
	}
	if c, err := tryDial(t, last, "bob", "web"); err == nil {
		if code := c.waitEnd(); code != websocket.StatusTryAgainLater {
			t.Fatalf("a connection without a majority ended with %v", code)
		}
	}

	back := leader
	back.start(nil, nil)
	leaderOf(t, []*testNode{last, back})
	if code, _ := wstest.Get(t, last.base()+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d with a leader again", code)
	}
	res := alice.ok("invite", map[string]any{"invitees": []string{"carol"}})
	if res["call_id"] == "" {
		t.Fatal(res)
	}
	if h := alice.ok("history", nil); len(h["calls"].([]any)) != 0 {
		t.Fatalf("history %v", h)
	}
	if got := metric(t, last, "callsigd_calls_live"); got != 1 {
		t.Fatalf("%v calls live, want carol's only", got)
	}
}

// metric returns the value of the /metrics line of node n that starts
// with prefix (a name and its labels), or -1.
func metric(t *testing.T, n *testNode, prefix string) float64 {
	t.Helper()
	_, body := wstest.Get(t, n.base()+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return -1
}

// keepAlive sends a heartbeat from each of clients every 300 ms until
// the test ends; a client whose connection ended is passed over.
func keepAlive(t *testing.T, clients ...*wsClient) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			for _, c := range clients {
				_ = c.WS.Write(context.Background(), websocket.MessageText, []byte(`{"type":"request","id":"hb","op":"heartbeat"}`))
			}
		}
	}()
}

// TestClusterDeadNode: the devices of a node that dies stay online in
// the cluster until their heartbeat lapses (H5, on the new leader's
// clock), which gives them time to reconnect to another node: dave, an
// invitee, does so and gets his invitation again (Replay), and can
// answer it; alice, a caller, does not, and once her timeout has passed
// G7 cancels her unanswered call. The node that dies is the leader.
func TestClusterDeadNode(t *testing.T) {
	nodes := startCluster(t, 3, "-heartbeat", "3s")
	leader := leaderOf(t, nodes)
	fs := followers(nodes, leader)
	alice := dial(t, leader, "alice", "web")
	dave := dial(t, leader, "dave", "web")
	carol := dial(t, fs[0], "carol", "web")
	bob := dial(t, fs[1], "bob", "web")
	keepAlive(t, alice, dave, carol, bob)
	id1, _ := alice.ok("invite", map[string]any{"invitees": []string{"bob"}, "timeout_ms": 60000})["call_id"].(string)
	bob.event("InvitationReceived", id1)
	id2, _ := carol.ok("invite", map[string]any{"invitees": []string{"dave"}, "timeout_ms": 60000})["call_id"].(string)
	dave.event("InvitationReceived", id2)

	stopped := time.Now()
	leader.stopAsDead()
	for _, c := range []*wsClient{alice, dave} {
		if code := c.waitEnd(); code != websocket.StatusGoingAway {
			t.Fatalf("%s's connection ended with %v", c.User, code)
		}
	}
	dave2 := dial(t, fs[1], "dave", "web")
	keepAlive(t, dave2)
	// A replay for his device; or, should a stall of this machine have
	// let his heartbeat lapse meanwhile, a fresh login's delivery.
	if ev := dave2.event("InvitationReceived", id2); ev["caller"] != "carol" {
		t.Fatalf("dave's replay %v", ev)
	}
	ev := bob.event("InvitationCancelled", id1)
	if ev["reason"] != "CallerOffline" {
		t.Fatalf("bob got %v", ev)
	}
	// Not at the stop: a heartbeat timeout after alice's last heartbeat,
	// sent at most 300 ms before it (a second is left for stalls).
	if d := time.Since(stopped); d < time.Second {
		t.Fatalf("alice's call cancelled %v after her node stopped, before her heartbeat could lapse", d)
	}
	dave2.ok("accept", map[string]any{"call_id": id2})
	carol.event("InvitationAccepted", id2)
}

// TestClusterTakeover: a device that connects to another node while its
// connection to the first is open takes the device over: the first node
// closes its connection with 4000 (replaced) without logging the device
// out, and the new connection gets the device's replays.
func TestClusterTakeover(t *testing.T) {
	nodes := startCluster(t, 3, "-heartbeat", "1m")
	leader := leaderOf(t, nodes)
	fs := followers(nodes, leader)
	alice := dial(t, fs[0], "alice", "web")
	bob := dial(t, fs[1], "bob", "phone")
	id, _ := alice.ok("invite", map[string]any{"invitees": []string{"bob"}})["call_id"].(string)
	bob.event("InvitationReceived", id)

	bob2 := dial(t, leader, "bob", "phone")
	if code := bob.waitEnd(); code != 4000 {
		t.Fatalf("bob's first connection ended with %v", code)
	}
	if ev := bob2.event("InvitationReceived", id); ev["to_device"] != "phone" {
		t.Fatalf("bob's replay %v", ev)
	}
	alice2 := dial(t, leader, "alice", "web")
	if code := alice.waitEnd(); code != 4000 {
		t.Fatalf("alice's first connection ended with %v", code)
	}
	// Once the released connections' handlers have returned, their
	// devices are still online: alice's call was not cancelled (G7).
	for _, n := range fs {
		for deadline := time.Now().Add(waitLimit); metric(t, n, "callsigd_connections") != 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s still has connections", n.id)
			}
		}
	}
	if info := alice2.ok("call", map[string]any{"call_id": id}); info["caller"] != "alice" {
		t.Fatalf("call %v", info)
	}
	bob2.ok("accept", map[string]any{"call_id": id})
	alice2.event("InvitationAccepted", id)
}

// TestClusterConcurrentTakeover: connections of one device opened at
// once on every node, whose claims cross, leave exactly one open across
// the cluster: every other is closed with 4000 (replaced), and the
// device stays online through the survivor, which gets its events.
func TestClusterConcurrentTakeover(t *testing.T) {
	nodes := startCluster(t, 3, "-heartbeat", "1m")
	alice := dial(t, nodes[0], "alice", "web")
	const n = 12
	bobs := make([]*wsClient, n)
	var wg sync.WaitGroup
	for i := range bobs {
		wg.Go(func() {
			c, err := tryDial(t, nodes[i%len(nodes)], "bob", "phone")
			if err != nil {
				t.Error(err)
				return
			}
			bobs[i] = c
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	open := func() (left []*wsClient) {
		for _, c := range bobs {
			if c.Ended() == nil {
				left = append(left, c)
			}
		}
		return left
	}
	connections := func() (sum float64) {
		for _, nd := range nodes {
			sum += metric(t, nd, "callsigd_connections")
		}
		return sum
	}
	deadline := time.Now().Add(waitLimit)
	for len(open()) != 1 || connections() != 2 { // bob's and alice's
		if time.Now().After(deadline) {
			t.Fatalf("%d of bob's connections open, %v connections on the nodes", len(open()), connections())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, c := range bobs {
		if err := c.Ended(); err != nil && websocket.CloseStatus(err) != 4000 {
			t.Fatalf("a connection of bob's ended with %v", err)
		}
	}
	bob := open()[0]
	bob.Hello()
	bob.ok("heartbeat", nil)
	id, _ := alice.ok("invite", map[string]any{"invitees": []string{"bob"}})["call_id"].(string)
	bob.event("InvitationReceived", id)
}

// TestClusterHandover: a leader that stops hands its leadership over
// first, so that the others lead again at once, not an election timeout
// (300 ms here) after they last heard from it; a follower's client's
// command right after the stop succeeds.
func TestClusterHandover(t *testing.T) {
	nodes := startCluster(t, 3, "-heartbeat", "1m")
	leader := leaderOf(t, nodes)
	rest := followers(nodes, leader)
	alice := dial(t, rest[0], "alice", "web")
	leader.shutdown()
	stopped := time.Now()
	for _, n := range rest {
		for st := n.state(); st.Leader == "" || st.Leader == leader.id; st = n.state() {
			if time.Since(stopped) > 150*time.Millisecond {
				t.Fatalf("%s: the leader is %q %v after the old one stopped", n.id, st.Leader, time.Since(stopped))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	alice.ok("invite", map[string]any{"invitees": []string{"bob"}})
}
