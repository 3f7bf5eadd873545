package call_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// C6: a panic in host code reaches the goroutine whose input called it and
// leaves the Registry usable and consistent. Each test makes one callback
// panic once, checks that the panic came out of the command, that the lock
// was released (the Registry answers within a second), that nothing changed
// where the input had not taken effect, and that the Registry goes on
// working.

// mustPanic calls f and returns what it panicked with, failing if it did not.
func mustPanic(t *testing.T, what string, f func()) (v any) {
	t.Helper()
	defer func() {
		v = recover()
		if v == nil {
			t.Fatalf("%s did not panic", what)
		}
	}()
	f()
	return nil
}

// answers fails unless reg answers a query within a second: a Registry
// whose lock a panic left held never does.
func answers(t *testing.T, reg *call.Registry) {
	t.Helper()
	done := make(chan struct{})
	go func() { reg.Len(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the Registry is wedged: Len did not return within a second")
	}
}

// snapshotOf returns reg's snapshot, failing the test on error.
func snapshotOf(t *testing.T, reg *call.Registry) string {
	t.Helper()
	b, err := reg.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// panicOnce is armed to panic the next time hit is called.
type panicOnce struct{ armed atomic.Bool }

func (p *panicOnce) hit(what string) {
	if p.armed.CompareAndSwap(true, false) {
		panic("host " + what + " panicked")
	}
}

// faultyClock is a Manual whose Now and AfterFunc can be made to panic.
type faultyClock struct {
	*clock.Manual
	now, afterFunc panicOnce
}

func (c *faultyClock) Now() time.Time { c.now.hit("Now"); return c.Manual.Now() }
func (c *faultyClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.afterFunc.hit("AfterFunc")
	return c.Manual.AfterFunc(d, f)
}

func TestPanicInClockNowChangesNothing(t *testing.T) {
	clk := &faultyClock{Manual: clock.NewManual(t0)}
	rec := &events.Recorder{}
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	before := snapshotOf(t, reg)
	clk.now.armed.Store(true)
	mustPanic(t, "Invite with a panicking Clock.Now", func() {
		_, _ = reg.Invite("carol", []string{"dave"}, call.InviteConfig{})
	})
	answers(t, reg)
	if after := snapshotOf(t, reg); after != before {
		t.Fatalf("the panicked Invite changed the state:\n%s\nwant\n%s", after, before)
	}
	if got := rec.Take(); len(got) != 0 {
		t.Fatalf("the panicked Invite emitted %v", got)
	}
	if _, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{}); err != nil {
		t.Fatalf("Invite after the panic: %v", err)
	}
	clk.Advance(31 * time.Second) // the first call still times out: the timer works
	if !slices.ContainsFunc(rec.Take(), func(e events.Event) bool { return e.Kind == events.InvitationTimeout && e.To == "bob" }) {
		t.Fatal("bob's invitation did not time out after the panic")
	}
}

func TestPanicInNewIDChangesNothing(t *testing.T) {
	var p panicOnce
	ids := counterIDs()
	rec := &events.Recorder{}
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: rec,
		NewID: func() string { p.hit("NewID"); return ids() }})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshotOf(t, reg)
	p.armed.Store(true)
	mustPanic(t, "Invite with a panicking NewID", func() {
		_, _ = reg.Invite("alice", []string{"bob"}, call.InviteConfig{})
	})
	answers(t, reg)
	if after := snapshotOf(t, reg); after != before {
		t.Fatalf("the panicked Invite changed the state:\n%s\nwant\n%s", after, before)
	}
	if reg.Len() != 0 || len(rec.Take()) != 0 {
		t.Fatal("the panicked Invite made a call or emitted")
	}
	if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatalf("Invite after the panic: %v", err)
	}
	if got := len(rec.Take()); got != 2 {
		t.Fatalf("Invite after the panic emitted %d events, want 2", got)
	}
}

func TestPanicInJournalChangesNothing(t *testing.T) {
	var p panicOnce
	var journaled []call.Entry
	clk := clock.NewManual(t0)
	rec := &events.Recorder{}
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: counterIDs(),
		Journal: call.JournalFunc(func(e call.Entry) error {
			if e.Op != call.OpTick || p.armed.Load() {
				p.hit("Journal.Append")
			}
			journaled = append(journaled, e)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	res, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec.Take()
	before, n := snapshotOf(t, reg), len(journaled)
	p.armed.Store(true)
	mustPanic(t, "Accept with a panicking Journal", func() {
		_ = reg.Accept("bob", res.CallID, call.AcceptConfig{})
	})
	answers(t, reg)
	if after := snapshotOf(t, reg); after != before || len(journaled) != n || len(rec.Take()) != 0 {
		t.Fatalf("the panicked Accept changed something:\n%s\nwant\n%s", after, before)
	}
	if err := reg.Accept("bob", res.CallID, call.AcceptConfig{}); err != nil {
		t.Fatalf("Accept after the panic: %v", err)
	}

	// The passing of time, journaled by the timer inside Manual.Advance.
	if _, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	before, n = snapshotOf(t, reg), len(journaled)
	p.armed.Store(true)
	mustPanic(t, "Manual.Advance whose timer journals into a panicking Journal", func() { clk.Advance(31 * time.Second) })
	answers(t, reg)
	if after := snapshotOf(t, reg); after != before || len(journaled) != n || len(rec.Take()) != 0 {
		t.Fatalf("the panicked passing of time changed something:\n%s\nwant\n%s", after, before)
	}
	// The Manual and the Registry go on: the timer tries again, a second on
	// at the earliest, as after a refusal (D1).
	clk.Advance(time.Second)
	if got := rec.Take(); len(got) != 2 || got[0].Kind != events.InviteesAnsweredTimeout || !got[0].At.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("after the retry: %v, want carol's call timed out at its deadline", got)
	}
}

func TestPanicInAdmitChangesNothing(t *testing.T) {
	var p panicOnce
	rec := &events.Recorder{}
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: rec, NewID: counterIDs(),
		Admit: func(inviter, invitee string) error { p.hit("Admit"); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	mustPanic(t, "Invite with a panicking Admit", func() {
		_, _ = reg.Invite("alice", []string{"bob"}, call.InviteConfig{})
	})
	answers(t, reg)
	if reg.Len() != 0 || len(rec.Take()) != 0 {
		t.Fatal("the panicked Invite made a call or emitted")
	}
	if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
		t.Fatalf("Invite after the panic: %v", err)
	}
}

// A panic in AfterFunc comes after the input took effect: the command
// panics, its change stands, its events are delivered, and the next input
// arms the timer.
func TestPanicInAfterFuncKeepsTheChange(t *testing.T) {
	clk := &faultyClock{Manual: clock.NewManual(t0)}
	rec := &events.Recorder{}
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	clk.afterFunc.armed.Store(true)
	mustPanic(t, "Invite with a panicking AfterFunc", func() {
		_, _ = reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second})
	})
	answers(t, reg)
	waitIdle(t, reg)
	if reg.Len() != 1 || len(rec.Take()) != 2 {
		t.Fatal("the Invite whose AfterFunc panicked did not take effect, or its events were lost")
	}
	clk.Advance(31 * time.Second)
	if got := rec.Take(); len(got) != 2 || got[1].Kind != events.InvitationTimeout {
		t.Fatalf("after the panic the call did not time out: %v", got)
	}
}

// A Sink that panics on one event loses that event only: the rest of the
// batch, another command's events included, reaches the Sink in Seq order.
func TestSinkPanicLosesOnlyItsEvent(t *testing.T) {
	var got []string
	var reg *call.Registry
	nested := false
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind == events.InvitationCreated && e.Caller == "alice" && !nested {
			nested = true // another command's events join the queue behind this batch
			if _, err := reg.Invite("erin", []string{"frank"}, call.InviteConfig{}); err != nil {
				panic(err)
			}
		}
		if e.To == "carol" {
			panic("host Sink panicked")
		}
		got = append(got, fmt.Sprintf("%s %d %s", e.CallID, e.Seq, e.To))
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	v := mustPanic(t, "Invite with a panicking Sink", func() {
		_, _ = reg.Invite("alice", []string{"bob", "carol", "dave"}, call.InviteConfig{})
	})
	if v != "host Sink panicked" {
		t.Fatalf("panicked with %v", v)
	}
	answers(t, reg)
	waitIdle(t, reg)
	want := []string{"c1 1 alice", "c1 2 bob", "c1 4 dave", "c2 1 erin", "c2 2 frank"}
	if !slices.Equal(got, want) {
		t.Fatalf("the Sink got\n%v\nwant\n%v", got, want)
	}
	if _, err := reg.Invite("gina", []string{"hal"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want)+2 {
		t.Fatalf("after the panic the Registry delivered %v", got[len(want):])
	}
}

// A panic in a command the Sink made from inside Emit goes up through Emit:
// the outer command's delivery treats it as the Sink's panic on that event.
func TestPanicInNestedCommand(t *testing.T) {
	var p panicOnce
	ids := counterIDs()
	var got []string
	var reg *call.Registry
	sink := events.SinkFunc(func(e events.Event) {
		got = append(got, fmt.Sprintf("%s %d %s", e.CallID, e.Seq, e.To))
		if e.Kind == events.InvitationReceived && e.To == "bob" {
			p.armed.Store(true)
			_, _ = reg.Invite("bob", []string{"zoe"}, call.InviteConfig{}) // NewID panics inside
		}
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink,
		NewID: func() string { p.hit("NewID"); return ids() }})
	if err != nil {
		t.Fatal(err)
	}
	mustPanic(t, "Invite whose Sink's nested Invite panicked", func() {
		_, _ = reg.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{})
	})
	answers(t, reg)
	waitIdle(t, reg)
	want := []string{"c1 1 alice", "c1 2 bob", "c1 3 carol"}
	if !slices.Equal(got, want) {
		t.Fatalf("the Sink got\n%v\nwant\n%v", got, want)
	}
	if reg.Len() != 1 {
		t.Fatalf("Len %d: the nested Invite that panicked made a call", reg.Len())
	}
	if _, err := reg.Invite("bob", []string{"zoe"}, call.InviteConfig{}); err != nil {
		t.Fatalf("Invite after the panic: %v", err)
	}
}

// reentrantClock is a Clock whose Now asks its Registry something while
// on is set: a host clock that logs or counts through the Registry.
type reentrantClock struct {
	*clock.Manual
	reg *call.Registry
	on  atomic.Bool
}

func (c *reentrantClock) Now() time.Time {
	if c.on.Load() {
		_ = c.reg.Len()
	}
	return c.Manual.Now()
}

// A command reads the Clock before it takes the Registry's lock: the
// Clock is host code, and may call the Registry back.
func TestClockMayCallTheRegistry(t *testing.T) {
	clk := &reentrantClock{Manual: clock.NewManual(t0)}
	reg, err := call.NewRegistry(call.Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	clk.reg = reg
	clk.on.Store(true)
	done := make(chan error, 1)
	go func() {
		res, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{})
		if err == nil {
			err = reg.Accept("bob", res.CallID, call.AcceptConfig{})
		}
		if err == nil {
			err = reg.Login("carol", "")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Clock that calls the Registry deadlocked a command")
	}
}
