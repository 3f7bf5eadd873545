package call_test

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// TestOverloadUnderASlowSink drives a Registry from several goroutines
// through a Sink slower than the commands that feed it (C3, C5):
//   - the events waiting for the Sink never pass MaxBacklog by more than
//     one command's;
//   - commands over the limit are refused with ErrOverloaded and change
//     nothing;
//   - no command is kept delivering others' events: the slowest command
//     takes about what delivering MaxBacklog events takes, not the run;
//   - once the goroutines stop, every event of every command that
//     succeeded reaches the Sink exactly once, in Seq order per call.
func TestOverloadUnderASlowSink(t *testing.T) {
	const (
		maxBacklog = 400
		workers    = 4
		perEvent   = 5 * time.Microsecond
		run        = 600 * time.Millisecond
	)
	var (
		mu      sync.Mutex
		lastSeq = map[string]uint64{} // by call: the last Seq emitted
		emitted atomic.Int64
		bad     atomic.Value
	)
	sink := events.SinkFunc(func(e events.Event) {
		mu.Lock()
		if want := lastSeq[e.CallID] + 1; e.Seq != want {
			bad.CompareAndSwap(nil, e.CallID+": Seq "+strconv.FormatUint(e.Seq, 10)+" after "+strconv.FormatUint(want-1, 10))
		}
		lastSeq[e.CallID] = e.Seq
		mu.Unlock()
		for start := time.Now(); time.Since(start) < perEvent; {
		}
		emitted.Add(1)
	})
	reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: concurrentIDs(), MaxBacklog: maxBacklog})
	if err != nil {
		t.Fatal(err)
	}
	var made, refused, worstBacklog, slowest atomic.Int64
	goroutines := runtime.NumGoroutine()
	stop := time.Now().Add(run)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// timed runs one command, counting its latency; a refused
			// command is retried, as a host whose client retries would.
			timed := func(events int64, cmd func() error) bool {
				for time.Now().Before(stop) {
					start := time.Now()
					err := cmd()
					raise(&slowest, int64(time.Since(start)))
					switch {
					case err == nil:
						raise(&worstBacklog, made.Add(events)-emitted.Load())
						return true
					case errors.Is(err, call.ErrOverloaded):
						refused.Add(1)
						runtime.Gosched()
					default:
						t.Error(err)
						return false
					}
				}
				return false
			}
			for i := 0; time.Now().Before(stop); i++ {
				caller, callee := "a"+strconv.Itoa(w)+"-"+strconv.Itoa(i), "b"+strconv.Itoa(w)+"-"+strconv.Itoa(i)
				var id string
				if !timed(2, func() error {
					res, err := reg.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Minute})
					id = res.CallID
					return err
				}) {
					return
				}
				if !timed(2, func() error { return reg.Accept(callee, id, call.AcceptConfig{}) }) {
					// Left ringing when the run ended: cancel it so that
					// every call made is accounted for.
					if _, err := reg.Cancel(caller, id, nil, call.CancelConfig{}); err != nil && !errors.Is(err, call.ErrOverloaded) {
						t.Error(err)
					} else if err == nil {
						made.Add(1) // InvitationCancelled to the callee
					}
				}
			}
		})
	}
	wg.Wait()
	waitIdle(t, reg)
	// The drain goroutine ends once the queue is empty: none outlives the work.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines once inputs stopped, %d before", runtime.NumGoroutine(), goroutines)
		}
	}
	if v := bad.Load(); v != nil {
		t.Fatalf("out of Seq order: %v", v)
	}
	// A command passes the check just under the limit, then adds its own
	// events (two for an invite or an accept of one invitee).
	if w := worstBacklog.Load(); w > maxBacklog+2 {
		t.Errorf("%d events waited for the Sink, want at most %d", w, maxBacklog+2)
	}
	if refused.Load() == 0 {
		t.Errorf("no command was refused with ErrOverloaded: the Sink did not fall behind")
	}
	if got, want := emitted.Load(), made.Load(); got != want {
		t.Errorf("%d events reached the Sink, want %d: one per event of every command that succeeded", got, want)
	}
	// Delivering MaxBacklog events takes milliseconds; allow for a slow,
	// shared or race-instrumented machine, far under the run's length,
	// which a deliverer kept delivering others' events would approach.
	if s := time.Duration(slowest.Load()); s > run/3 {
		t.Errorf("the slowest command took %v of a %v run", s, run)
	}
	t.Logf("%d events, %d refusals, worst backlog %d, slowest command %v",
		emitted.Load(), refused.Load(), worstBacklog.Load(), time.Duration(slowest.Load()))
}

// TestOverloadRefusesCommandsOnly: while the backlog is at MaxBacklog, every
// command is refused with ErrOverloaded before anything else is checked
// (even a malformed one), is not journaled and changes nothing; Login,
// Logout and the passing of time still take effect (C5).
func TestOverloadRefusesCommandsOnly(t *testing.T) {
	var reg *call.Registry
	var journaled []call.Entry
	clk := clock.NewManual(t0)
	var during []error
	var res call.InviteResult
	nested := false
	sink := events.SinkFunc(func(e events.Event) {
		if nested || e.Kind != events.InvitationCreated || e.Caller != "alice" {
			return
		}
		nested = true // inside Emit, four events wait (the rest of the batch and the nested invite's)
		_, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{})
		during = append(during, err)
		before := len(journaled)
		_, err = reg.Invite("", nil, call.InviteConfig{Timeout: -1}) // malformed: ErrOverloaded wins
		during = append(during, err)
		during = append(during, reg.Accept("bob", res.CallID, call.AcceptConfig{}))
		_, err = reg.Cancel("alice", res.CallID, nil, call.CancelConfig{})
		during = append(during, err)
		if len(journaled) != before {
			t.Errorf("a refused command was journaled: %v", journaled[before:])
		}
		if err := reg.Login("bob", "phone"); err != nil { // presence is never refused for load
			t.Errorf("Login under overload: %v", err)
		}
		if len(journaled) != before+1 {
			t.Errorf("Login under overload was not journaled")
		}
		if err := reg.Replay("bob", "phone"); err != nil || len(journaled) != before+2 { // nor the rest of a login
			t.Errorf("Replay under overload: %v, journaled: %v", err, journaled[before:])
		}
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clk, Sink: sink, NewID: counterIDs(), MaxBacklog: 3,
		Journal: call.JournalFunc(func(e call.Entry) error { journaled = append(journaled, e); return nil })})
	if err != nil {
		t.Fatal(err)
	}
	res, err = reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(during) != 4 || during[0] != nil {
		t.Fatalf("the first nested Invite (2 events waiting, limit 3): %v", during)
	}
	for i, err := range during[1:] {
		var ce *call.Error
		if !errors.Is(err, call.ErrOverloaded) || !errors.As(err, &ce) {
			t.Errorf("command %d under overload: %v, want ErrOverloaded", i+1, err)
		}
	}
	if info, ok := reg.Call(res.CallID); !ok || info.Members[1].State != events.Received {
		t.Fatalf("the refused Accept changed the call: %+v", info)
	}
	// Once delivered, commands go through again.
	if err := reg.Accept("bob", res.CallID, call.AcceptConfig{}); err != nil {
		t.Fatal(err)
	}
}

// TestMaxBacklogOption: a negative MaxBacklog means no limit.
func TestMaxBacklogOption(t *testing.T) {
	var reg *call.Registry
	var errs []error
	depth := 0
	sink := events.SinkFunc(func(e events.Event) {
		if e.Kind != events.InvitationCreated || depth >= 5 {
			return
		}
		depth++
		_, err := reg.Invite("u"+strconv.Itoa(depth), []string{"v" + strconv.Itoa(depth)}, call.InviteConfig{})
		errs = append(errs, err)
	})
	for _, tc := range []struct {
		max     int
		refused bool
	}{{-1, false}, {2, true}} {
		depth, errs = 0, nil
		var err error
		reg, err = call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs(), MaxBacklog: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
			t.Fatal(err)
		}
		refused := false
		for _, err := range errs {
			refused = refused || errors.Is(err, call.ErrOverloaded)
		}
		if refused != tc.refused {
			t.Errorf("MaxBacklog %d: nested invites %v, want refused %v", tc.max, errs, tc.refused)
		}
	}
}

// TestProducersPayForDelivery: two goroutines on one Registry with a Sink
// that does nothing never find it overloaded. An input that finds another
// goroutine delivering and a large backlog waits for it to shrink;
// without that, the goroutine that never delivered outran the one that
// did, and tens of thousands of events piled up behind a Sink that costs
// nothing.
func TestProducersPayForDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of lifecycles")
	}
	for _, transient := range []bool{false, true} {
		reg, err := call.NewRegistry(call.Options{Clock: clock.NewManual(t0), MaxBacklog: 10000, TransientMembers: transient})
		if err != nil {
			t.Fatal(err)
		}
		const perGoroutine = 60000
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				for i := range perGoroutine {
					caller, callee := "a"+strconv.Itoa(w)+"-"+strconv.Itoa(i), "b"+strconv.Itoa(w)+"-"+strconv.Itoa(i)
					res, err := reg.Invite(caller, []string{callee}, call.InviteConfig{Timeout: time.Minute})
					if err == nil {
						err = reg.Accept(callee, res.CallID, call.AcceptConfig{})
					}
					if err != nil {
						t.Errorf("TransientMembers %v: %v", transient, err)
						return
					}
				}
			})
		}
		wg.Wait()
		waitIdle(t, reg)
	}
}

// TestOverloadAsksAdmitNothing: an Invite or CallingInvite refused for load
// costs the host no Admit look-up (C5 before H7).
func TestOverloadAsksAdmitNothing(t *testing.T) {
	var reg *call.Registry
	var asked int
	var errs []error
	nested := false
	sink := events.SinkFunc(func(e events.Event) {
		if nested || e.Kind != events.InvitationCreated {
			return
		}
		nested = true // the rest of the batch waits: the backlog is at the limit
		before := asked
		_, err := reg.Invite("carol", []string{"dave"}, call.InviteConfig{})
		errs = append(errs, err)
		_, err = reg.CallingInvite("alice", e.CallID, []string{"erin"}, call.CallingInviteConfig{})
		errs = append(errs, err)
		if asked != before {
			t.Errorf("Admit asked %d times for commands refused for load", asked-before)
		}
	})
	var err error
	reg, err = call.NewRegistry(call.Options{Clock: clock.NewManual(t0), Sink: sink, NewID: counterIDs(), MaxBacklog: 1,
		Admit: func(inviter, invitee string) error { asked++; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced}); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if !errors.Is(err, call.ErrOverloaded) {
			t.Errorf("command %d under load: %v, want ErrOverloaded", i, err)
		}
	}
	if len(errs) != 2 {
		t.Fatalf("%d nested commands ran", len(errs))
	}
}
