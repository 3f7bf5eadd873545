package replica

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/hashicorp/raft"
)

// The errors of a Node's commands, besides the command's own (call.Err*).
var (
	// ErrNotLeader: this node is not the leader, or is handing its
	// leadership over; nothing was proposed and nothing changed. The
	// error names the leader when one is known.
	ErrNotLeader = errors.New("replica: not the leader")
	// ErrUncertain: the entry was proposed but its outcome was not known
	// in time: leadership was lost before it was known to be committed,
	// the Node was closed (the error is then ErrClosed too), or
	// Config.Timeout passed first; it may or may not take effect.
	ErrUncertain = errors.New("replica: leadership lost: the outcome is unknown")
	// ErrClosed: the Node is shut down. Alone, nothing was proposed; with
	// ErrUncertain, the entry was proposed before the Node closed.
	ErrClosed = errors.New("replica: node closed")
)

// DefaultTimeout is how long a command waits for its entry to be committed
// and applied when Config.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Config configures a Node.
type Config struct {
	// ID is this node's raft server ID, unique in the cluster.
	ID string
	// Options are the Registry's. Clock is the one this node reads for
	// every entry it proposes, and whose timers make time pass while it
	// leads (nil: clock.Real()); Sink gets this node's events (see the
	// package's doc); NewID and Admit are asked when this node proposes.
	// Journal must be nil: the raft log is the journal.
	Options call.Options
	// Raft is raft's configuration (nil: raft.DefaultConfig()); NewNode
	// uses a copy, with LocalID and NotifyCh set.
	Raft *raft.Config
	// The transport and the stores (OpenStores gives the stores on disk).
	// A network transport must not pipeline (see NewTransport, which
	// gives one that does not).
	Transport raft.Transport
	Logs      raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
	// Timeout bounds how long a command waits for its entry to be
	// committed and applied, after which it returns ErrUncertain; 0:
	// DefaultTimeout.
	Timeout time.Duration
	// Restored, when not nil, is called after raft replaced this node's
	// replica by a snapshot while the node runs (a leader installs one
	// on a follower too far behind for its log): the events of the
	// entries the snapshot skipped were never produced here, so the
	// node's users must learn what they missed otherwise (see the
	// package's doc). It is not called for a snapshot restored before
	// NewNode returns (the one raft starts from, in its store): the node
	// has no users yet. It runs on raft's apply
	// goroutine, as the Sink does, and must not wait for a command of
	// the same Node nor block for long.
	Restored func()
}

// Node is one member of a replicated Registry: a raft node whose FSM is a
// replica of the Registry. Its commands are the Registry's (Invite,
// CallingInvite, Cancel, Accept, Reject, Join, Quit, End, Login, Logout,
// Heartbeat, Replay: those of Commands, over Do); they succeed on the
// leader only (see the package's doc). It is safe for concurrent use.
type Node struct {
	commands // the Registry's commands, over Do

	id      string
	raft    *raft.Raft
	fsm     *fsm
	clock   clock.Clock
	newID   func() string
	admit   func(inviter, invitee string) error
	timeout time.Duration

	wake   chan struct{} // the tick loop has something to look at
	notify chan bool     // raft's leadership changes
	done   chan struct{}
	wg     sync.WaitGroup
	close  sync.Once
}

// NewNode starts a node. A new cluster is formed by calling Bootstrap on
// one node (or every node, with the same servers) once; a node with state
// in its stores rejoins its cluster by itself.
func NewNode(cfg Config) (*Node, error) {
	if cfg.Options.Journal != nil {
		return nil, fmt.Errorf("replica: %w: Options.Journal must be nil: the raft log is the journal", call.ErrInvalidOption)
	}
	if cfg.ID == "" || cfg.Transport == nil || cfg.Logs == nil || cfg.Stable == nil || cfg.Snapshots == nil {
		return nil, fmt.Errorf("replica: %w: ID, Transport, Logs, Stable and Snapshots are required", call.ErrInvalidOption)
	}
	n := &Node{
		id: cfg.ID, clock: cfg.Options.Clock, newID: cfg.Options.NewID, admit: cfg.Options.Admit, timeout: cfg.Timeout,
		wake: make(chan struct{}, 1), notify: make(chan bool, 8), done: make(chan struct{}),
	}
	n.commands = n.Do
	if n.clock == nil {
		n.clock = clock.Real()
	}
	if n.newID == nil {
		n.newID = call.NewCallID
	}
	if n.timeout == 0 {
		n.timeout = DefaultTimeout
	}
	var epoch [8]byte
	_, _ = rand.Read(epoch[:]) // crypto/rand.Read never fails
	f, err := newFSM(cfg.ID, binary.BigEndian.Uint64(epoch[:]), cfg.Options, n.poke)
	if err != nil {
		return nil, err
	}
	f.restored = cfg.Restored
	n.fsm = f
	rc := raft.DefaultConfig()
	if cfg.Raft != nil {
		c := *cfg.Raft
		rc = &c
	}
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.NotifyCh = n.notify
	if n.raft, err = raft.NewRaft(rc, f, cfg.Logs, cfg.Stable, cfg.Snapshots, cfg.Transport); err != nil {
		return nil, err
	}
	// NewRaft restored its latest snapshot, if any, before it returned;
	// a Restore from now on is one a leader installed.
	f.running.Store(true)
	n.wg.Add(2)
	go n.watch()
	go n.tick()
	return n, nil
}

// Bootstrap forms a new cluster of servers (this node among them). It
// fails with raft.ErrCantBootstrap on a node that already has state.
func (n *Node) Bootstrap(servers []raft.Server) error {
	return n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
}

// ID returns this node's server ID.
func (n *Node) ID() string { return n.id }

// Raft returns the node's raft, for its state, its leader and membership.
// Entries must not be applied through it but by the Node's commands.
func (n *Node) Raft() *raft.Raft { return n.raft }

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the ID of the leader as this node knows it; "" if none.
func (n *Node) Leader() string {
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// Close stops the node: raft, then its timer. It waits for both. A
// command still waiting for its entry then returns ErrUncertain and
// ErrClosed.
func (n *Node) Close() error {
	var err error
	n.close.Do(func() {
		err = n.raft.Shutdown().Error()
		close(n.done)
		n.wg.Wait()
	})
	return err
}

// poke wakes the tick loop; it never blocks.
func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// watch wakes the tick loop on every change of leadership.
func (n *Node) watch() {
	defer n.wg.Done()
	for {
		select {
		case <-n.done:
			return
		case <-n.notify:
			n.poke()
		}
	}
}

// tick makes time pass while this node leads: when what its replica holds
// falls due on its clock, it proposes an OpTick at its reading. It looks
// again whenever an entry is applied, leadership changes or its timer
// fires; a proposal that fails is tried again a second later.
func (n *Node) tick() {
	defer n.wg.Done()
	var timer clock.Timer
	arm := func(d time.Duration) {
		if timer != nil {
			timer.Stop()
		}
		timer = n.clock.AfterFunc(d, n.poke)
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-n.done:
			return
		case <-n.wake:
		}
		if !n.IsLeader() {
			continue
		}
		due, ok := n.fsm.registry().NextDue()
		if !ok {
			continue
		}
		if now := n.now(); due.After(now) {
			arm(due.Sub(now))
			continue
		}
		if _, err := n.propose(call.Entry{Op: call.OpTick, At: n.now()}); err != nil && !errors.Is(err, ErrClosed) {
			arm(time.Second)
		}
	}
}

// now is the node's clock reading as an entry carries it: no monotonic
// part, in UTC.
func (n *Node) now() time.Time { return n.clock.Now().Round(0).UTC() }

// leading returns ErrNotLeader, naming the leader, unless this node leads.
func (n *Node) leading() error {
	if n.IsLeader() {
		return nil
	}
	if l := n.Leader(); l != "" {
		return fmt.Errorf("%w (the leader is %q)", ErrNotLeader, l)
	}
	return fmt.Errorf("%w (no leader)", ErrNotLeader)
}

// propose proposes e, waits for it to be committed and applied here, and
// returns what the replica returned.
func (n *Node) propose(e call.Entry) (call.Result, error) {
	b, err := json.Marshal(newProposal(n.id, n.fsm.epoch, e))
	if err != nil {
		return call.Result{}, fmt.Errorf("replica: %w: %v", call.ErrInvalidArgument, err)
	}
	deadline := time.Now().Add(n.timeout)
	f := n.raft.Apply(b, n.timeout)
	if err := n.wait(f, deadline); err != nil {
		switch {
		case errors.Is(err, ErrUncertain):
			return call.Result{}, err
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout),
			errors.Is(err, raft.ErrLeadershipTransferInProgress): // refused before it was appended
			return call.Result{}, fmt.Errorf("%w: %v", ErrNotLeader, err)
		case errors.Is(err, raft.ErrRaftShutdown) && f.Index() == 0: // never appended
			return call.Result{}, ErrClosed
		default:
			return call.Result{}, fmt.Errorf("%w: %v", ErrUncertain, err)
		}
	}
	a, _ := f.Response().(applied)
	return a.res, a.err
}

// wait returns f's error once raft answers it, or ErrUncertain once the
// deadline passes or the node closes first. raft's own timeout bounds the
// enqueueing of an entry only, and raft never answers an entry that was
// committed but still queued for the FSM when it shut down: the goroutine
// that waits for raft's answer is then left waiting. The deadline is on
// the wall clock, as raft's timeouts are, not on Options.Clock.
func (n *Node) wait(f raft.Future, deadline time.Time) error {
	answer := make(chan error, 1)
	go func() { answer <- f.Error() }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case err := <-answer:
		return err
	case <-timer.C:
		return fmt.Errorf("%w: not applied within %v", ErrUncertain, n.timeout)
	case <-n.done:
		return fmt.Errorf("%w: %w", ErrUncertain, ErrClosed)
	}
}

// Do runs the command or presence change e on the cluster, proposed by
// this node, which must lead: it is what the op's method (Invite, Accept,
// Login, …) does, given as the entry a follower forwards. Do fills in
// what a proposer decides once for every replica — At from this node's
// clock; for an Invite whose CallID is empty the ID NewID makes (HostID
// says whether there was one); for an Invite or a CallingInvite Admit's
// answers (H7) — over whatever e held there, and returns the Registry's
// result. Admit may be asked about an invite the Registry then refuses or
// merges (H3) without asking, which changes nothing but the asking. The
// passing of time is the node's own to propose: an OpTick, OpResume or
// unknown op is refused with call.ErrInvalidArgument.
func (n *Node) Do(e call.Entry) (call.Result, error) {
	switch e.Op {
	case call.OpInvite, call.OpCallingInvite, call.OpCancel, call.OpAccept, call.OpReject, call.OpJoin,
		call.OpQuit, call.OpEnd, call.OpLogin, call.OpLogout, call.OpHeartbeat, call.OpReplay:
	default:
		return call.Result{}, fmt.Errorf("replica: %w: op %q is not a command", call.ErrInvalidArgument, e.Op)
	}
	if err := n.leading(); err != nil {
		return call.Result{}, err
	}
	e.Users, e.Push, e.Admit = slices.Clone(e.Users), copyPush(e.Push), nil
	if e.Op == call.OpInvite {
		e.HostID = e.CallID != ""
		if !e.HostID {
			e.CallID = n.newID()
		}
	}
	var errs []error
	if e.Op == call.OpInvite || e.Op == call.OpCallingInvite {
		errs = n.askAdmit(e.User, e.Users)
		e.Admit = call.AdmitAnswers(errs)
	}
	e.At = n.now()
	res, err := n.propose(e)
	res.Invite.Failed = liveFailures(res.Invite.Failed, e.Users, errs)
	return res, err
}

// askAdmit asks Options.Admit about each invitee (nil: admitted).
func (n *Node) askAdmit(inviter string, invitees []string) []error {
	if n.admit == nil {
		return nil
	}
	errs := make([]error, len(invitees))
	for i, u := range invitees {
		errs[i] = n.admit(inviter, u)
	}
	return errs
}

// liveFailures gives back to fs the errors Admit returned, which the entry
// kept as messages only.
func liveFailures(fs []call.Failure, invitees []string, errs []error) []call.Failure {
	for k := range fs {
		if i := slices.Index(invitees, fs[k].User); i >= 0 && i < len(errs) && errs[i] != nil {
			fs[k].Err = errs[i]
		}
	}
	return fs
}

// Barrier waits, on the leader, until this node's replica has applied
// every entry committed before Barrier was called, and returns Applied
// then: a query of any node's replica once it has applied that index
// reads at least what the cluster had committed when Barrier was called.
// Barrier proposes a barrier entry (raft's Barrier), which commits only
// with a majority that still follows this node, and which raft answers
// once every entry before it is applied: the entries a leader inherited
// uncommitted from an earlier one (a command that got ErrUncertain) are
// then decided, committed or gone for good. It changes no replica. It
// fails, having proved nothing, with ErrNotLeader when this node does
// not lead, or lost its leadership or Config.Timeout passed before the
// barrier committed (another node may lead: ask again), or with ErrClosed
// when the node closes while the barrier is under way.
func (n *Node) Barrier() (uint64, error) {
	if err := n.leading(); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(n.timeout)
	switch err := n.wait(n.raft.Barrier(n.timeout), deadline); {
	case err == nil:
		return n.Applied(), nil
	case errors.Is(err, ErrClosed), errors.Is(err, raft.ErrRaftShutdown):
		return 0, ErrClosed
	case errors.Is(err, ErrUncertain): // the deadline passed
		return 0, fmt.Errorf("%w: the barrier was not committed within %v", ErrNotLeader, n.timeout)
	default:
		return 0, fmt.Errorf("%w: barrier: %v", ErrNotLeader, err)
	}
}

// Queries read this node's replica as the last entry applied here left it
// (D4): on a follower, possibly behind the leader.

// Call is call.Registry.Call on this node's replica.
func (n *Node) Call(callID string) (call.Info, bool) { return n.fsm.registry().Call(callID) }

// Len is call.Registry.Len on this node's replica.
func (n *Node) Len() int { return n.fsm.registry().Len() }

// History is call.Registry.History on this node's replica.
func (n *Node) History(user string, count int, cursor string) ([]call.Info, string, error) {
	return n.fsm.registry().History(user, count, cursor)
}

// Devices is call.Registry.Devices on this node's replica.
func (n *Node) Devices(user string) []string { return n.fsm.registry().Devices(user) }

// Online is call.Registry.Online on this node's replica.
func (n *Node) Online() []call.OnlineDevice { return n.fsm.registry().Online() }

// LiveCalls is call.Registry.LiveCalls on this node's replica.
func (n *Node) LiveCalls(user string) []string { return n.fsm.registry().LiveCalls(user) }

// Backlog is call.Registry.Backlog on this node's replica.
func (n *Node) Backlog() int { return n.fsm.registry().Backlog() }

// Stats is call.Registry.Stats on this node's replica: the inputs it
// applied, the events it produced.
func (n *Node) Stats() call.Stats { return n.fsm.registry().Stats() }

// Applied returns the index of the last log entry applied to this node's
// replica, its events handed to the Sink. A command that returned on the
// leader was applied there at an index no greater than the leader's
// Applied then; a node whose Applied has reached that index has applied
// it too (raft's own AppliedIndex may run ahead of the replica), its
// events delivered to the Sink. It takes no lock.
func (n *Node) Applied() uint64 { return n.fsm.applied() }

// NextDue is call.Registry.NextDue on this node's replica.
func (n *Node) NextDue() (time.Time, bool) { return n.fsm.registry().NextDue() }

// State returns the index of the last log entry applied here and the
// replica's Snapshot after it: two nodes at the same index give the same
// bytes. It must not be called from inside the Sink's Emit, which runs
// while an entry is applied: State waits for no entry to be under way.
func (n *Node) State() (index uint64, snapshot []byte, err error) { return n.fsm.state() }

// copyPush returns a copy of p (nil for nil), which the caller may then
// reuse.
func copyPush(p *events.Push) *events.Push {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
