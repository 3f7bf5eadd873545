package server

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/callsigd/internal/wstest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/coder/websocket"
)

// journaled runs fn on a Registry on a manual clock at start that
// journals to a slice, and returns the entries: the state a crashed
// server left.
func journaled(t *testing.T, fn func(r *call.Registry)) []call.Entry {
	t.Helper()
	var entries []call.Entry
	r, err := call.NewRegistry(call.Options{
		Clock: clock.NewManual(start), NewID: calltest.IDs("call-"),
		Journal: call.JournalFunc(func(e call.Entry) error { entries = append(entries, e); return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	fn(r)
	return entries
}

// recovered is a Config.NewRegistry that recovers from entries.
func recovered(entries []call.Entry) func(*Config) {
	return func(c *Config) {
		c.NewRegistry = func(o call.Options) (*call.Registry, error) { return call.Recover(nil, entries, o) }
	}
}

// The devices a recovered Registry has online get the grace period to
// reconnect (30 s without a heartbeat timeout): nothing is cancelled at
// the restart and nothing recovery replays is pushed again; bob, who
// reconnects, is online again and gets his replay; alice, who does not,
// is logged out when the grace period ends, and G7 cancels her call then.
func TestGraceAfterRestart(t *testing.T) {
	entries := journaled(t, func(r *call.Registry) {
		for _, u := range []string{"alice", "bob"} {
			if err := r.Login(u, "web"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{}); err != nil {
			t.Fatal(err)
		}
	})
	e := newEnvWith(t, call.Options{}, Limits{}, recovered(entries))
	if got := e.srv.Registry().Online(); len(got) != 2 {
		t.Fatalf("online after recovery: %v", got)
	}
	bob := e.dial("bob", "web")
	ev := bob.WaitEvents(1)[0]
	if ev.Kind != events.InvitationReceived || ev.CallID != "call-1" || ev.ToDevice != "web" {
		t.Fatalf("bob's replay: %s", calltest.FormatEvent(ev))
	}
	e.clk.Advance(DefaultGrace - time.Millisecond)
	if _, live := e.srv.Registry().Call("call-1"); !live || len(e.srv.Registry().Online()) != 2 {
		t.Fatal("the call or alice's presence did not last the grace period")
	}
	e.clk.Advance(time.Millisecond)
	evs := bob.WaitEvents(2)
	if evs[1].Kind != events.InvitationCancelled || evs[1].Reason != events.ReasonCallerOffline {
		t.Fatalf("bob got %s", calltest.FormatEvent(evs[1]))
	}
	if got := e.srv.Registry().Online(); len(got) != 1 || got[0].User != "bob" {
		t.Fatalf("online after the grace period: %v", got)
	}
	// Carol, offline, was pushed the cancel only: her invitation went out
	// before the crash and is not pushed again.
	got := e.pushes.wait(t, "carol's cancel", func(p []pushed) bool { return len(p) > 0 })
	if len(got) != 1 || got[0].to != "carol" || got[0].event.Kind != events.InvitationCancelled {
		t.Fatalf("pushes: %+v", got)
	}
}

// The grace period is the heartbeat timeout when there is one.
func TestGraceIsHeartbeatTimeout(t *testing.T) {
	entries := journaled(t, func(r *call.Registry) {
		if err := r.Login("alice", "web"); err != nil {
			t.Fatal(err)
		}
	})
	e := newEnvWith(t, call.Options{HeartbeatTimeout: 5 * time.Second}, Limits{}, recovered(entries))
	if e.srv.cfg.Grace != 5*time.Second {
		t.Fatalf("grace %v", e.srv.cfg.Grace)
	}
	e2 := newEnvWith(t, call.Options{}, Limits{}, func(c *Config) { c.Grace = time.Second; recovered(entries)(c) })
	e2.clk.Advance(time.Second)
	if got := e2.srv.Registry().Online(); got != nil {
		t.Fatalf("online after the grace period: %v", got)
	}
}

// refusingLogouts is a Journal that refuses Logout entries while refuse
// is set, and says on refused when it does.
type refusingLogouts struct {
	mu      sync.Mutex
	refuse  bool
	n       int // logouts refused
	refused chan struct{}
}

var errDiskFull = errors.New("disk full")

func (j *refusingLogouts) Append(e call.Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if e.Op == call.OpLogout && j.refuse {
		j.n++
		select {
		case j.refused <- struct{}{}:
		default:
		}
		return errDiskFull
	}
	return nil
}

func (j *refusingLogouts) count() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.n
}

func (j *refusingLogouts) set(refuse bool) {
	j.mu.Lock()
	j.refuse = refuse
	j.mu.Unlock()
}

// waitOrphan waits until the server has user's device filed for a
// logout retry (or not, with want false).
func (e *env) waitOrphan(user, device string, want bool) {
	e.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		e.srv.mu.RLock()
		_, got := e.srv.orphans[[2]string{user, device}]
		e.srv.mu.RUnlock()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s/%s orphaned: %v, want %v", user, device, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// A Logout the Journal refuses is retried on the server's clock, without
// holding up a reconnection of the device: alice, whose logout is
// refused, reconnects at once and gets her hello; once she leaves again
// and the Journal accepts, the retry logs her out and G7 cancels her call.
func TestRefusedLogoutRetried(t *testing.T) {
	j := &refusingLogouts{refused: make(chan struct{}, 1)}
	e := newEnv(t, call.Options{Journal: j}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "web")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bob.WaitEvents(1)
	j.set(true)
	_ = alice.WS.Close(1000, "bye")
	<-j.refused
	again := e.dial("alice", "web") // held up by the retries before
	again.OK("call", map[string]any{"call_id": "call-1"}, nil)
	_ = again.WS.Close(1000, "bye")
	<-j.refused
	e.waitOrphan("alice", "web", true)
	e.clk.Advance(logoutRetryFirst) // refused again
	<-j.refused
	j.set(false)
	e.clk.Advance(2 * logoutRetryFirst)
	evs := bob.WaitEvents(2)
	if evs[1].Kind != events.InvitationCancelled || evs[1].Reason != events.ReasonCallerOffline {
		t.Fatalf("bob got %s", calltest.FormatEvent(evs[1]))
	}
	e.waitOrphan("alice", "web", false)
}

// The retries are bounded: after logoutTries refusals the server gives
// up and the device stays online. Shutdown gives up at once.
func TestRefusedLogoutGivenUp(t *testing.T) {
	j := &refusingLogouts{refused: make(chan struct{}, 1)}
	e := newEnv(t, call.Options{Journal: j}, Limits{})
	alice := e.dial("alice", "web")
	j.set(true)
	_ = alice.WS.Close(1000, "bye")
	<-j.refused
	e.waitOrphan("alice", "web", true)
	e.clk.Advance(time.Minute) // every retry falls due within it
	e.waitOrphan("alice", "web", false)
	e.clk.Advance(time.Hour)
	if n := j.count(); n != logoutTries {
		t.Fatalf("%d logouts tried, want %d", n, logoutTries)
	}
	<-j.refused
	if got := e.srv.Registry().Online(); len(got) != 1 {
		t.Fatalf("online: %v", got)
	}

	bob := e.dial("bob", "web")
	_ = bob.WS.Close(1000, "bye")
	<-j.refused
	e.waitOrphan("bob", "web", true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitOrphan("bob", "web", false)
}

// With a heartbeat timeout, devices whose heartbeat deadlines (H5) passed
// while the server was down keep their ringing call if they reconnect
// within the grace period: the recovery restarts the Registry's deadlines
// from the restart (Options.ResumeHeartbeats), so nothing lapses at its
// first firing. Alice, calling bob, and bob were online two minutes
// before the restart with a 10 s timeout; half the grace period after
// it, both are still online and the call rings; they reconnect, bob gets
// his replay and accepts, and alice hears of it.
func TestGraceOutlivesLapsedHeartbeats(t *testing.T) {
	const beat = 10 * time.Second
	var entries []call.Entry
	r, err := call.NewRegistry(call.Options{
		Clock: clock.NewManual(start.Add(-2 * time.Minute)), NewID: calltest.IDs("call-"), HeartbeatTimeout: beat,
		Journal: call.JournalFunc(func(e call.Entry) error { entries = append(entries, e); return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := r.Login(u, "web"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}

	e := newEnvWith(t, call.Options{HeartbeatTimeout: beat}, Limits{}, recovered(entries))
	e.clk.Advance(beat / 2)
	if _, live := e.srv.Registry().Call("call-1"); !live || len(e.srv.Registry().Online()) != 2 {
		t.Fatalf("half the grace period after the restart: call-1 live %v, online %v", live, e.srv.Registry().Online())
	}
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "web")
	if ev := bob.WaitEvents(1)[0]; ev.Kind != events.InvitationReceived || ev.CallID != "call-1" {
		t.Fatalf("bob's replay: %s", calltest.FormatEvent(ev))
	}
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	alice.WaitFor("InvitationAccepted", func() bool {
		for _, ev := range alice.Events() {
			if ev.Kind == events.InvitationAccepted && ev.CallID == "call-1" {
				return true
			}
		}
		return false
	})
	for _, ev := range alice.Events() {
		if ev.Kind == events.InvitationCancelled {
			t.Fatalf("alice got %s", calltest.FormatEvent(ev))
		}
	}
}

// refusingLogins is a Journal that refuses every Login.
type refusingLogins struct{}

func (refusingLogins) Append(e call.Entry) error {
	if e.Op == call.OpLogin {
		return errDiskFull
	}
	return nil
}

// A Login the Journal refuses (D1) leaves the device offline, and its
// connection, which could hear only half of what it should, is closed
// with 1013 (try again later) and counted as login_refused.
func TestRefusedLoginCloses(t *testing.T) {
	e := newEnv(t, call.Options{Journal: refusingLogins{}}, Limits{})
	c, err := wstest.Dial(t, e.wsURL(e.token("alice", "web")), "alice", "web")
	if err != nil {
		t.Fatal(err)
	}
	end := c.WaitEnd()
	if code, reason := closeOf(end); code != websocket.StatusTryAgainLater || reason != "login refused" {
		t.Fatalf("the connection ended with %v, want 1013 login refused", end)
	}
	if got := e.srv.Registry().Online(); len(got) != 0 {
		t.Fatalf("online after a refused login: %v", got)
	}
	if n := e.metric(`callsigd_connection_closes_total{reason="login_refused"}`); n != 1 {
		t.Fatalf("metrics count %v refused logins", n)
	}
}

// A connection whose login was refused gets no hello, which says the
// login is done: its first frame is the close, 1013.
func TestRefusedLoginSendsNoHello(t *testing.T) {
	e := newEnv(t, call.Options{Journal: refusingLogins{}}, Limits{})
	ws, _, err := websocket.Dial(context.Background(), e.wsURL(e.token("alice", "web")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err == nil {
		t.Fatalf("the refused connection got %s", b)
	}
	if code, _ := closeOf(err); code != websocket.StatusTryAgainLater {
		t.Fatalf("the refused connection ended with %v, want 1013", err)
	}
}

// aliceCallsBob is the state a server left with alice and bob online and
// alice calling bob (call-1), and, with carol, alice calling carol too
// (call-2), carol never online.
func aliceCallsBob(t *testing.T, carol bool) []call.Entry {
	return journaled(t, func(r *call.Registry) {
		for _, u := range []string{"alice", "bob"} {
			if err := r.Login(u, "web"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
			t.Fatal(err)
		}
		if carol {
			if _, err := r.Invite("alice", []string{"carol"}, call.InviteConfig{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// ofKind returns the events of evs for callID of kind k.
func ofKind(evs []events.Event, callID string, k events.Kind) []events.Event {
	var out []events.Event
	for _, ev := range evs {
		if ev.CallID == callID && ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

// checkSeqOrder fails t unless each call's events in evs have rising Seq.
func checkSeqOrder(t *testing.T, who string, evs []events.Event) {
	t.Helper()
	last := map[string]uint64{}
	for _, ev := range evs {
		if ev.Seq <= last[ev.CallID] {
			t.Fatalf("%s got %s after seq %d", who, calltest.FormatEvent(ev), last[ev.CallID])
		}
		last[ev.CallID] = ev.Seq
	}
}

// acceptedInGrace recovers aliceCallsBob(t, carol), alice's device in its
// grace period, and has bob, connected, accept alice's call-1.
func acceptedInGrace(t *testing.T, carol bool) (*env, *wstest.Client) {
	e := newEnvWith(t, call.Options{}, Limits{}, recovered(aliceCallsBob(t, carol)))
	bob := e.dial("bob", "web")
	bob.WaitEvents(1)
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	return e, bob
}

// An event for a device in its grace period is held for it: bob accepts
// alice's call while alice has not reconnected since the restart, and
// alice, reconnecting within the grace period, gets the acceptance once,
// in Seq order, and nothing is pushed.
func TestGraceHeldEventsDelivered(t *testing.T) {
	e, bob := acceptedInGrace(t, false)
	e.clk.Advance(DefaultGrace - time.Millisecond)
	alice := e.dial("alice", "web")
	alice.WaitEvents(1)
	alice.OK("history", map[string]any{}, nil) // its reply follows every event queued before
	evs := alice.Events()
	if got := ofKind(evs, "call-1", events.InvitationAccepted); len(got) != 1 || got[0].From != "bob" {
		t.Fatalf("alice got %d InvitationAccepted of call-1: %v", len(got), evs)
	}
	checkSeqOrder(t, "alice", evs)
	bobSeq := ofKind(bob.Events(), "call-1", events.InvitationReceived)[0].Seq
	if evs[0].Kind != events.InvitationAccepted || evs[0].Seq <= bobSeq {
		t.Fatalf("alice's first event %s, bob's replay was seq %d", calltest.FormatEvent(evs[0]), bobSeq)
	}
	e.clk.Advance(time.Hour)
	alice.OK("history", map[string]any{}, nil)
	if n := len(alice.Events()); n != len(evs) {
		t.Fatalf("alice got %d events more after the grace period", n-len(evs))
	}
	if n := e.metric(`callsigd_grace_events_total{outcome="delivered"}`); n != 1 {
		t.Fatalf("delivered %v", n)
	}
	e.pushes.expect(t, 0)
}

// When the grace period ends without a reconnection, what was held for
// the device is dropped, not pushed (the pushes of a call go out in Seq
// order, and carol's of call-2 may have gone out meanwhile), and the
// logout's effects follow as usual: alice, whose call-1 bob accepted
// meanwhile, is pushed nothing; G7 cancels her unanswered call-2, and
// carol is pushed the cancel. Alice logging in again later gets no held
// event.
func TestGraceHeldEventsExpire(t *testing.T) {
	e, _ := acceptedInGrace(t, true)
	e.clk.Advance(DefaultGrace)
	got := e.pushes.wait(t, "carol's cancel", func(p []pushed) bool { return len(p) >= 1 })
	if p := got[0]; len(got) != 1 || p.to != "carol" || p.callID != "call-2" || p.event.Kind != events.InvitationCancelled || p.event.Reason != events.ReasonCallerOffline {
		t.Fatalf("pushes: %+v", got)
	}
	if n := e.metric(`callsigd_grace_events_total{outcome="expired"}`); n != 1 {
		t.Fatalf("expired %v", n)
	}
	e.waitOrphan("alice", "web", false)
	alice := e.dial("alice", "web")
	alice.OK("history", map[string]any{}, nil)
	if evs := alice.Events(); len(evs) != 0 {
		t.Fatalf("alice, logged in again, got %s", calltest.FormatEvent(evs[0]))
	}
	e.pushes.expect(t, 1)
}

// A hold keeps at most a send queue's worth of events: past that the
// oldest are dropped and counted, and the device reconnecting gets the
// newest, in order.
func TestGraceHeldEventsBounded(t *testing.T) {
	const calls, bound = 6, 4
	entries := journaled(t, func(r *call.Registry) {
		for _, u := range []string{"alice", "bob"} {
			if err := r.Login(u, "web"); err != nil {
				t.Fatal(err)
			}
		}
		for range calls {
			if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
				t.Fatal(err)
			}
		}
	})
	e := newEnvWith(t, call.Options{}, Limits{SendQueue: bound}, recovered(entries))
	bob := e.dial("bob", "web")
	bob.WaitEvents(calls)
	for i := 1; i <= calls; i++ {
		bob.OK("reject", map[string]any{"call_id": "call-" + strconv.Itoa(i)}, nil)
	}
	alice := e.dial("alice", "web")
	alice.WaitEvents(bound)
	alice.OK("history", map[string]any{}, nil)
	evs := alice.Events()
	if len(evs) != bound {
		t.Fatalf("alice got %d events, want %d", len(evs), bound)
	}
	for i, ev := range evs {
		if want := "call-" + strconv.Itoa(calls-bound+1+i); ev.Kind != events.InvitationRejected || ev.CallID != want {
			t.Fatalf("alice's event %d: %s, want the rejection of %s", i, calltest.FormatEvent(ev), want)
		}
	}
	if n := e.metric(`callsigd_grace_events_total{outcome="dropped"}`); n != calls-bound {
		t.Fatalf("dropped %v", n)
	}
}

// A device another server takes over (Release) is that server's: what
// was held for it here is dropped at once, counted as released.
func TestGraceHeldEventsReleased(t *testing.T) {
	e, _ := acceptedInGrace(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	e.srv.Release(ctx, "alice", "web", Stamp{Time: start.Add(time.Hour).UnixNano(), Node: "other"})
	e.clk.Advance(time.Hour)
	if n := e.metric(`callsigd_grace_events_total{outcome="released"}`); n != 1 {
		t.Fatalf("released %v", n)
	}
	alice := e.dial("alice", "web")
	alice.OK("history", map[string]any{}, nil)
	if evs := alice.Events(); len(evs) != 0 {
		t.Fatalf("alice got %s", calltest.FormatEvent(evs[0]))
	}
	e.pushes.expect(t, 0)
}

// What the Registry emits while New makes it (deadlines that passed
// while the server was down) is held for the devices it has online too.
func TestGraceHoldsEventsOfStart(t *testing.T) {
	entries := aliceCallsBob(t, false)
	e := newEnvWith(t, call.Options{}, Limits{}, func(c *Config) {
		c.NewRegistry = func(o call.Options) (*call.Registry, error) {
			r, err := call.Recover(nil, entries, o)
			o.Sink.Emit(events.Event{Kind: events.InvitationAccepted, To: "alice", CallID: "call-1", Seq: 9, From: "bob"})
			return r, err
		}
	})
	alice := e.dial("alice", "web")
	if ev := alice.WaitEvents(1)[0]; ev.Kind != events.InvitationAccepted || ev.Seq != 9 {
		t.Fatalf("alice got %s", calltest.FormatEvent(ev))
	}
}

// With a heartbeat timeout the Registry logs the device out itself when
// the grace period ends (H5), maybe before the server does: what was
// held for it is dropped all the same, and G7's cancel is pushed. Bob
// rejects alice's call-1 while alice is in her grace period; when it
// ends, carol, whose invitation G7 cancels, is pushed the cancel, and
// alice nothing.
func TestGraceHeldEventsExpireWithLapse(t *testing.T) {
	const beat = 10 * time.Second
	var entries []call.Entry
	r, err := call.NewRegistry(call.Options{
		Clock: clock.NewManual(start), NewID: calltest.IDs("call-"), HeartbeatTimeout: beat,
		Journal: call.JournalFunc(func(e call.Entry) error { entries = append(entries, e); return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := r.Login(u, "web"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, call.Options{HeartbeatTimeout: beat}, Limits{}, recovered(entries))
	bob := e.dial("bob", "web")
	bob.WaitEvents(1)
	bob.OK("reject", map[string]any{"call_id": "call-1"}, nil)
	e.clk.Advance(beat)
	got := e.pushes.wait(t, "carol's cancel", func(p []pushed) bool { return len(p) >= 1 })
	if p := got[0]; len(got) != 1 || p.to != "carol" || p.event.Kind != events.InvitationCancelled || p.event.Reason != events.ReasonCallerOffline {
		t.Fatalf("pushes: %+v", got)
	}
	e.waitOrphan("alice", "web", false)
	if n := e.metric(`callsigd_grace_events_total{outcome="expired"}`); n != 1 {
		t.Fatalf("expired %v", n)
	}
	e.pushes.expect(t, 1)
}

// A connected device of a user gets its events as it would with no
// device of the user in its grace period: alice's phone gets bob's
// acceptance, and nothing is pushed when alice's web is logged out.
func TestGraceHeldEventsToldElsewhere(t *testing.T) {
	entries := journaled(t, func(r *call.Registry) {
		for _, d := range [][2]string{{"alice", "web"}, {"alice", "phone"}, {"bob", "web"}} {
			if err := r.Login(d[0], d[1]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
			t.Fatal(err)
		}
	})
	e := newEnvWith(t, call.Options{}, Limits{}, recovered(entries))
	phone := e.dial("alice", "phone")
	bob := e.dial("bob", "web")
	bob.WaitEvents(1)
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	if ev := phone.WaitEvents(1)[0]; ev.Kind != events.InvitationAccepted {
		t.Fatalf("alice's phone got %s", calltest.FormatEvent(ev))
	}
	e.clk.Advance(DefaultGrace)
	e.waitOrphan("alice", "web", false)
	phone.OK("history", map[string]any{}, nil)
	if n := len(phone.Events()); n != 1 {
		t.Fatalf("alice's phone got %d events", n)
	}
	e.pushes.expect(t, 0)
}

// At shutdown what is held is dropped, not pushed: the device stays
// online in the Registry, and its replays at its next login say what
// still rings.
func TestGraceHeldEventsDroppedAtShutdown(t *testing.T) {
	e, _ := acceptedInGrace(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.metric(`callsigd_grace_events_total{outcome="expired"}`); n != 1 {
		t.Fatalf("expired %v", n)
	}
	e.pushes.expect(t, 0)
}

// The held events come before the replays of the reconnection: alice,
// called by bob (call-2) while calling him (call-1), reconnects after bob
// accepted call-1 and gets the acceptance, then the replay of call-2.
func TestGraceHeldEventsBeforeReplays(t *testing.T) {
	entries := journaled(t, func(r *call.Registry) {
		for _, u := range []string{"alice", "bob"} {
			if err := r.Login(u, "web"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.Invite("alice", []string{"bob"}, call.InviteConfig{}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Invite("bob", []string{"alice"}, call.InviteConfig{}); err != nil {
			t.Fatal(err)
		}
	})
	e := newEnvWith(t, call.Options{}, Limits{}, recovered(entries))
	bob := e.dial("bob", "web")
	bob.WaitEvents(1)
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	alice := e.dial("alice", "web")
	alice.WaitEvents(2)
	alice.OK("history", map[string]any{}, nil)
	evs := alice.Events()
	if len(evs) != 2 || evs[0].Kind != events.InvitationAccepted || evs[0].CallID != "call-1" ||
		evs[1].Kind != events.InvitationReceived || evs[1].CallID != "call-2" || evs[1].ToDevice != "web" {
		for _, ev := range evs {
			t.Logf("  %s", calltest.FormatEvent(ev))
		}
		t.Fatal("alice's events: want call-1's acceptance, then call-2's replay")
	}
}
