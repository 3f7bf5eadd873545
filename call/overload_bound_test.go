package call_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestPresenceKeepsTheBacklogBound: presence inputs are never refused for
// load, but they do not pile events up past MaxBacklog either: while
// another goroutine delivers, a goroutine's Logouts (each cancelling one
// invitation, G7) pass the limit by one input's events and no more (C5),
// and every event is delivered once the Sink goes on.
func TestPresenceKeepsTheBacklogBound(t *testing.T) {
	const maxBacklog, callers = 8, 50
	hold, inSink := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var emitted atomic.Int64
	sink := events.SinkFunc(func(e events.Event) {
		if e.Caller == "hold" {
			once.Do(func() { close(inSink); <-hold }) // the deliverer is stuck in Emit
		}
		emitted.Add(1)
	})
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs(), MaxBacklog: maxBacklog})
	if err != nil {
		t.Fatal(err)
	}
	for i := range callers {
		reg.Login(fmt.Sprint("c", i), "")
		if _, err := reg.Invite(fmt.Sprint("c", i), []string{fmt.Sprint("e", i)}, call.InviteConfig{Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	before := emitted.Load()
	go func() { _, _ = reg.Invite("hold", []string{"x"}, call.InviteConfig{}) }() // 2 events, the first holds
	<-inSink
	var done atomic.Int64
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := range callers {
			reg.Logout(fmt.Sprint("c", i), "") // one InvitationCancelled
			done.Add(1)
		}
	}()
	for deadline := time.Now().Add(200 * time.Millisecond); done.Load() < callers && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := reg.Backlog(); n > maxBacklog+1 {
		t.Errorf("%d Logouts queued %d events behind a Sink stuck in Emit, MaxBacklog %d: want at most %d", done.Load(), n, maxBacklog, maxBacklog+1)
	}
	close(hold)
	<-finished
	waitIdle(t, reg)
	if got := emitted.Load() - before; got != 2+callers {
		t.Fatalf("%d events reached the Sink, want %d", got, 2+callers)
	}
}

// TestNestedInputDuringABurstKeepsSlices: a command the Sink makes from
// inside Emit while a burst is delivered in slices must first process
// everything due (the Time rule), and cannot deliver from inside Emit nor
// wait for the deliverer it runs under: it queues the rest of the burst
// whole, where B4 wants bounded slices: two events a call of the burst,
// queued at once. RULES.md C5 states this
// exception: the Time rule wins, since taking the input between slices
// would let an answer succeed after its deadline. The test stays, skipped,
// as the measure of the bound a design that kept both would meet.
func TestNestedInputDuringABurstKeepsSlices(t *testing.T) {
	t.Skip("the exception RULES.md C5 states: a nested input processes the rest of a burst unsliced (the Time rule wins)")
	const slice, burst = 4, 100
	defer call.SetSliceEvents(slice)()
	var reg *call.Registry
	var once sync.Once
	worst := 0
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind == events.InvitationTimeout {
			once.Do(func() { reg.Login("z", "") })
		}
		worst = max(worst, reg.Backlog())
	})
	clk := clock.NewManual(t0)
	var err error
	if reg, err = call.NewRegistry(call.Options{Clock: clk, Sink: sink}); err != nil {
		t.Fatal(err)
	}
	for i := range burst {
		if _, err := reg.Invite(fmt.Sprint("a", i), []string{fmt.Sprint("b", i)}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(31 * time.Second)
	if reg.Len() != 0 {
		t.Fatalf("Len %d after the burst", reg.Len())
	}
	if worst > 3*slice {
		t.Fatalf("%d events waited for the Sink during a burst in slices of %d", worst, slice)
	}
}

// TestNestedAnswerDuringABurstFindsItTimedOut pins the side of the
// exception RULES.md C5 states: an Accept the Sink makes from inside Emit
// while a burst is handed out slice by slice is not taken between slices.
// It first processes the rest of the burst (the Time rule), so the
// invitation it answers, due in the same burst but not yet processed, has
// timed out: the Accept finds no call, and the call tells of its
// timeout, never of an acceptance.
func TestNestedAnswerDuringABurstFindsItTimedOut(t *testing.T) {
	const slice, burst = 2, 20 // one call's two timeout events a slice
	defer call.SetSliceEvents(slice)()
	var reg *call.Registry
	ids := make([]string, burst)
	var accepted error
	var once sync.Once
	var last []events.Kind // the events of the last call, in order
	sink := events.SinkFunc(func(e events.Event) {
		if e.CallID == ids[burst-1] {
			last = append(last, e.Kind)
		}
		if e.Kind == events.InvitationTimeout {
			once.Do(func() { accepted = reg.Accept(fmt.Sprint("b", burst-1), ids[burst-1], call.AcceptConfig{}) })
		}
	})
	clk := clock.NewManual(t0)
	var err error
	if reg, err = call.NewRegistry(call.Options{Clock: clk, Sink: sink}); err != nil {
		t.Fatal(err)
	}
	for i := range burst {
		res, err := reg.Invite(fmt.Sprint("a", i), []string{fmt.Sprint("b", i)}, call.InviteConfig{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = res.CallID
	}
	last = nil
	clk.Advance(31 * time.Second)
	if !errors.Is(accepted, call.ErrCallNotFound) {
		t.Fatalf("an Accept from inside Emit during the burst: %v, want ErrCallNotFound (timed out first)", accepted)
	}
	if !slices.Contains(last, events.InvitationTimeout) || slices.Contains(last, events.InvitationAccepted) {
		t.Fatalf("the last call's events %v: want it timed out, never accepted", last)
	}
	if reg.Len() != 0 {
		t.Fatalf("Len %d after the burst", reg.Len())
	}
}

// TestBurstAfterTheDelivererLeavesKeepsOneSlice: an input processing a
// burst waits when its slice finds another goroutine delivering and the
// backlog full (passSlice). That deliverer, once its own events are out,
// may give the role up with the slice still queued, leaving it to the
// input, which counts as under way (handOff). The input must then deliver
// the slice before it makes the next, so that the backlog passes one slice
// of a burst and no more (C5, B4): the Sink reads Backlog from inside each
// Emit of the burst's events.
func TestBurstAfterTheDelivererLeavesKeepsOneSlice(t *testing.T) {
	const slice = 2 // one timed-out call's two events
	defer call.SetSliceEvents(slice)()
	hold, inSink := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var reg *call.Registry
	var most atomic.Int64
	sink := events.SinkFunc(func(e events.Event) {
		if e.Caller == "hold" {
			once.Do(func() { close(inSink); <-hold }) // the deliverer is stuck in Emit
			return
		}
		if e.Kind == events.InvitationTimeout || e.Kind == events.InviteesAnsweredTimeout {
			n := int64(reg.Backlog())
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
		}
	})
	clk := newSetClock()
	var err error
	if reg, err = call.NewRegistry(call.Options{Clock: clk, Sink: sink, NewID: counterIDs()}); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if _, err := reg.Invite(fmt.Sprint("a", i), []string{fmt.Sprint("b", i)}, call.InviteConfig{Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	go func() { _, _ = reg.Invite("hold", []string{"x"}, call.InviteConfig{Timeout: 5 * time.Minute}) }()
	<-inSink
	clk.set(time.Minute) // the six invitations fall due with the next input
	done := make(chan struct{})
	go func() { defer close(done); _ = reg.Login("z", "") }()
	// The Login's first slice is queued behind the stuck batch of two.
	eventually(t, "the burst's first slice to queue", func() bool { return reg.Backlog() >= 2+slice })
	close(hold)
	<-done
	eventually(t, "events wait for the Sink", func() bool { return reg.Backlog() == 0 })
	if n := most.Load(); n > slice {
		t.Errorf("the Sink saw %d events waiting during the burst, want at most one slice (%d)", n, slice)
	}
	if n := reg.Len(); n != 1 {
		t.Errorf("%d calls live after the burst, want 1 (hold's)", n)
	}
}
