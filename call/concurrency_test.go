package call_test

import (
	"fmt"
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
