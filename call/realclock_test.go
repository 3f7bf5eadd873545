package call_test

import (
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// On clock.Real the Registry's one timer is a *time.Timer that it resets
// (clock.Resetter) from whichever goroutine runs an input, while the
// timer's own goroutine may be firing: every unanswered call must still
// time out, once, and an answered one never.
func TestRealClockTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for real timeouts")
	}
	var mu sync.Mutex
	timedOut := map[string]int{}
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind == events.InviteesAnsweredTimeout {
			mu.Lock()
			timedOut[e.CallID]++
			mu.Unlock()
		}
	})
	r, err := call.NewRegistry(call.Options{Clock: clock.Real(), Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	invite := func(caller, callee string) string {
		res, err := r.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return res.CallID
	}
	a := invite("alice", "bob")
	answered := invite("carol", "dave")
	if err := r.Accept("dave", answered, call.AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	b := invite("erin", "frank") // later, so the timer is moved on after a fires
	c := invite("gina", "hank")

	deadline := time.Now().Add(10 * time.Second)
	for r.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := r.Len(); n != 0 {
		t.Fatalf("%d calls still live 10s after a 1s timeout", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{a, b, c} {
		if timedOut[id] != 1 {
			t.Errorf("call %s timed out %d times, want once", id, timedOut[id])
		}
	}
	if timedOut[answered] != 0 {
		t.Errorf("the answered call %s timed out", answered)
	}
}
