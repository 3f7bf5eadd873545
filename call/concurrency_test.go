package call_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// seqChecker fails the test when the events of a call do not reach the Sink
// with Seq 1, 2, 3, … (G9, C2), or when Emit runs concurrently for one call
// (C3).
type seqChecker struct {
	t      *testing.T
	mu     sync.Mutex
	last   map[string]uint64
	inside map[string]bool
}

func newSeqChecker(t *testing.T) *seqChecker {
	return &seqChecker{t: t, last: map[string]uint64{}, inside: map[string]bool{}}
}

// enter is called first thing in Emit, leave last.
func (c *seqChecker) enter(e events.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inside[e.CallID] {
		c.t.Errorf("Emit for call %s entered twice at once", e.CallID)
	}
	c.inside[e.CallID] = true
	if want := c.last[e.CallID] + 1; e.Seq != want {
		c.t.Errorf("call %s: Seq %d reached the Sink, want %d", e.CallID, e.Seq, want)
	}
	c.last[e.CallID] = e.Seq
}

func (c *seqChecker) leave(e events.Event) {
	c.mu.Lock()
	c.inside[e.CallID] = false
	c.mu.Unlock()
}

func counterIDs() func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("c%d", n.Add(1)) }
}

// TestSinkReentersDuringCommand: a Sink that answers invitations from inside
// Emit neither deadlocks nor breaks Seq order (C2), and the outermost
// command returns only once the nested commands' events are delivered (C3).
func TestSinkReentersDuringCommand(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	check := newSeqChecker(t)
	var reg *call.Registry
	var delivered []events.Event
	sink := events.SinkFunc(func(e events.Event) {
		check.enter(e)
		defer check.leave(e)
		delivered = append(delivered, e)
		if e.Kind == events.InvitationReceived && e.To != "dave" {
			// The invitee's client auto-answers as the ring arrives.
			if err := reg.Accept(e.To, e.CallID, call.AcceptConfig{}); err != nil {
				t.Errorf("nested Accept: %v", err)
			}
			if _, ok := reg.Call(e.CallID); !ok {
				t.Errorf("Call from inside Emit: the call is gone")
			}
		}
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clk, Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := reg.Invite("alice", []string{"bob", "carol", "dave"}, call.InviteConfig{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// 1 created + 3 received + 2×2 for the nested accepts, all delivered
	// before Invite returned.
	if len(delivered) != 8 {
		t.Fatalf("%d events delivered before Invite returned, want 8: %v", len(delivered), delivered)
	}
	info, _ := reg.Call(res.CallID)
	if info.Members[1].State != events.Accepted || info.Members[2].State != events.Accepted {
		t.Errorf("nested accepts did not take: %+v", info.Members)
	}
}

// TestSinkReentersDuringAdvance: the same while Manual.Advance runs the
// Registry's timer; a Sink that invites anew on every timeout keeps going
// without deadlock, and Advance returns with the nested events delivered.
func TestSinkReentersDuringAdvance(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	check := newSeqChecker(t)
	var reg *call.Registry
	var timeouts, redials atomic.Int64
	sink := events.SinkFunc(func(e events.Event) {
		check.enter(e)
		defer check.leave(e)
		if e.Kind == events.InviteesAnsweredTimeout {
			timeouts.Add(1)
			if redials.Add(1) <= 3 { // redial a few times
				if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Second}); err != nil {
					t.Errorf("nested Invite: %v", err)
				}
			}
		}
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clk, Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second) // the redials fall due inside this Advance too
	if got := timeouts.Load(); got != 4 {
		t.Errorf("%d timeouts during Advance, want 4 (the call and 3 redials)", got)
	}
	if reg.Len() != 0 || clk.Pending() != 0 {
		t.Errorf("after Advance: Len %d, Pending %d, want 0, 0", reg.Len(), clk.Pending())
	}
}

// TestConcurrentUse drives one Registry from many goroutines under -race
// (C1) while the clock advances; Seq order per call holds at the Sink, and
// once every call has timed out nothing is left.
func TestConcurrentUse(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	check := newSeqChecker(t)
	var emitted atomic.Int64
	sink := events.SinkFunc(func(e events.Event) {
		check.enter(e)
		emitted.Add(1)
		check.leave(e)
	})
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			caller := fmt.Sprintf("caller%d", w)
			for i := range rounds {
				a, b := fmt.Sprintf("u%d", (w+i)%5), fmt.Sprintf("v%d", (w*i)%7)
				reg.Login(a, "d")
				res, err := reg.Invite(caller, []string{a, b}, call.InviteConfig{Timeout: time.Duration(1+i%5) * time.Second})
				if err != nil {
					t.Errorf("Invite: %v", err)
					return
				}
				switch i % 4 {
				case 0:
					_ = reg.Accept(a, res.CallID, call.AcceptConfig{Device: "d"})
				case 1:
					_ = reg.Reject(b, res.CallID, call.RejectConfig{})
				case 2:
					_, _ = reg.Cancel(caller, res.CallID, nil, call.CancelConfig{})
				}
				reg.Logout(a, "d")
				reg.Call(res.CallID)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 200 {
			clk.Advance(100 * time.Millisecond)
		}
	}()
	wg.Wait()
	clk.Advance(10 * time.Second)
	if reg.Len() != 0 || clk.Pending() != 0 {
		t.Errorf("after every deadline: Len %d, Pending %d, want 0, 0", reg.Len(), clk.Pending())
	}
	if emitted.Load() == 0 {
		t.Error("no events emitted")
	}
}

// TestConcurrentDeliveryLosesNothing: under concurrent use a command may
// return while another goroutine delivers its events (C3), but once every
// goroutine has returned, every event has reached the Sink: a deliverer
// steps down only when nothing is queued. Each lifecycle here makes exactly
// four events (InvitationCreated, InvitationReceived, InvitationAccepted,
// UserStateChanged; no clock advance, so no timeout), so the count is exact.
// The Sink yields and re-enters the Registry now and then, to widen the
// window in which one goroutine queues events while another delivers.
//
// It runs with and without Options.TransientMembers: with it, the memory of
// ended calls and of members lists is reused once emitted while other
// goroutines queue events, and the Sink checks each event's Members as
// Emit receives it.
func TestConcurrentDeliveryLosesNothing(t *testing.T) {
	for _, transient := range []bool{false, true} {
		t.Run(fmt.Sprintf("TransientMembers=%v", transient), func(t *testing.T) {
			concurrentLifecycles(t, transient)
		})
	}
}

func concurrentLifecycles(t *testing.T, transient bool) {
	check := newSeqChecker(t)
	var emitted atomic.Int64
	var reg *call.Registry
	sink := events.SinkFunc(func(e events.Event) {
		check.enter(e)
		switch e.Kind {
		case events.InvitationCreated, events.InvitationReceived:
			if len(e.Members) != 2 || e.Members[0].User != e.Caller || e.Members[0].State != events.Accepted {
				t.Errorf("%s of %s: Members %v", e.Kind, e.CallID, e.Members)
			}
		case events.InvitationAccepted, events.UserStateChanged:
			if len(e.Members) != 1 || e.Members[0].User != e.From || e.Members[0].State != events.Accepted {
				t.Errorf("%s of %s: Members %v", e.Kind, e.CallID, e.Members)
			}
		}
		if n := emitted.Add(1); n%7 == 0 {
			runtime.Gosched()
		} else if n%11 == 0 {
			reg.Len()
		}
		check.leave(e)
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)), Sink: sink,
		NewID: counterIDs(), TransientMembers: transient})
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 6, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				caller, callee := fmt.Sprintf("a%d-%d", w, i%13), fmt.Sprintf("b%d-%d", w, i%17)
				res, err := reg.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Minute})
				if err != nil {
					t.Errorf("Invite: %v", err)
					return
				}
				if err := reg.Accept(callee, res.CallID, call.AcceptConfig{}); err != nil {
					t.Errorf("Accept: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	waitIdle(t, reg)
	if got, want := emitted.Load(), int64(4*workers*rounds); got != want {
		t.Fatalf("%d events reached the Sink once inputs stopped, want %d", got, want)
	}
}

// TestDelivererLeavesWithoutLosingEvents races a deliverer giving up its
// role without the lock against another goroutine queueing events: two
// goroutines run a lifecycle each at once, and the Sink takes a little
// while over each event, so that one's command often ends while the
// other delivers. Then inputs stop. Every event must reach the Sink with
// no further input: one queued as the deliverer left, and seen by
// neither, would wait for good (Backlog never 0).
func TestDelivererLeavesWithoutLosingEvents(t *testing.T) {
	for _, transient := range []bool{false, true} {
		t.Run(fmt.Sprintf("TransientMembers=%v", transient), func(t *testing.T) {
			var emitted atomic.Int64
			sink := events.SinkFunc(func(events.Event) {
				emitted.Add(1)
				for start := time.Now(); time.Since(start) < time.Microsecond; {
				}
			})
			reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)),
				Sink: sink, TransientMembers: transient})
			if err != nil {
				t.Fatal(err)
			}
			episodes := 2000
			if testing.Short() {
				episodes = 200
			}
			for ep := range episodes {
				var wg sync.WaitGroup
				for w := range 2 {
					wg.Go(func() {
						caller, callee := fmt.Sprintf("a%d-%d", w, ep), fmt.Sprintf("b%d-%d", w, ep)
						res, err := reg.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Minute})
						if err == nil {
							err = reg.Accept(callee, res.CallID, call.AcceptConfig{})
						}
						if err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				waitIdle(t, reg)
				if got, want := emitted.Load(), int64(8*(ep+1)); got != want {
					t.Fatalf("episode %d: %d events reached the Sink once inputs stopped, want %d", ep, got, want)
				}
			}
		})
	}
}

// TestDelivererLeavesOthersEventsToTheDrain pins the hand-off of C3 under
// concurrent use: while goroutine A delivers, B's command queues its events
// and returns without delivering them. A returns once its own events are
// out, without delivering B's (no command delivers others' events without
// end); the Registry's own goroutine delivers them, in order, so that
// nothing stays queued once inputs stop.
func TestDelivererLeavesOthersEventsToTheDrain(t *testing.T) {
	bReturned := make(chan struct{})
	var once sync.Once
	var got []string
	var mu sync.Mutex
	sink := events.SinkFunc(func(e events.Event) {
		if e.Caller == "alice" && e.Seq == 1 {
			once.Do(func() { <-bReturned }) // A delivers, and waits here until B's Invite has returned
		}
		mu.Lock()
		got = append(got, e.Caller+" "+e.Kind.String())
		mu.Unlock()
	})
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)), Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
			t.Error(err)
		}
	}()
	for reg.Len() == 0 { // A's Invite has taken effect; A is delivering, or about to
		runtime.Gosched()
	}
	if _, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 0 {
		t.Errorf("B's Invite returned after %d events reached the Sink, want 0: A delivers (%v)", len(got), got)
	}
	mu.Unlock()
	close(bReturned)
	<-aDone
	waitIdle(t, reg)
	want := []string{"alice InvitationCreated", "alice InvitationReceived", "carol InvitationCreated", "carol InvitationReceived"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("once inputs stopped, the Sink had\n%v\nwant\n%v", got, want)
	}
}

// waitIdle waits until every event reg produced has been handed to its
// Sink: under concurrent use, a command may return while the Registry's own
// goroutine still delivers (C3).
func waitIdle(t testing.TB, reg *call.Registry) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for reg.Backlog() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("events still wait for the Sink 30 s after inputs stopped: Backlog %d", reg.Backlog())
		}
		time.Sleep(100 * time.Microsecond)
	}
}
