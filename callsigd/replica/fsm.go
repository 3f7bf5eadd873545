package replica

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/hashicorp/raft"
)

// proposal is what a raft log entry holds: the format it is written in,
// the input, and which process proposed it (for the push rule: see the
// package's doc).
type proposal struct {
	Format int        `json:"format"`
	Node   string     `json:"node"`
	Epoch  uint64     `json:"epoch"` // the proposing process's, random: a restarted node is another process
	Entry  call.Entry `json:"entry"`
}

// proposalFormat is the format of the proposals this package writes, and
// the newest it applies. It goes up whenever a proposal of the new format
// could mean something else to a node of the old one: a field or an op
// added to call.Entry, a field whose meaning or type changes (the test
// TestProposalFormatCoversEntry lists call.Entry's fields of this format).
// An entry with no format is of format 1.
//
// Every format keeps two things, so that any node can tell the format of
// any entry: a proposal is a JSON object, and its "format" member, when
// present, is a number. Raising the format takes two releases: one that
// applies the new format and still writes the old, then, once every node
// runs it, one that writes the new. A node of the old build stops at the
// first entry of the new format (see Apply), and a cluster whose majority
// stops stops with it. A follower forwards a command to the leader as a
// call.Entry too, so a change that raises this format takes new internal
// paths as well (callsigd/internal/cluster, forward.go).
const proposalFormat = 1

// newProposal returns the proposal of e by the given process.
func newProposal(node string, epoch uint64, e call.Entry) proposal {
	return proposal{Format: proposalFormat, Node: node, Epoch: epoch, Entry: e}
}

// decodeProposal decodes a log entry's data. The format is read first,
// alone: an entry of a format newer than proposalFormat is not decoded
// further, since its members, whatever their shape, may mean what this
// node does not know, so that what it made of them could differ from what
// its peers make (see newerFormat).
func decodeProposal(data []byte) (proposal, error) {
	var head struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return proposal{}, err
	}
	if head.Format > proposalFormat {
		return proposal{}, &newerFormat{format: head.Format}
	}
	var p proposal
	if err := json.Unmarshal(data, &p); err != nil {
		return proposal{}, err
	}
	p.Format = max(p.Format, 1)
	return p, nil
}

// newerFormat is a log entry written in a format newer than this node's.
type newerFormat struct{ format int }

func (e *newerFormat) Error() string {
	return fmt.Sprintf("written in proposal format %d; this node applies formats up to %d", e.format, proposalFormat)
}

// applied is what fsm.Apply returns for an entry, and the proposer's
// ApplyFuture.Response.
type applied struct {
	res call.Result
	err error
}

// fsm is the raft FSM over one replica of a Registry. raft calls Apply,
// Snapshot and Restore from one goroutine; queries read the replica from
// any.
type fsm struct {
	node  string
	epoch uint64
	opts  call.Options // the replica's: a still clock, the pushing Sink, no NewID, Admit or Journal
	host  events.Sink  // the Node's Sink
	wake  func()       // tells the Node that an entry was applied

	// No lock is held while an entry is applied, since applying calls the
	// host's Sink. raft applies and restores on one goroutine, which alone
	// writes these; state pairs the index with the replica's snapshot by
	// reading gen before and after (an odd gen: a change under way).
	index atomic.Uint64 // the last log entry applied
	gen   atomic.Uint64 // odd while an entry is applied or a snapshot restored
	reg   atomic.Pointer[call.Registry]

	mine atomic.Bool // the entry being applied was proposed by this process: its Offline events are this node's to push

	restored func()      // Config.Restored; nil: none
	running  atomic.Bool // NewNode has returned: a Restore now is a snapshot raft installs, not the one it starts from
}

func newFSM(node string, epoch uint64, o call.Options, wake func()) (*fsm, error) {
	f := &fsm{node: node, epoch: epoch, host: o.Sink, wake: wake}
	if f.host == nil {
		f.host = events.Discard
	}
	o.Clock, o.Sink, o.NewID, o.Admit, o.Journal = stillClock{}, events.SinkFunc(f.emit), nil, nil, nil
	f.opts = o
	r, err := call.NewRegistry(o)
	if err != nil {
		return nil, err
	}
	f.reg.Store(r)
	return f, nil
}

// emit is the replica's Sink: every event to the node's Sink, but an
// Offline one only on the node that proposed the entry (the push rule).
func (f *fsm) emit(e events.Event) {
	if e.Offline && !f.mine.Load() {
		return
	}
	f.host.Emit(e)
}

// registry returns the replica, for queries.
func (f *fsm) registry() *call.Registry { return f.reg.Load() }

// Apply applies one committed entry to the replica (raft.FSM) and returns
// an applied: the command's result and error. An entry it cannot decode
// changes nothing and gives ErrInvalidArgument, on every replica alike.
//
// An entry of a newer format than this node's is not applied, nor refused:
// a node that knows its format applies it, and a replica that went on
// without it would differ from theirs from then on. Apply panics instead,
// on raft's goroutine, which stops the process before anything after that
// entry is applied here; the node applies it once upgraded (see the
// package's doc, Upgrades).
func (f *fsm) Apply(l *raft.Log) any {
	p, err := decodeProposal(l.Data)
	if newer := (*newerFormat)(nil); errors.As(err, &newer) {
		// Before the applied index moves: the entry is not applied here.
		panic(fmt.Sprintf("replica: log entry %d is %v: upgrade node %s before it applies more", l.Index, newer, f.node))
	}
	defer f.wake()
	f.gen.Add(1)
	defer func() {
		// Once its events are delivered: a node whose applied index has
		// reached an entry has delivered what the entry made.
		f.index.Store(l.Index)
		f.gen.Add(1)
	}()
	if err != nil {
		return applied{err: fmt.Errorf("replica: log entry %d: %w: %v", l.Index, call.ErrInvalidArgument, err)}
	}
	f.mine.Store(p.Node == f.node && p.Epoch == f.epoch)
	defer f.mine.Store(false)
	res, err := f.registry().ApplyResult(p.Entry)
	return applied{res: res, err: err}
}

// Snapshot takes the replica's state (raft.FSM): the index of the last
// entry applied, then the Registry's snapshot (D2).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	index, b, err := f.state()
	if err != nil {
		return nil, err
	}
	return &snapshotBytes{head: binary.BigEndian.AppendUint64(nil, index), body: b}, nil
}

// state returns the index of the last entry applied and the replica's
// snapshot after it. From raft's goroutine (Snapshot) nothing is applied
// meanwhile; from another, a snapshot that an apply or restore overlapped
// is taken again.
func (f *fsm) state() (uint64, []byte, error) {
	for {
		g := f.gen.Load()
		if g%2 == 1 {
			runtime.Gosched()
			continue
		}
		index, r := f.index.Load(), f.registry()
		b, err := r.Snapshot()
		if f.gen.Load() == g {
			return index, b, err
		}
	}
}

// applied returns the index of the last entry applied.
func (f *fsm) applied() uint64 { return f.index.Load() }

// Restore replaces the replica by the state a snapshot holds (raft.FSM).
// A snapshot it cannot read is refused with ErrInvalidArgument, and the
// replica stays as it was. Once the node runs, a replica replaced so
// produced no event for the entries it skipped: Config.Restored is told.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return fmt.Errorf("replica: restore: %w: a snapshot of %d bytes", call.ErrInvalidArgument, len(b))
	}
	r, err := call.Restore(b[8:], f.opts)
	if err != nil {
		return err
	}
	f.gen.Add(1)
	f.index.Store(binary.BigEndian.Uint64(b))
	f.reg.Store(r)
	f.gen.Add(1)
	f.wake()
	if f.restored != nil && f.running.Load() {
		f.restored()
	}
	return nil
}

// snapshotBytes is a snapshot taken, for raft to write: the index, eight
// bytes big-endian, then the Registry's snapshot.
type snapshotBytes struct{ head, body []byte }

// Persist writes the snapshot to raft's store.
func (s *snapshotBytes) Persist(sink raft.SnapshotSink) error {
	_, err := sink.Write(s.head)
	if err == nil {
		_, err = sink.Write(s.body)
	}
	if err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}

// Release lets the snapshot go.
func (s *snapshotBytes) Release() {}

// stillClock is a replica's Registry's clock: never read for a decision
// (an entry carries its instant), its timers never fire.
type stillClock struct{}

// Now returns the zero time: a replica's Registry reads its clock only to
// arm a timer, which never fires.
func (stillClock) Now() time.Time { return time.Time{} }

// AfterFunc returns a timer that never fires.
func (stillClock) AfterFunc(time.Duration, func()) clock.Timer { return stillTimer{} }

type stillTimer struct{}

func (stillTimer) Stop() bool { return true }
