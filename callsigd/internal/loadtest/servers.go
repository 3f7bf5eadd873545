package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/callsigd/internal/cluster"
	"github.com/callsig/callsig/callsigd/internal/durable"
	"github.com/callsig/callsig/callsigd/internal/server"
	"github.com/coder/websocket"
	"github.com/hashicorp/raft"
	"golang.org/x/time/rate"
)

// target is a server the clients can connect to.
type target struct {
	name  string
	url   func(user string) (string, error) // the WebSocket URL of a client for user
	close func()
}

// startCallsigd starts a callsigd server in this process on a loopback
// port, in dev mode, with the per-connection request rate limit lifted
// when unlimited is set (the limit is a policy against hostile clients,
// not a cost: 20 requests a second would cap a pair at 20 lifecycles a
// second). With data "" it keeps everything in memory; else it is
// callsigd -data with that directory and -checkpoint-entries every: the
// same durable.Store as the daemon's, with its group commit, its
// checkpoints every second and KeepPresence.
func startCallsigd(unlimited bool, data string, every uint64) (*target, error) {
	a := auth.NewDev(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := server.Config{
		Auth:   a,
		Dev:    true,
		Logger: log,
	}
	if unlimited {
		cfg.Limits = server.Limits{Rate: rate.Inf, Burst: 1}
	}
	name := "callsigd"
	var st *durable.Store
	if data != "" {
		name = "callsigd -data"
		st = durable.New(data, every, log)
		cfg.NewRegistry = st.NewRegistry
		cfg.KeepPresence = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv, err := server.New(cfg)
	if err != nil {
		_ = ln.Close()
		if st != nil {
			_ = st.Close()
		}
		return nil, err
	}
	ckCtx, ckStop := context.WithCancel(context.Background())
	ckDone := make(chan struct{})
	go func() {
		defer close(ckDone)
		if st != nil {
			st.Checkpoints(ckCtx)
		}
	}()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	base := "ws://" + ln.Addr().String() + "/v1/ws?token="
	return &target{
		name: name,
		url: func(user string) (string, error) {
			tok, err := a.Mint(user, "load", time.Hour)
			return base + tok, err
		},
		close: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = hs.Shutdown(ctx)
			_ = srv.Shutdown(ctx)
			_ = hs.Close()
			ckStop()
			<-ckDone
			if st != nil {
				_ = st.Close()
			}
		},
	}, nil
}

// remoteCallsigd is a callsigd server at addr (host:port) in dev mode:
// tokens come from its /v1/dev/token.
func remoteCallsigd(addr string) *target {
	return &target{
		name: "callsigd",
		url: func(user string) (string, error) {
			body, _ := json.Marshal(map[string]string{"user": user, "device": "load"})
			resp, err := http.Post("http://"+addr+"/v1/dev/token", "application/json", bytes.NewReader(body))
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			var tok struct {
				Token string `json:"token"`
			}
			if resp.StatusCode != http.StatusOK {
				return "", fmt.Errorf("POST /v1/dev/token: %s (is the server in dev mode?)", resp.Status)
			}
			if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
				return "", err
			}
			return "ws://" + addr + "/v1/ws?token=" + url.QueryEscape(tok.Token), nil
		},
		close: func() {},
	}
}

// canned are the frames the echo server writes: callsigd's own, from a
// calibration lifecycle (see calibrate).
type canned struct {
	hello                []byte
	inviteToA, inviteToB [][]byte // after A's invite: its reply and InvitationCreated; InvitationReceived
	acceptToB, acceptToA [][]byte // after B's accept: its reply and UserStateChanged; InvitationAccepted
	rejectToB, rejectToA [][]byte // the same after a reject
}

// startEcho starts the bare relay on a loopback port. A client for user
// u<i> (see userName) is connection i; its peer is i^1. It writes the
// hello, then answers every frame with the canned frames, from the
// reading goroutine, without decoding anything.
func startEcho(fr *canned) (*target, error) {
	e := &echo{fr: fr, conns: map[int]*websocket.Conn{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	base := "ws://" + ln.Addr().String() + "/?user="
	return &target{
		name: "echo",
		url:  func(user string) (string, error) { return base + user, nil },
		close: func() {
			_ = hs.Close()
			e.mu.Lock()
			for _, c := range e.conns {
				_ = c.CloseNow()
			}
			e.mu.Unlock()
		},
	}, nil
}

type echo struct {
	fr    *canned
	mu    sync.RWMutex
	conns map[int]*websocket.Conn // by client index
}

var reject = []byte(`"reject"`)

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, err := userIndex(r.URL.Query().Get("user"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(server.MaxMessage)
	e.mu.Lock()
	e.conns[i] = ws
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.conns[i] == ws {
			delete(e.conns, i)
		}
		e.mu.Unlock()
		_ = ws.CloseNow()
	}()
	ctx := context.Background()
	if ws.Write(ctx, websocket.MessageText, e.fr.hello) != nil {
		return
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		e.mu.RLock()
		peer := e.conns[i^1]
		e.mu.RUnlock()
		toSelf, toPeer := e.fr.inviteToA, e.fr.inviteToB
		if i%2 == 1 {
			toSelf, toPeer = e.fr.acceptToB, e.fr.acceptToA
			if bytes.Contains(b, reject) {
				toSelf, toPeer = e.fr.rejectToB, e.fr.rejectToA
			}
		}
		for _, f := range toSelf {
			if ws.Write(ctx, websocket.MessageText, f) != nil {
				return
			}
		}
		if peer != nil {
			for _, f := range toPeer {
				_ = peer.Write(ctx, websocket.MessageText, f)
			}
		}
	}
}

// userName is the user of client i: fixed width, so that every
// lifecycle's frames have the calibration's sizes.
func userName(i int) string { return fmt.Sprintf("u%06d", i) }

func userIndex(user string) (int, error) {
	s, ok := strings.CutPrefix(user, "u")
	if !ok {
		return 0, errors.New("user must be u<index>")
	}
	return strconv.Atoi(s)
}

// clusterNodes is the size of the cluster startCluster starts.
const clusterNodes = 3

// clusterHeartbeat is the cluster's heartbeat timeout (H5). The daemon
// requires one in a cluster (a node that dies must not leave its devices
// online for good), so each login arms a deadline as it does there; the
// clients send no heartbeats, on any server, so the timeout is one that
// no run reaches.
const clusterHeartbeat = time.Hour

// clusterTarget is a cluster of callsigd nodes in this process.
type clusterTarget struct {
	*target
	nodes []*cluster.Cluster
}

// state returns the leader every node knows ("" if they do not all know
// the same one) and the highest term any node is in.
func (c *clusterTarget) state() (leader string, term uint64) {
	for i, cl := range c.nodes {
		n := cl.Node()
		if l := n.Leader(); i == 0 {
			leader = l
		} else if l != leader {
			leader = ""
		}
		term = max(term, n.Raft().CurrentTerm())
	}
	return leader, term
}

// startCluster starts clusterNodes callsigd nodes as one cluster in this
// process, each set up as the daemon sets up a node of -node and -peers
// in dev mode (cluster.NewNode, Configure; raft's default
// configuration, -checkpoint-entries every): its raft transport on TCP
// on a loopback port, its bolt log and snapshots in its own directory
// under data, its HTTP server (its clients' WebSockets, and the internal
// endpoints the nodes call) on another. The request rate limit is lifted
// when unlimited is set, as in startCallsigd. The client of user u<i>
// (see userName) connects to node i mod clusterNodes, so each node has a
// third of the clients, and the commands of the two thirds not on the
// leader are forwarded to it. It returns once every node knows the same
// leader.
func startCluster(unlimited bool, data string, every uint64) (*clusterTarget, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var (
		peers []cluster.Peer
		lns   []net.Listener
		trans []raft.Transport
	)
	undo := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
		for _, t := range trans {
			_ = t.(io.Closer).Close()
		}
	}
	for i := range clusterNodes {
		tr, err := cluster.NewTransport("127.0.0.1:0", io.Discard)
		if err != nil {
			undo()
			return nil, err
		}
		trans = append(trans, tr)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			undo()
			return nil, err
		}
		lns = append(lns, ln)
		peers = append(peers, cluster.Peer{ID: fmt.Sprint("n", i+1), Raft: string(tr.LocalAddr()), HTTP: ln.Addr().String()})
	}
	a, err := auth.New(cluster.DevKey("tokens", peers), nil)
	if err != nil {
		undo()
		return nil, err
	}
	type node struct {
		cl  *cluster.Cluster
		srv *server.Server
		hs  *http.Server
	}
	var nodes []*node
	stop := func() {
		// The logouts of the connections that closed last may still be
		// going to the leader: they settle first, while every node
		// still serves. Then every server, then every raft node. The
		// load is over, so the HTTP servers are closed, not shut down:
		// Shutdown would wait for the keep-alive connections between
		// the nodes, which it takes for new ones for 5 s.
		for deadline := time.Now().Add(10 * time.Second); len(nodes) > 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if len(nodes[0].cl.Online()) == 0 {
				break
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, n := range nodes {
			_ = n.srv.Shutdown(ctx)
			_ = n.hs.Close()
		}
		for _, n := range nodes {
			_ = n.cl.Close()
		}
	}
	for i, p := range peers {
		n := &node{}
		var srv atomic.Pointer[server.Server]
		cl, err := cluster.NewNode(cluster.Setup{
			ID: p.ID, Peers: peers, Data: filepath.Join(data, p.ID), CheckpointEntries: every,
			Log: io.Discard, Transport: trans[i], Logger: log,
		}, srv.Load)
		if err == nil {
			cfg := server.Config{
				Options: call.Options{HeartbeatTimeout: clusterHeartbeat},
				Auth:    a,
				Dev:     true,
				Logger:  log,
			}
			if unlimited {
				cfg.Limits = server.Limits{Rate: rate.Inf, Burst: 1}
			}
			cl.Configure(&cfg)
			n.srv, err = server.New(cfg)
		}
		if err != nil {
			// This node's transport and listener, and the
			// later ones', are not the started nodes' (closing
			// a transport twice is harmless).
			if cl != nil {
				_ = cl.Close()
			}
			stop()
			lns, trans = lns[i:], trans[i:]
			undo()
			return nil, fmt.Errorf("loadtest: cluster node %s: %w", p.ID, err)
		}
		srv.Store(n.srv)
		n.cl = cl
		n.hs = &http.Server{Handler: n.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = n.hs.Serve(lns[i]) }()
		nodes = append(nodes, n)
	}
	c := &clusterTarget{target: &target{
		name: "callsigd cluster",
		url: func(user string) (string, error) {
			i, err := userIndex(user)
			if err != nil {
				return "", err
			}
			tok, err := a.Mint(user, "load", time.Hour)
			return "ws://" + peers[i%len(peers)].HTTP + "/v1/ws?token=" + tok, err
		},
		close: stop,
	}}
	for _, n := range nodes {
		c.nodes = append(c.nodes, n.cl)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, _ := c.state(); l != "" {
			return c, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("loadtest: the cluster elected no leader within 30 s")
		}
	}
}
