package call_test

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// Rules of RULES.md §6 that the journal, replay and restore tests reach only
// in passing: each is pinned here on its own.

// armCounter is a Clock that counts the timers made and reset through it.
type armCounter struct {
	*clock.Manual
	made, resets int
}

func (c *armCounter) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.made++
	return &countedTimer{c.Manual.AfterFunc(d, f).(clock.Resetter), c}
}

type countedTimer struct {
	clock.Resetter
	c *armCounter
}

func (t *countedTimer) Reset(d time.Duration) bool { t.c.resets++; return t.Resetter.Reset(d) }

// TestRecoverArmsNoTimerUntilTheLastEntry: Recover applies every entry with
// no clock timer armed (a timer firing halfway would process deadlines
// against the live clock before the rest of the journal is applied), then
// arms one, for the earliest deadline.
func TestRecoverArmsNoTimerUntilTheLastEntry(t *testing.T) {
	j := &memJournal{}
	a := newRig(t, t0, j, nil)
	// Each invite's deadline is earlier than the one before, so arming
	// after each entry would reset the timer every time.
	for i, timeout := range []time.Duration{60 * time.Second, 30 * time.Second, 10 * time.Second} {
		if _, err := a.reg.Invite("alice", []string{users[i]}, call.InviteConfig{Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
	}
	clk := &armCounter{Manual: clock.NewManual(t0)}
	b, err := call.Recover(nil, j.entries(t), call.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if clk.made != 1 || clk.resets != 0 || clk.Pending() != 1 {
		t.Fatalf("Recover made %d timers and reset them %d times (%d pending), want one timer, armed once", clk.made, clk.resets, clk.Pending())
	}
	clk.Advance(10 * time.Second) // the one timer is for the earliest deadline
	if _, live := b.Call("c3"); live || b.Len() != 2 {
		t.Fatalf("after the earliest deadline: c3 live %v, %d calls, want it over and 2 left", live, b.Len())
	}
}

// TestTickIsJournaledBeforeTheInput: D1 — the passing of time an input
// brings is journaled as its own entry, before the input's, both at the
// input's reading.
func TestTickIsJournaledBeforeTheInput(t *testing.T) {
	j := &memJournal{}
	clk := clock.NewManual(t0)
	r, err := call.NewRegistry(call.Options{Clock: slowClock{clk, neverFires}, Journal: j, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(15 * time.Second) // the timer never fires: the Login brings the timeout
	r.Login("carol", "")
	es := j.entries(t)
	var ops []call.Op
	for _, e := range es {
		ops = append(ops, e.Op)
	}
	if want := []call.Op{call.OpInvite, call.OpTick, call.OpLogin}; !slices.Equal(ops, want) {
		t.Fatalf("journaled %v, want %v", ops, want)
	}
	if at := t0.Add(15 * time.Second); !es[1].At.Equal(at) || !es[2].At.Equal(at) {
		t.Fatalf("tick at %v, login at %v, want both at %v", es[1].At, es[2].At, at)
	}
}

// TestRefusedPresenceChangesAreDropped: D1 — a Logout or a Heartbeat the
// Journal refuses is dropped: the caller stays online (no G7), and the
// device's heartbeat deadline stays where the last accepted one put it
// (H5).
func TestRefusedPresenceChangesAreDropped(t *testing.T) {
	boom := errors.New("disk full")
	j := &memJournal{}
	clk := clock.NewManual(t0)
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, Journal: j, NewID: counterIDs(), HeartbeatTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.Login("alice", "a")
	if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	j.refuse = boom
	r.Logout("alice", "a")
	if evs := rec.Take(); len(evs) != 0 || r.Len() != 1 {
		t.Fatalf("a refused Logout took effect: %d calls, events %v", r.Len(), evs)
	}
	clk.Advance(8 * time.Second)
	r.Heartbeat("alice", "a") // refused: the deadline stays at 10s
	j.refuse = nil
	clk.Advance(2 * time.Second)
	evs := rec.Take()
	if len(evs) != 1 || evs[0].Kind != events.InvitationCancelled || evs[0].Reason != events.ReasonCallerOffline ||
		!evs[0].At.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("at 10s the caller's device lapses, as if the refused heartbeat never came (G7): %v", evs)
	}
}

// TestQueriesReadNoClock: D4 — Call, Len, History, Snapshot and Backlog
// read no clock and process nothing: an invitation whose deadline passed,
// with the timer not yet fired, still shows as pending, in the Snapshot
// too.
func TestQueriesReadNoClock(t *testing.T) {
	// A clock whose timers never fire, that counts readings.
	counted := &nowCounter{Manual: clock.NewManual(t0)}
	r, err := call.NewRegistry(call.Options{Clock: countedLateClock{counted, neverFires}, NewID: counterIDs(), History: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	counted.Advance(time.Minute) // the deadline passed; no timer fires
	before := counted.reads
	info, live := r.Call("c1")
	n := r.Len()
	hist, _, herr := r.History("alice", 0, "")
	snap, serr := r.Snapshot()
	backlog := r.Backlog()
	if counted.reads != before {
		t.Fatalf("the queries read the clock %d times", counted.reads-before)
	}
	if !live || info.Members[1].State != events.Inviting || n != 1 || herr != nil || len(hist) != 0 || serr != nil || backlog != 0 {
		t.Fatalf("the queries processed the deadline: Call %v %+v, Len %d, History %v %v, Backlog %d", live, info.Members, n, hist, herr, backlog)
	}
	if !bytes.Contains(snap, []byte(`"User":"bob","State":"Inviting"`)) {
		t.Fatalf("the Snapshot does not show the invitation pending: %s", snap)
	}
}

// countedLateClock is a Clock whose timers fire late by late (neverFires: never),
// reading the time through a nowCounter.
type countedLateClock struct {
	*nowCounter
	late time.Duration
}

func (c countedLateClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.Manual.AfterFunc(d+c.late, f)
}

// TestSnapshotFromInsideEmit: D2 — a Snapshot taken from inside Emit holds
// the state after the command; events not yet delivered are not in it, so
// a Registry restored from it sends none of them again, and Seq continues.
func TestSnapshotFromInsideEmit(t *testing.T) {
	var snap []byte
	var r *call.Registry
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind == events.InvitationCreated {
			var err error
			if snap, err = r.Snapshot(); err != nil {
				t.Error(err)
			}
		}
	})
	r, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	r.Login("bob", "")
	if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want, _ := r.Snapshot()
	if !bytes.Equal(snap, want) {
		t.Fatalf("the Snapshot taken inside Emit differs from the one after the command:\n%s\n%s", snap, want)
	}
	rec := &events.Recorder{}
	b, err := call.Restore(snap, call.Options{Clock: clock.NewManual(t0), Sink: rec})
	if err != nil {
		t.Fatal(err)
	}
	if evs := rec.Take(); len(evs) != 0 {
		t.Fatalf("Restore sent events again: %v", evs)
	}
	if err := b.Accept("bob", "c1", call.AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	if evs := rec.Take(); len(evs) != 2 || evs[0].Seq != 3 || evs[1].Seq != 4 {
		t.Fatalf("after the restore, Seq must continue at 3: %v", evs)
	}
}

// stepClock is a Manual whose reading can be stepped away from its timers'
// time, as a wall clock that an operator or NTP sets back.
type stepClock struct {
	*clock.Manual
	mu   sync.Mutex
	skew time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Manual.Now().Add(c.skew)
}

func (c *stepClock) step(d time.Duration) {
	c.mu.Lock()
	c.skew = d
	c.mu.Unlock()
}

// D3 with timers: a refused input at a later reading does not move the
// Registry's time, so after the clock steps back a new call's deadline
// may lie before that reading. The timer must wait for the deadline,
// counted from the clock's reading now, not fire at once, find nothing due
// and arm again for as long as the clock is behind (it did once).
func TestTimerAfterTheClockStepsBack(t *testing.T) {
	clk := &stepClock{Manual: clock.NewManual(t0)}
	rec := &events.Recorder{}
	r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	clk.step(time.Minute)
	if err := r.Accept("x", "nope", call.AcceptConfig{}); !errors.Is(err, call.ErrCallNotFound) {
		t.Fatal(err)
	}
	clk.step(0) // back to t0
	res, err := r.Invite("a", []string{"b"}, call.InviteConfig{Timeout: 30 * time.Second})
	if err != nil || !res.Deadline.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("Invite: %+v, %v", res, err)
	}
	rec.Take()
	done := make(chan struct{})
	go func() {
		defer close(done)
		clk.Advance(30*time.Second - time.Nanosecond)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Advance did not return: the timer fires and arms again without end")
	}
	if evs := rec.Take(); len(evs) != 0 {
		t.Fatalf("before the deadline: %v", evs)
	}
	clk.Advance(time.Nanosecond)
	if evs := rec.Take(); len(evs) != 2 || !evs[0].At.Equal(res.Deadline) {
		t.Fatalf("at the deadline: %v", evs)
	}
}
