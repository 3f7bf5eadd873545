package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/internal/server"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/hashicorp/raft"
)

// The codes of replies that the cluster adds to call.Code's.
const (
	// CodeUnavailable: no leader could be reached, or, for a read
	// barrier, this node's replica could not catch up in time; nothing
	// was done.
	CodeUnavailable = "unavailable"
	// CodeUncertain: the command reached a leader that lost its
	// leadership, or the leader could not be heard, before the command
	// was known to be committed: it may or may not have taken effect.
	CodeUncertain = "uncertain"
)

// The errors of a Cluster's commands, besides the command's own (call.Err*).
// Each has a method Code, which call.Code honours.
var (
	// ErrUnavailable: no leader could be reached within Config.Wait (none
	// known, or every attempt failed before the leader ran anything), or
	// ReadBarrier's replica did not catch up within it: nothing was done;
	// retry.
	ErrUnavailable = errors.New("cluster: no leader reachable: nothing was done, retry")
	// ErrUncertain is replica.ErrUncertain: the outcome is unknown.
	ErrUncertain = replica.ErrUncertain
)

// Error is an error of the cluster: ErrUnavailable or ErrUncertain, with
// what happened.
type Error struct {
	Err    error  // ErrUnavailable or ErrUncertain
	Detail string // why
}

func (e *Error) Error() string { return e.Err.Error() + ": " + e.Detail }

// newError returns an Error of err, whose detail may begin with err's own
// message (an error wrapped on the leader, then again here): it is said
// once.
func newError(err error, detail string) *Error {
	for p := err.Error() + ": "; strings.HasPrefix(detail, p); {
		detail = strings.TrimPrefix(detail, p)
	}
	return &Error{err, detail}
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// Code returns CodeUnavailable or CodeUncertain.
func (e *Error) Code() string {
	if e.Err == ErrUnavailable {
		return CodeUnavailable
	}
	return CodeUncertain
}

// DefaultWait is Config.Wait when 0: how long a command waits for a
// leader to take it. It spans an election with raft's default timeouts.
const DefaultWait = 3 * time.Second

// claimTimeout bounds a Claim: how long a new connection waits for the
// other nodes to let go of its device.
const claimTimeout = time.Second

// Config configures a Cluster.
type Config struct {
	ID    string // this node's ID, among Peers
	Peers []Peer // every node, this one included

	// Dir holds the raft stores (replica.OpenStores).
	Dir string

	// Key signs and checks the requests the nodes make of each other
	// (the internal endpoints): the same on every node, at least 32
	// bytes.
	Key []byte

	// Raft is raft's configuration (nil: raft.DefaultConfig()).
	Raft *raft.Config

	// Transport is the raft transport; nil: raft's TCP transport,
	// listening on this node's raft address.
	Transport raft.Transport

	// Client makes the requests to the other nodes (nil: a client of its
	// own); Scheme is their HTTP addresses' ("http" when empty, or
	// "https").
	Client *http.Client
	Scheme string

	// Wait bounds how long a command waits for a leader; 0: DefaultWait.
	Wait time.Duration

	// Timeout bounds how long the leader waits for a command's entry to
	// be committed (replica.Config.Timeout); 0: replica.DefaultTimeout.
	Timeout time.Duration

	// Release is asked, when another node claims a device for its
	// connection stamped claim, to close this node's connection of it if
	// older, without logging it out, and to return the stamp of this
	// node's connection of it if newer (server.Release). It must not wait
	// for a claim of this node's. ctx ends when the claiming node stops
	// waiting for the answer.
	Release func(ctx context.Context, user, device string, claim server.Stamp) (newer server.Stamp)

	// Restored is called when raft replaced this node's replica by the
	// leader's snapshot (replica.Config.Restored): the events of the
	// entries it skipped were never produced here, so the node's
	// connections must be closed for their clients to reconnect and get
	// their replays (server.ReleaseAll). It runs on raft's apply
	// goroutine and must not block. nil: nothing is done.
	Restored func()

	Logger *slog.Logger // nil: slog.Default()
	Log    io.Writer    // raft's own log lines (nil: none)
}

// commands lets Cluster embed replica.Commands as an unexported field.
type commands = replica.Commands

// Cluster is one node of a callsigd cluster: a replica.Node and what a
// server needs to front it. Its commands (those of server.Backend: Invite,
// Accept, Login, …, replica.Commands over run) run on the leader: here if
// this node leads, else forwarded to the leader's internal endpoint. Its
// queries read this node's replica; ReadBarrier brings that up to what
// the cluster has committed. It is safe for concurrent use.
type Cluster struct {
	commands // the Registry's commands, over run

	cfg     Config
	self    Peer
	byID    map[string]Peer
	client  *http.Client
	log     *slog.Logger
	wait    time.Duration
	forward time.Duration // bounds one forwarded request

	// reads shares ReadBarrier's barriers among its concurrent calls;
	// barriers shares this node's replica.Node.Barrier, when it leads,
	// among the barrier endpoint's requests and reads' rounds.
	reads    *coalescer
	barriers *coalescer

	// stop ends the commands in flight: Interrupt and Close cancel it.
	stop   context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	node   *replica.Node
	stores *replica.Stores
	trans  raft.Transport
	closed bool
}

// New checks cfg and returns a Cluster whose node is not started yet
// (see Open).
func New(cfg Config) (*Cluster, error) {
	c := &Cluster{cfg: cfg, byID: map[string]Peer{}, client: cfg.Client, log: cfg.Logger, wait: cfg.Wait}
	c.commands = c.run
	c.reads = newCoalescer(c.readBarrier)
	c.barriers = newCoalescer(func() (uint64, error) { return c.Node().Barrier() })
	c.stop, c.cancel = context.WithCancel(context.Background())
	for _, p := range cfg.Peers {
		c.byID[p.ID] = p
	}
	self, ok := c.byID[cfg.ID]
	switch {
	case !ok:
		return nil, fmt.Errorf("cluster: node %q is not among the peers", cfg.ID)
	case len(cfg.Key) < 32:
		return nil, errors.New("cluster: the key needs at least 32 bytes")
	case cfg.Dir == "" && cfg.Transport == nil:
		return nil, errors.New("cluster: no directory for the raft stores")
	case cfg.Scheme != "" && cfg.Scheme != "http" && cfg.Scheme != "https":
		return nil, fmt.Errorf("cluster: scheme %q", cfg.Scheme)
	}
	c.self = self
	if c.cfg.Scheme == "" {
		c.cfg.Scheme = "http"
	}
	if c.client == nil {
		c.client = NewClient(nil)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.wait <= 0 {
		c.wait = DefaultWait
	}
	commit := cfg.Timeout
	if commit <= 0 {
		commit = replica.DefaultTimeout
	}
	c.forward = commit + 2*time.Second
	return c, nil
}

// Open starts the node with the Registry's options o (the server's
// NewBackend): it opens the raft stores under Dir and the transport,
// and, if the stores hold no state, bootstraps the cluster with every
// peer as a voter. Every node of a new cluster bootstraps so, with the
// same servers, which raft takes as one configuration; a node with state
// ignores the peers' list and rejoins its cluster by itself.
func (c *Cluster) Open(o call.Options) error {
	logs := c.cfg.Log
	if logs == nil {
		logs = io.Discard
	}
	stores, err := replica.OpenStores(c.cfg.Dir, logs)
	if err != nil {
		return err
	}
	trans := c.cfg.Transport
	if trans == nil {
		t, err := NewTransport(c.self.Raft, logs)
		if err != nil {
			_ = stores.Close()
			return fmt.Errorf("cluster: raft transport on %s: %w", c.self.Raft, err)
		}
		trans = t
	}
	rc := raft.DefaultConfig()
	if c.cfg.Raft != nil {
		r := *c.cfg.Raft
		rc = &r
	}
	if rc.Logger == nil && rc.LogOutput == nil {
		rc.LogOutput = logs
	}
	rcfg := replica.Config{ID: c.cfg.ID, Options: o, Raft: rc, Transport: trans, Timeout: c.cfg.Timeout, Restored: c.cfg.Restored}
	stores.Configure(&rcfg)
	node, err := replica.NewNode(rcfg)
	if err != nil {
		closeTransport(trans)
		_ = stores.Close()
		return err
	}
	servers := make([]raft.Server, len(c.cfg.Peers))
	for i, p := range c.cfg.Peers {
		servers[i] = raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Raft)}
	}
	if err := node.Bootstrap(servers); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		_ = node.Close()
		closeTransport(trans)
		_ = stores.Close()
		return fmt.Errorf("cluster: bootstrap: %w", err)
	}
	c.mu.Lock()
	c.node, c.stores, c.trans = node, stores, trans
	c.mu.Unlock()
	return nil
}

// NewTransport returns raft's TCP transport listening on addr, as a node
// makes it when Config.Transport is nil: a host that must know the
// address before the node starts (one on port 0) makes it so and gives
// it as Config.Transport. Its own log lines go to logs. It does not
// pipeline replication (see replica.NewTransport).
func NewTransport(addr string, logs io.Writer) (*raft.NetworkTransport, error) {
	return replica.NewTCPTransport(addr, nil, 10*time.Second, logs)
}

func closeTransport(t raft.Transport) {
	if cl, ok := t.(io.Closer); ok {
		_ = cl.Close()
	}
}

// NewClient returns an HTTP client for the requests between nodes, over
// TLS with tlsConfig when it is not nil: no proxy, a dial that gives up
// after 2 s (a node that is down is passed over quickly), and idle
// connections kept for every node, since a follower forwards every
// command.
func NewClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 2 * time.Second,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// Handover hands the leadership to another node if this one leads, and
// waits until that is done or has failed (raft bounds it by an election
// timeout): a node about to stop does so first, so that the others need
// not wait for an election while it stops.
func (c *Cluster) Handover() error {
	n := c.Node()
	if n == nil || !n.IsLeader() {
		return nil
	}
	return n.Raft().LeadershipTransfer().Error()
}

// Node returns the node (nil before Open).
func (c *Cluster) Node() *replica.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}

// Close stops the node, then its transport and its stores. The queries
// still read the replica as the node left it.
//
// The lock is let go first: raft's shutdown waits for its apply goroutine
// and the network, and the queries, /healthz and the commands that ask
// for the node meanwhile must not wait behind it.
func (c *Cluster) Close() error {
	c.Interrupt()
	c.mu.Lock()
	node, trans, stores := c.node, c.trans, c.stores
	if node == nil || c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := node.Close()
	closeTransport(trans)
	return errors.Join(err, stores.Close())
}

// Interrupt makes the forwarded commands in flight give up at once, and
// those that come after fail at once: one not yet sent to a leader fails
// with ErrUnavailable (nothing was done), one whose request was sent with
// ErrUncertain; the waits for this node's replica to catch up end too. A
// command this node runs as the leader is bounded by raft's commit
// timeout instead (replica.Node.Do). A shutdown calls Interrupt when its
// grace period is over, so that connections waiting on a forwarded
// command do not hold it up. Close calls it too.
func (c *Cluster) Interrupt() { c.cancel() }

// Health is the server's health check: nil while the node knows a leader.
func (c *Cluster) Health() error {
	n := c.Node()
	if n == nil {
		return errors.New("not started")
	}
	if n.Leader() == "" {
		return errors.New("no leader")
	}
	return nil
}

// Routes are the endpoints a node serves besides the server's own: the
// cluster's state, and the internal ones the nodes call.
func (c *Cluster) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /v1/cluster":     http.HandlerFunc(c.serveState),
		"POST " + commandPath: c.internal(c.serveCommand),
		"POST " + releasePath: c.internal(c.serveRelease),
		"POST " + barrierPath: c.internal(c.serveBarrier),
	}
}

// state is GET /v1/cluster's body.
type state struct {
	Node   string `json:"node"`
	Leader string `json:"leader"`
	Peers  []Peer `json:"peers"`
}

func (c *Cluster) serveState(w http.ResponseWriter, _ *http.Request) {
	st := state{Node: c.cfg.ID, Peers: slices.Clone(c.cfg.Peers)}
	if n := c.Node(); n != nil {
		st.Leader = n.Leader()
	}
	writeJSON(w, http.StatusOK, st)
}

// Claim asks every other node to close its connection of user and
// device older than stamp, if it has one, without logging the device out,
// and returns the newest stamp of a connection of the device that a node
// answered it has, if newer than stamp (zero if none): then the new
// connection is the one replaced (server.Config.Claim). It waits for
// their answers, at most claimTimeout; a node that does not answer is
// passed over: a node that is down has no connection.
//
// Each answer gives the index of the last entry the node had applied;
// Claim then waits (at most Config.Wait) until this node's replica has
// applied the highest, before the connection is the device's here: the
// entries this node had yet to apply, which it applies while it catches
// up (a node restarted replays its log), made events before the
// connection was opened, and those do not reach it (doc.go, Cluster).
func (c *Cluster) Claim(user, device string, stamp server.Stamp) (newer server.Stamp) {
	deadline := time.Now().Add(c.wait)
	ctx, cancel := context.WithTimeout(c.stop, claimTimeout)
	defer cancel()
	body, _ := json.Marshal(releaseBody{User: user, Device: device, Stamp: stamp}) // strings and a number: always encodes
	var wg sync.WaitGroup
	var mu sync.Mutex
	var index uint64 // the highest applied index answered
	for _, p := range c.cfg.Peers {
		if p.ID == c.cfg.ID {
			continue
		}
		wg.Go(func() {
			resp, err := c.post(ctx, p, releasePath, body)
			if err != nil {
				c.log.Debug("claim not heard", "peer", p.ID, "user", user, "device", device, "err", err)
				return
			}
			defer resp.Body.Close()
			var a releaseAnswer
			if resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&a) == nil {
				mu.Lock()
				index = max(index, a.Applied)
				if newer.Less(a.Newer) {
					newer = a.Newer
				}
				mu.Unlock()
			}
			_, _ = io.Copy(io.Discard, resp.Body)
		})
	}
	wg.Wait()
	if !stamp.Less(newer) {
		newer = server.Stamp{}
	}
	if n := c.Node(); n != nil && newer.IsZero() {
		c.await(n, index, deadline)
	}
	return newer
}

// releaseBody is a claim's body: the device, and the claiming
// connection's stamp.
type releaseBody struct {
	User   string       `json:"user"`
	Device string       `json:"device"`
	Stamp  server.Stamp `json:"stamp"`
}

// releaseAnswer is the answer to a claim: the index of the last entry
// the node had applied, and the stamp of its connection of the device if
// newer than the claim's (else zero).
type releaseAnswer struct {
	Applied uint64       `json:"applied"`
	Newer   server.Stamp `json:"newer"`
}

func (c *Cluster) serveRelease(w http.ResponseWriter, r *http.Request, body []byte) {
	var b releaseBody
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var a releaseAnswer
	if c.cfg.Release != nil {
		a.Newer = c.cfg.Release(r.Context(), b.User, b.Device, b.Stamp)
	}
	if n := c.Node(); n != nil {
		a.Applied = n.Applied()
	}
	writeJSON(w, http.StatusOK, a)
}

// The queries of server.Backend read this node's replica (see
// replica.Node) as it is: a follower's may be behind the leader's, but
// not behind a command this node forwarded and answered (see run); after
// ReadBarrier, not behind anything committed before it was called.

// Call is call.Registry.Call on this node's replica.
func (c *Cluster) Call(callID string) (call.Info, bool) { return c.Node().Call(callID) }

// History is call.Registry.History on this node's replica.
func (c *Cluster) History(user string, count int, cursor string) ([]call.Info, string, error) {
	return c.Node().History(user, count, cursor)
}

// Online is call.Registry.Online on this node's replica: the devices
// online through every node.
func (c *Cluster) Online() []call.OnlineDevice { return c.Node().Online() }

// Devices is call.Registry.Devices on this node's replica.
func (c *Cluster) Devices(user string) []string { return c.Node().Devices(user) }

// Len is call.Registry.Len on this node's replica.
func (c *Cluster) Len() int { return c.Node().Len() }

// Backlog is call.Registry.Backlog on this node's replica.
func (c *Cluster) Backlog() int { return c.Node().Backlog() }

// Stats is call.Registry.Stats on this node's replica.
func (c *Cluster) Stats() call.Stats { return c.Node().Stats() }
