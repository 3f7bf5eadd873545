package replica_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/hashicorp/raft"
)

// gatedSink holds the apply of any entry whose events name call "held"
// until open is closed: the replica's apply goroutine is then busy, and
// the entries committed after it wait in raft's queue to the FSM.
type gatedSink struct {
	open chan struct{}
	once sync.Once
}

func (s *gatedSink) Emit(e events.Event) {
	if e.CallID == "held" {
		<-s.open
	}
}

func (s *gatedSink) release() { s.once.Do(func() { close(s.open) }) }

// single starts a one-node cluster on raft's in-memory transport with
// Sink s and command timeout d, and waits for it to lead.
func single(t *testing.T, s events.Sink, d time.Duration) *replica.Node {
	t.Helper()
	addr, trans := raft.NewInmemTransport("")
	store := raft.NewInmemStore()
	n, err := replica.NewNode(replica.Config{
		ID: "n0", Options: call.Options{Clock: clock.NewManual(t0), Sink: s}, Raft: raftConfig(), Timeout: d,
		Transport: trans, Logs: store, Stable: store, Snapshots: raft.NewInmemSnapshotStore(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	if err := n.Bootstrap([]raft.Server{{ID: "n0", Address: addr}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !n.IsLeader(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader within 10 s")
		}
	}
	return n
}

// within runs f on a goroutine of its own and reports whether it returned
// within d.
func within(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestCommandWaitIsBounded: a command whose entry is not applied within
// Config.Timeout returns ErrUncertain then, instead of waiting for as long
// as the apply takes (raft bounds only the enqueueing of an entry).
func TestCommandWaitIsBounded(t *testing.T) {
	s := &gatedSink{open: make(chan struct{})}
	n := single(t, s, 200*time.Millisecond)
	defer s.release()
	time.AfterFunc(5*time.Second, s.release) // the old code's command returns only then
	start := time.Now()
	_, err := n.Invite("a", []string{"b"}, call.InviteConfig{CallID: "held"})
	if took := time.Since(start); took > 2*time.Second || !errors.Is(err, replica.ErrUncertain) {
		t.Fatalf("Invite held in the apply returned %v after %v, want ErrUncertain after about 200ms", err, took)
	}
	s.release()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, ok := n.Call("held"); ok {
			break // uncertain, and done after all
		}
		if time.Now().After(deadline) {
			t.Fatal("the held invite never took effect")
		}
	}
}

// TestCloseAnswersCommandsInFlight: commands whose entries are committed
// but still queued for the FSM when the node is closed return
// ErrUncertain (and ErrClosed), not hang: raft, shut down, drops that
// queue without answering its futures. The apply of a first entry is held
// while the others commit one by one (a batch each in raft's queue), then
// the node is closed and the apply let go: raft's FSM loop picks the
// shutdown or the next batch at random, so eight batches leave some
// unanswered but once in 256 runs.
func TestCloseAnswersCommandsInFlight(t *testing.T) {
	s := &gatedSink{open: make(chan struct{})}
	n := single(t, s, 30*time.Second)
	defer s.release()
	type answer struct {
		id  string
		err error
	}
	answers := make(chan answer, 9)
	propose := func(id string) {
		go func() {
			_, err := n.Invite("a"+id, []string{"b" + id}, call.InviteConfig{CallID: id})
			answers <- answer{id, err}
		}()
	}
	propose("held")
	for deadline := time.Now().Add(5 * time.Second); n.Raft().CommitIndex() < n.Raft().LastIndex() || n.Raft().LastIndex() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held entry was not committed")
		}
	}
	for i := range 8 {
		before := n.Raft().CommitIndex()
		propose(fmt.Sprint("queued", i))
		for deadline := time.Now().Add(5 * time.Second); n.Raft().CommitIndex() == before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("entry queued%d was not committed", i)
			}
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	for deadline := time.Now().Add(5 * time.Second); n.Raft().State() != raft.Shutdown; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("raft did not begin to shut down")
		}
	}
	s.release()
	if !within(5*time.Second, func() { <-closed }) {
		t.Fatal("Close did not return within 5 s")
	}
	stranded := 0
	defer func() { t.Logf("%d of 9 commands answered ErrUncertain", stranded) }()
	for range 9 {
		select {
		case a := <-answers:
			if a.err != nil {
				stranded++
			}
			if a.err != nil && !errors.Is(a.err, replica.ErrUncertain) {
				t.Errorf("%s, committed, answered %v: want nil or ErrUncertain", a.id, a.err)
			}
			if a.err != nil && !errors.Is(a.err, replica.ErrClosed) {
				t.Errorf("%s answered %v: want ErrClosed with it, the node being closed", a.id, a.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a command committed before Close never returned")
		}
	}
}
