package call_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// timerOps is a Clock that counts what is done to its timers: made, reset
// and stopped.
type timerOps struct {
	*clock.Manual
	made, resets, stops int
}

func (c *timerOps) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.made++
	return &opsTimer{c.Manual.AfterFunc(d, f).(clock.Resetter), c}
}

type opsTimer struct {
	clock.Resetter
	c *timerOps
}

func (t *opsTimer) Reset(d time.Duration) bool { t.c.resets++; return t.Resetter.Reset(d) }
func (t *opsTimer) Stop() bool                 { t.c.stops++; return t.Resetter.Stop() }

// An answer that leaves nothing due leaves the clock timer armed:
// lifecycles between users in no other call, one after another, arm the
// timer once in all, not once each, and stop it never. When it fires with nothing due it
// processes nothing: no event, no journal entry, and it is not armed again
// (G6: a call that is over holds no timer).
func TestIdleLifecyclesKeepOneTimer(t *testing.T) {
	for _, transient := range []bool{false, true} {
		clk := &timerOps{Manual: clock.NewManual(t0)}
		rec, j := &events.Recorder{}, &memJournal{}
		r, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, Journal: j, TransientMembers: transient})
		if err != nil {
			t.Fatal(err)
		}
		const n = 50
		for i := range n {
			caller, callee := users[2*i], users[2*i+1]
			res, err := r.Invite(caller, []string{callee}, call.InviteConfig{Timeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Accept(callee, res.CallID, call.AcceptConfig{}); err != nil {
				t.Fatal(err)
			}
			clk.Advance(100 * time.Millisecond) // the deadlines move on: each invite's is later than the timer
		}
		if ops := clk.made + clk.resets + clk.stops; ops > 2 || clk.stops != 0 {
			t.Fatalf("transient %v: %d lifecycles made %d timers, reset them %d times and stopped them %d times; want the one timer armed once, never stopped",
				transient, n, clk.made, clk.resets, clk.stops)
		}
		if r.Len() != 0 || clk.Pending() != 1 {
			t.Fatalf("transient %v: %d calls live and %d timers pending, want none and the one left armed", transient, r.Len(), clk.Pending())
		}
		rec.Take()
		entries := len(j.lines)
		clk.Advance(time.Minute) // past the one timer: it fires with nothing due
		if evs := rec.Take(); len(evs) != 0 {
			t.Fatalf("transient %v: a timer firing with nothing due emitted %+v", transient, evs)
		}
		if len(j.lines) != entries {
			t.Fatalf("transient %v: a timer firing with nothing due journaled %d entries", transient, len(j.lines)-entries)
		}
		if clk.Pending() != 0 || clk.made+clk.resets > 2 {
			t.Fatalf("transient %v: after the firing, %d timers pending (made %d, reset %d): want none armed again", transient, clk.Pending(), clk.made, clk.resets)
		}
	}
}

// A Registry a host drops is collected once its clock holds no timer of
// it: here, once the timer left armed after the last call (see arm) has
// fired. Until then the clock's timer keeps it reachable.
func TestDroppedRegistryIsCollectedOnceItsTimerFired(t *testing.T) {
	clk := clock.NewManual(t0)
	collected := make(chan struct{})
	func() {
		r, err := call.NewRegistry(call.Options{Clock: clk, Sink: events.Discard})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Accept("bob", res.CallID, call.AcceptConfig{}); err != nil {
			t.Fatal(err)
		}
		runtime.AddCleanup(r, func(ch chan struct{}) { close(ch) }, collected)
	}()
	if clk.Pending() != 1 {
		t.Fatalf("%d timers pending, want the Registry's one", clk.Pending())
	}
	clk.Advance(time.Minute)
	if clk.Pending() != 0 {
		t.Fatalf("%d timers pending after the clock passed the deadline", clk.Pending())
	}
	for range 20 {
		runtime.GC()
		select {
		case <-collected:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the dropped Registry was not collected once its timer had fired")
}
