package call_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// syncJournal is a group-commit Journal in memory: Append keeps an entry
// as pending, Sync makes every pending entry durable (or fails).
type syncJournal struct {
	mu      sync.Mutex
	entries []call.Entry
	durable int
	syncs   int
	fail    error         // when set, Sync fails with it
	onSync  func(int)     // called with the durable count Sync reaches
	gate    chan struct{} // when set, Sync waits for it
}

func (j *syncJournal) Append(e call.Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, e)
	return nil
}

func (j *syncJournal) Sync() error {
	if j.gate != nil {
		<-j.gate
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.syncs++
	if j.fail != nil {
		return j.fail
	}
	j.durable = len(j.entries)
	if j.onSync != nil {
		j.onSync(j.durable)
	}
	return nil
}

func (j *syncJournal) counts() (appended, durable, syncs int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries), j.durable, j.syncs
}

// TestOutputCommit: with a Syncer, every event reaches the Sink only once
// the entry that made it is durable, and a command returns only once its
// entry is; heartbeats and presence changes that emit nothing call no
// Sync.
func TestOutputCommit(t *testing.T) {
	j := &syncJournal{}
	clk := clock.NewManual(t0)
	var bad atomic.Value
	sink := events.SinkFunc(func(e events.Event) {
		_, durable, _ := j.counts()
		if durable == 0 {
			bad.Store("an event before any entry was durable: " + e.Kind.String())
		}
	})
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: sink, Journal: j, HeartbeatTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	reg.Login("ann", "")
	reg.Login("ben", "")
	reg.Heartbeat("ann", "")
	reg.Heartbeat("ann", "")
	if _, _, syncs := j.counts(); syncs != 0 {
		t.Fatalf("logins and heartbeats that emit nothing made %d Syncs, want 0", syncs)
	}
	j.onSync = func(n int) {} // a Sync now makes the logins durable too
	res, err := reg.Invite("ann", []string{"ben"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	appended, durable, syncs := j.counts()
	if durable != appended || syncs == 0 {
		t.Fatalf("Invite returned with %d of %d entries durable (%d Syncs)", durable, appended, syncs)
	}
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	if got := reg.JournalIndex(); got != uint64(appended) {
		t.Fatalf("JournalIndex %d, want %d", got, appended)
	}
	if err := reg.Accept("ben", res.CallID, call.AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	if a, d, _ := j.counts(); a != d {
		t.Fatalf("Accept returned with %d of %d entries durable", d, a)
	}
	// Every Sync is timed in Stats.
	_, _, syncs = j.counts()
	if h := reg.Stats().JournalSync; h.Count != uint64(syncs) || h.Count == 0 {
		t.Fatalf("Stats.JournalSync counts %d Syncs, the journal saw %d", h.Count, syncs)
	}
}

// TestOutputCommitWaitsOutsideLock: while one input waits for Sync,
// another input runs (the lock is free), and its events too wait for a
// Sync before they reach the Sink.
func TestOutputCommitWaitsOutsideLock(t *testing.T) {
	j := &syncJournal{gate: make(chan struct{})}
	var mu sync.Mutex
	var got []events.Event
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Journal: j, NewID: counterIDs(),
		Sink: events.SinkFunc(func(e events.Event) { mu.Lock(); got = append(got, e); mu.Unlock() })})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { _, err := reg.Invite("ann", []string{"ben"}, call.InviteConfig{}); done <- err }()
	go func() { _, err := reg.Invite("cat", []string{"dan"}, call.InviteConfig{}); done <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for reg.Len() < 2 { // both ran while Sync is held up
		if time.Now().After(deadline) {
			t.Fatal("the second Invite did not run while the first waited for Sync")
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("%d events delivered before any Sync returned", n)
	}
	close(j.gate)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for { // under concurrent use, a drain goroutine may deliver the last ones (C3)
		mu.Lock()
		n = len(got)
		mu.Unlock()
		if n == 4 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events, want 4", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSyncFailure: a failed Sync drops the events of entries not known
// durable, makes the command waiting for it fail with ErrJournal and the
// Syncer's error, and refuses every later input.
func TestSyncFailure(t *testing.T) {
	boom := errors.New("disk gone")
	j := &syncJournal{}
	rec := &events.Recorder{}
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Journal: j, Sink: rec, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Invite("ann", []string{"ben"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	before := len(rec.Take())
	if before == 0 {
		t.Fatal("no events before the failure")
	}
	j.mu.Lock()
	j.fail = boom
	j.mu.Unlock()
	_, err = reg.Invite("cat", []string{"dan"}, call.InviteConfig{})
	if !errors.Is(err, call.ErrJournal) || !errors.Is(err, boom) {
		t.Fatalf("Invite after a failed Sync: %v, want ErrJournal and the Sync's error", err)
	}
	if got := rec.Take(); len(got) != 0 {
		t.Fatalf("%d events of an entry not durable were delivered", len(got))
	}
	appended, _, _ := j.counts()
	j.mu.Lock()
	j.fail = nil // the failure is final even if Sync would work again
	j.mu.Unlock()
	_, err = reg.Invite("eve", []string{"ann"}, call.InviteConfig{})
	if !errors.Is(err, call.ErrJournal) || !errors.Is(err, boom) {
		t.Fatalf("Invite after the failure: %v, want ErrJournal", err)
	}
	if a, _, _ := j.counts(); a != appended {
		t.Fatal("an input was journaled after a failed Sync")
	}
	if got := rec.Take(); len(got) != 0 {
		t.Fatalf("%d events delivered after a failed Sync", len(got))
	}
	if n := reg.Backlog(); n != 0 {
		t.Fatalf("backlog %d after the dropped events", n)
	}
	// Stats counts what went to the Sink: the dropped events are not.
	var counted uint64
	for _, c := range reg.Stats().Events {
		counted += c.Count
	}
	if counted != uint64(before) {
		t.Fatalf("Stats counts %d events, %d went to the Sink", counted, before)
	}
}

// TestSnapshotIndex: a snapshot names the entries its state has seen;
// Restore and Recover go on counting from it; a snapshot without the
// member reads as 0.
func TestSnapshotIndex(t *testing.T) {
	j := &memJournal{}
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Journal: j, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	reg.Login("ann", "")
	if _, err := reg.Invite("ann", []string{"ben"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	snap, err := reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	n, err := call.SnapshotIndex(snap)
	if err != nil || n != 2 || n != reg.JournalIndex() {
		t.Fatalf("SnapshotIndex = %d, %v; want 2 (JournalIndex %d)", n, err, reg.JournalIndex())
	}
	if !strings.Contains(string(snap), `"journal":2,`) {
		t.Fatalf("snapshot without its index: %s", snap)
	}
	r2, err := call.Restore(snap, call.Options{Clock: clock.NewManual(t0)})
	if err != nil || r2.JournalIndex() != 2 {
		t.Fatalf("Restore: JournalIndex %d, %v", r2.JournalIndex(), err)
	}
	r3, err := call.Recover(snap, []call.Entry{{Op: call.OpLogin, At: t0, User: "ben"}}, call.Options{Clock: clock.NewManual(t0)})
	if err != nil || r3.JournalIndex() != 3 {
		t.Fatalf("Recover: JournalIndex %d, %v", r3.JournalIndex(), err)
	}
	old := strings.Replace(string(snap), `"journal":2,`, "", 1)
	if n, err := call.SnapshotIndex([]byte(old)); err != nil || n != 0 {
		t.Fatalf("a snapshot without the member: %d, %v", n, err)
	}
	if _, err := call.Restore([]byte(old), call.Options{}); err != nil {
		t.Fatalf("a snapshot without the member: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(string(snap), `"journal":2`, `"journal":-1`, 1),
		strings.Replace(string(snap), `"journal":2`, `"journal":18446744073709551615`, 1),
		`{"callsig_snapshot":9}`,
		``,
	} {
		if _, err := call.SnapshotIndex([]byte(bad)); !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("SnapshotIndex(%.60q): %v, want ErrInvalidArgument", bad, err)
		}
		if _, err := call.Restore([]byte(bad), call.Options{}); !errors.Is(err, call.ErrInvalidArgument) {
			t.Errorf("Restore(%.60q): %v, want ErrInvalidArgument", bad, err)
		}
	}
}

// TestRecoverFiresPassedDeadlineAtOnce: after Recover, a deadline the
// clock is already past falls due at the next firing, however long after
// the last journaled entry it was, as after Restore.
func TestRecoverFiresPassedDeadlineAtOnce(t *testing.T) {
	j := &memJournal{}
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Journal: j, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Invite("ann", []string{"ben"}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(t0.Add(time.Hour)) // restarted long after the deadline
	got, err := call.Recover(nil, j.entries(t), call.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(0)
	if n := got.Len(); n != 0 {
		t.Fatalf("%d calls live after the first firing, want 0: the deadline passed an hour ago", n)
	}
}

// TestRecoverySink: the events Recover replays go to RecoverySink, the
// later ones to Sink.
func TestRecoverySink(t *testing.T) {
	j := &memJournal{}
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Journal: j, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := reg.Invite("ann", []string{"ben"}, call.InviteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	replayed, live := &events.Recorder{}, &events.Recorder{}
	got, err := call.Recover(nil, j.entries(t), call.Options{Clock: clock.NewManual(t0), Sink: live, RecoverySink: replayed})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(replayed.Take()); n != 2 {
		t.Fatalf("RecoverySink got %d events, want 2", n)
	}
	if n := len(live.Take()); n != 0 {
		t.Fatalf("Sink got %d events during Recover, want 0", n)
	}
	if _, err := got.Cancel("ann", res.CallID, nil, call.CancelConfig{}); err != nil {
		t.Fatal(err)
	}
	if len(live.Take()) == 0 || len(replayed.Take()) != 0 {
		t.Fatal("events after Recover did not go to Sink")
	}
}
