package call_test

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestBurstInSlicesKeepsTheRules: many deadlines at one instant are
// processed and delivered in slices (B4), and inputs come in between the
// slices — a command the Sink makes from inside Emit, and commands from
// another goroutine. The Time rule, Seq order and the replay of the journal
// (D1, C4) hold as they do without slices: every call of the burst times
// out at its deadline with its events in Seq order, the other calls'
// answers take effect, and Recover of the journal emits, call by call, the
// same events and reaches the same state.
func TestBurstInSlicesKeepsTheRules(t *testing.T) {
	defer call.SetSliceEvents(5)()
	const burst, others = 300, 40
	var (
		mu       sync.Mutex
		byCall   = map[string][]events.Event{}
		journal  []call.Entry
		reg      *call.Registry
		nestedID string
		start    = make(chan struct{})
		once     sync.Once
	)
	sink := events.SinkFunc(func(e events.Event) {
		mu.Lock()
		byCall[e.CallID] = append(byCall[e.CallID], e.Detach())
		n := len(byCall)
		mu.Unlock()
		if e.Kind == events.InvitationTimeout && n > 0 {
			once.Do(func() {
				close(start) // the other goroutine's answers run while the burst is delivered
				time.Sleep(time.Millisecond)
				res, err := reg.Invite("nested-caller", []string{"nested-callee"}, call.InviteConfig{Timeout: time.Minute})
				if err != nil {
					t.Errorf("Invite from inside Emit during the burst: %v", err)
				}
				nestedID = res.CallID
			})
		}
	})
	clk := clock.NewManual(t0)
	o := call.Options{Clock: clk, Sink: sink, Journal: call.JournalFunc(func(e call.Entry) error {
		mu.Lock()
		journal = append(journal, e)
		mu.Unlock()
		return nil
	})}
	var err error
	if reg, err = call.NewRegistry(o); err != nil {
		t.Fatal(err)
	}
	var burstIDs, otherIDs []string
	for i := range burst {
		res, err := reg.Invite("bc"+strconv.Itoa(i), []string{"be" + strconv.Itoa(i)}, call.InviteConfig{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		burstIDs = append(burstIDs, res.CallID)
	}
	for i := range others {
		res, err := reg.Invite("oc"+strconv.Itoa(i), []string{"oe" + strconv.Itoa(i)}, call.InviteConfig{Timeout: 90 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		otherIDs = append(otherIDs, res.CallID)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		<-start
		for i, id := range otherIDs {
			if err := reg.Accept("oe"+strconv.Itoa(i), id, call.AcceptConfig{}); err != nil {
				t.Errorf("Accept during the burst: %v", err)
			}
		}
	})
	clk.Advance(31 * time.Second)
	wg.Wait()
	waitIdle(t, reg)

	deadline := t0.Add(30 * time.Second)
	for _, id := range burstIDs {
		got := byCall[id]
		kinds := make([]events.Kind, len(got))
		for i, e := range got {
			kinds[i] = e.Kind
			if e.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d has Seq %d", id, i, e.Seq)
			}
			if i >= 2 && !e.At.Equal(deadline) {
				t.Fatalf("%s: %s at %v, want its deadline %v", id, e.Kind, e.At, deadline)
			}
		}
		want := []events.Kind{events.InvitationCreated, events.InvitationReceived, events.InviteesAnsweredTimeout, events.InvitationTimeout}
		if !slices.Equal(kinds, want) {
			t.Fatalf("%s: %v, want %v", id, kinds, want)
		}
	}
	for _, id := range otherIDs {
		if got := byCall[id]; len(got) != 4 || got[2].Kind != events.InvitationAccepted {
			t.Fatalf("%s: %d events, want its accept", id, len(got))
		}
	}
	if nestedID == "" || len(byCall[nestedID]) != 2 {
		t.Fatalf("the nested Invite's call: %v", byCall[nestedID])
	}
	if reg.Len() != 1 {
		t.Fatalf("Len %d, want 1 (the nested call)", reg.Len())
	}

	// The replay: call by call, the same events; the same state.
	replayed := map[string][]events.Event{}
	o.Journal = nil
	o.Clock = clock.NewManual(clk.Now())
	o.Sink = events.SinkFunc(func(e events.Event) { replayed[e.CallID] = append(replayed[e.CallID], e.Detach()) })
	rec, err := call.Recover(nil, journal, o)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range byCall {
		if got := replayed[id]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("call %s replayed as\n%v\nwant\n%v", id, got, want)
		}
	}
	if len(replayed) != len(byCall) {
		t.Fatalf("the replay emitted events of %d calls, want %d", len(replayed), len(byCall))
	}
	if a, b := snapshotOf(t, reg), snapshotOf(t, rec); a != b {
		t.Fatalf("the replay's state differs:\n%s\nwant\n%s", b, a)
	}
}

// TestNestedInputNeverWaits: a command the Sink makes from inside Emit,
// while more events wait than an input lets wait before it holds back, does
// not wait for the deliverer it runs under, whether it makes events or not.
func TestNestedInputNeverWaits(t *testing.T) {
	defer call.SetSliceEvents(4)()
	var reg *call.Registry
	var errs []error
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind != events.InvitationCreated || e.Caller != "alice" {
			return
		}
		errs = append(errs, reg.Accept("bob", "no-such-call", call.AcceptConfig{})) // refused: no events
		_, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{})        // two events
		errs = append(errs, err)
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		invitees := []string{"b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"} // ten events in one batch
		if _, err := reg.Invite("alice", invitees, call.InviteConfig{}); err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: a command from inside Emit waits for the deliverer it runs under")
	}
	if len(errs) != 2 || errs[1] != nil {
		t.Fatalf("nested commands: %v", errs)
	}
}
