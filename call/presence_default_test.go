package call

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// A user online on the default device alone, with no heartbeat and no
// history, has no record (needsRecord): the table says it is online, and
// the links of its calls carry onlineDefault. These tests walk it through
// every transition that keeps it so or gives it a record, checking after
// each step the table's invariants (checkUsers), who has a record, and
// what the queries and events say.

// defaultRig is a Registry without heartbeats or history, with the events
// it emitted.
type defaultRig struct {
	r   *Registry
	clk *clock.Manual
	evs []events.Event
}

func newDefaultRig(t *testing.T, o Options) *defaultRig {
	t.Helper()
	g := &defaultRig{clk: clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	o.Clock, o.Sink = g.clk, events.SinkFunc(func(e events.Event) { g.evs = append(g.evs, e) })
	r, err := NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	g.r = r
	return g
}

// state checks the table, then that id has a record exactly when
// withRecord is set and that Devices(id) is devices.
func (g *defaultRig) state(t *testing.T, step, id string, withRecord bool, devices ...string) {
	t.Helper()
	checkUsers(t, g.r)
	if got := g.r.record(id) != nil; got != withRecord {
		t.Fatalf("%s: %s has a record %v, want %v", step, id, got, withRecord)
	}
	if got := g.r.Devices(id); !slices.Equal(got, devices) {
		t.Fatalf("%s: Devices(%s) = %q, want %q", step, id, got, devices)
	}
}

// info returns the Info of the live call id.
func (g *defaultRig) info(t *testing.T, id string) Info {
	t.Helper()
	info, ok := g.r.Call(id)
	if !ok {
		t.Fatalf("call %s is not live", id)
	}
	return info
}

// take returns the events emitted since the last take.
func (g *defaultRig) take() []events.Event {
	evs := g.evs
	g.evs = nil
	return evs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Login then Logout with no call leaves the table empty, and makes no
// record.
func TestDefaultDeviceLoginLogout(t *testing.T) {
	g := newDefaultRig(t, Options{})
	must(t, g.r.Login("ann", ""))
	g.state(t, "login", "ann", false, "")
	if got := g.r.Online(); len(got) != 1 || got[0] != (OnlineDevice{User: "ann"}) {
		t.Fatalf("Online: %v", got)
	}
	if g.r.users.len() != 1 || g.r.users.online != 1 {
		t.Fatalf("%d users, %d devices online", g.r.users.len(), g.r.users.online)
	}
	must(t, g.r.Login("ann", "")) // online already: nothing
	g.state(t, "login again", "ann", false, "")
	must(t, g.r.Logout("ann", "b")) // not online: nothing
	g.state(t, "logout of another device", "ann", false, "")
	must(t, g.r.Logout("ann", ""))
	g.state(t, "logout", "ann", false)
	if g.r.users.len() != 0 || g.r.users.online != 0 || g.r.Online() != nil {
		t.Fatalf("after the logout: %d users, %d devices online, Online %v", g.r.users.len(), g.r.users.online, g.r.Online())
	}
}

// A user online with no record gets a call (rung at once: it is online),
// the call ends and it is still online with no record, then it logs out.
// Neither side ever gets a record; the caller's Logout cancels its
// unanswered call (G7).
func TestDefaultDeviceThroughACall(t *testing.T) {
	g := newDefaultRig(t, Options{})
	must(t, g.r.Login("ann", ""))
	must(t, g.r.Login("bob", ""))
	res, err := g.r.Invite("ann", []string{"bob"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	g.state(t, "invite", "ann", false, "")
	g.state(t, "invite", "bob", false, "")
	if got, ok := g.r.Call(res.CallID); !ok || got.Members[1].State != events.Received {
		t.Fatalf("an online invitee is not rung at once: %+v", got)
	}
	for _, e := range g.take() {
		if e.Offline {
			t.Fatalf("an online user's event is Offline: %+v", e)
		}
	}
	must(t, g.r.Reject("bob", res.CallID, RejectConfig{}))
	g.state(t, "reject", "ann", false, "")
	g.state(t, "reject", "bob", false, "")
	if g.r.users.len() != 2 || g.r.Len() != 0 {
		t.Fatalf("after the call: %d users, %d calls", g.r.users.len(), g.r.Len())
	}
	must(t, g.r.Logout("bob", ""))
	g.state(t, "logout", "bob", false)

	// G7: the caller, online with no record, logs out of a call nobody
	// accepted.
	res, err = g.r.Invite("ann", []string{"bob"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	g.take()
	must(t, g.r.Logout("ann", ""))
	evs := g.take()
	if g.r.Len() != 0 || len(evs) != 1 || evs[0].Kind != events.InvitationCancelled || evs[0].Reason != events.ReasonCallerOffline || evs[0].To != "bob" {
		t.Fatalf("G7: %d calls left, events %+v", g.r.Len(), evs)
	}
	if g.r.users.len() != 0 || g.r.users.online != 0 {
		t.Fatalf("after G7: %d users, %d devices online", g.r.users.len(), g.r.users.online)
	}
}

// An offline invitee in calls logs in on the default device: its pending
// invitations are rung (G8) and it gets no record; a later call of its is
// rung at once; logging out puts its calls' members offline again.
func TestDefaultDeviceLoginInCalls(t *testing.T) {
	g := newDefaultRig(t, Options{})
	c1, err := g.r.Invite("ann", []string{"bob"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	c2, err := g.r.Invite("cy", []string{"bob", "dora"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	g.take()
	must(t, g.r.Login("bob", ""))
	g.state(t, "login", "bob", false, "")
	var rung []string
	for _, e := range g.take() {
		if e.Kind == events.InvitationReceived && e.To == "bob" {
			rung = append(rung, e.CallID)
		}
	}
	if !slices.Equal(rung, []string{c1.CallID, c2.CallID}) {
		t.Fatalf("G8: rung %q, want the calls oldest first", rung)
	}
	for _, id := range []string{c1.CallID, c2.CallID} {
		if g.info(t, id).Members[1].State != events.Received {
			t.Fatalf("call %s: bob not Received after his login", id)
		}
	}
	// A new call, which becomes bob's newest, sees him online.
	c3, err := g.r.Invite("eve", []string{"bob"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	g.state(t, "invite", "bob", false, "")
	if g.info(t, c3.CallID).Members[1].State != events.Received {
		t.Fatal("a call to a user online with no record does not ring at once")
	}
	// His oldest call ends: the table files him under the next.
	must(t, g.r.Reject("bob", c1.CallID, RejectConfig{}))
	g.state(t, "reject", "bob", false, "")
	must(t, g.r.Logout("bob", ""))
	g.state(t, "logout", "bob", false)
	c4, err := g.r.Invite("fay", []string{"bob"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	if g.info(t, c4.CallID).Members[1].State != events.Inviting {
		t.Fatal("a call to a user who logged out rings him")
	}
	// Every call ends: nobody is left.
	for _, c := range []struct{ caller, id string }{{"cy", c2.CallID}, {"eve", c3.CallID}, {"fay", c4.CallID}} {
		_, err := g.r.Cancel(c.caller, c.id, nil, CancelConfig{})
		must(t, err)
	}
	checkUsers(t, g.r)
	if g.r.users.len() != 0 {
		t.Fatalf("%d users left", g.r.users.len())
	}
}

// A second device, or a named one, gives the user a record, with the
// default device kept first (H1); going back to the default device alone
// gives it up, in a call or not.
func TestDefaultDeviceSecondDevice(t *testing.T) {
	for _, inCall := range []bool{false, true} {
		g := newDefaultRig(t, Options{})
		must(t, g.r.Login("bob", ""))
		if inCall {
			_, err := g.r.Invite("ann", []string{"bob"}, InviteConfig{Timeout: time.Minute})
			must(t, err)
		}
		must(t, g.r.Login("bob", "phone"))
		g.state(t, "second device", "bob", true, "", "phone")
		must(t, g.r.Logout("bob", "phone"))
		g.state(t, "second device out", "bob", false, "")
		must(t, g.r.Login("bob", "phone"))
		must(t, g.r.Logout("bob", ""))
		g.state(t, "default device out", "bob", true, "phone")
		must(t, g.r.Login("bob", ""))
		g.state(t, "default device back", "bob", true, "phone", "")
		must(t, g.r.Logout("bob", "phone"))
		g.state(t, "named device out", "bob", false, "")
		must(t, g.r.Logout("bob", ""))
		g.state(t, "all out", "bob", false)
		if want := map[bool]int{false: 0, true: 2}[inCall]; g.r.users.len() != want || g.r.users.online != 0 {
			t.Fatalf("in a call %v: %d users, %d devices online", inCall, g.r.users.len(), g.r.users.online)
		}
	}
}

// A named device logged out while the user is in calls leaves a user in
// calls only: its record is given up, and its links are offline.
func TestNamedDeviceOutInCalls(t *testing.T) {
	g := newDefaultRig(t, Options{})
	must(t, g.r.Login("bob", "phone"))
	res, err := g.r.Invite("ann", []string{"bob"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	g.state(t, "invite", "bob", true, "phone")
	must(t, g.r.Logout("bob", "phone"))
	g.state(t, "logout", "bob", false)
	if c := g.r.calls.Get(res.CallID); c == nil || c.links()[1].u != nil {
		t.Fatal("an offline user's link is not nil")
	}
}

// With HeartbeatTimeout set, or once the user has a history (H8), the
// default device alone needs a record; it keeps the device.
func TestDefaultDeviceNeedsRecord(t *testing.T) {
	g := newDefaultRig(t, Options{HeartbeatTimeout: time.Minute})
	must(t, g.r.Login("bob", ""))
	g.state(t, "heartbeats", "bob", true, "")
	g.clk.Advance(time.Minute)
	g.state(t, "lapsed", "bob", false)

	g = newDefaultRig(t, Options{History: 2})
	must(t, g.r.Login("bob", ""))
	g.state(t, "history, none yet", "bob", false, "")
	res, err := g.r.Invite("ann", []string{"bob"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	g.state(t, "history, in a call", "bob", false, "")
	must(t, g.r.Reject("bob", res.CallID, RejectConfig{}))
	g.state(t, "history, one call", "bob", true, "")
	if calls, _, _ := g.r.History("bob", 0, ""); len(calls) != 1 {
		t.Fatalf("history: %d calls", len(calls))
	}
	must(t, g.r.Logout("bob", ""))
	g.state(t, "idle", "bob", true)
	if u := g.r.record("bob"); !u.isIdle() {
		t.Fatal("bob, with a history only, is not idle")
	}
}

// Snapshot and Restore keep users online with no record as they were, in
// calls or not, and a restore with HeartbeatTimeout set gives them records
// with heartbeats.
func TestDefaultDeviceSnapshot(t *testing.T) {
	g := newDefaultRig(t, Options{})
	must(t, g.r.Login("ann", ""))
	must(t, g.r.Login("bob", ""))
	must(t, g.r.Login("cy", ""))
	must(t, g.r.Login("cy", "phone"))
	_, err := g.r.Invite("ann", []string{"bob", "dora"}, InviteConfig{Timeout: time.Minute})
	must(t, err)
	must(t, g.r.Login("eve", ""))
	snap, err := g.r.Snapshot()
	must(t, err)
	want := g.r.Online()
	for _, hb := range []time.Duration{0, time.Minute} {
		back, err := Restore(snap, Options{Clock: clock.NewManual(g.clk.Now()), HeartbeatTimeout: hb})
		must(t, err)
		checkUsers(t, back)
		if got := back.Online(); !slices.Equal(got, want) {
			t.Fatalf("heartbeat %v: Online %v, want %v", hb, got, want)
		}
		for _, id := range []string{"ann", "bob", "eve"} {
			if got := back.record(id) != nil; got != (hb > 0) {
				t.Fatalf("heartbeat %v: %s has a record %v", hb, id, got)
			}
		}
		if back.record("cy") == nil || back.record("dora") != nil {
			t.Fatal("cy, with two devices, has no record, or dora, offline, has one")
		}
		again, err := back.Snapshot()
		must(t, err)
		if hb == 0 && string(again) != string(snap) {
			t.Fatalf("snapshot of the restored Registry differs:\n%s\n%s", again, snap)
		}
	}
}

// Login and Logout of the default device with no call, and a call between
// users online with no record answered, allocate nothing once the table
// has its size.
func TestDefaultDeviceNoAllocs(t *testing.T) {
	r, err := NewRegistry(Options{Clock: clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Sink: events.Discard})
	must(t, err)
	must(t, r.Login("ann", ""))
	must(t, r.Logout("ann", ""))
	if n := testing.AllocsPerRun(100, func() {
		_ = r.Login("ann", "")
		_ = r.Logout("ann", "")
	}); n != 0 {
		t.Fatalf("Login and Logout of the default device: %v allocations", n)
	}
	// B2: answering a call leaves its users online with no record, and
	// allocates nothing for it.
	const calls = 1000
	ids, callers, callees := make([]string, calls), make([]string, calls), make([]string, calls)
	for i := range ids {
		callers[i], callees[i] = fmt.Sprintf("a%d", i), fmt.Sprintf("b%d", i)
		must(t, r.Login(callers[i], ""))
		must(t, r.Login(callees[i], ""))
		res, err := r.Invite(callers[i], []string{callees[i]}, InviteConfig{Timeout: time.Minute})
		must(t, err)
		ids[i] = res.CallID
	}
	next := 0
	answer := func() {
		i := next
		next++
		var err error
		switch i % 3 {
		case 0:
			err = r.Reject(callees[i], ids[i], RejectConfig{})
		case 1:
			err = r.Accept(callees[i], ids[i], AcceptConfig{})
		default:
			_, err = r.Cancel(callers[i], ids[i], nil, CancelConfig{})
		}
		must(t, err)
	}
	for range calls / 2 { // the outbox reaches its size
		answer()
	}
	if n := testing.AllocsPerRun(calls/2-1, answer); n != 0 {
		t.Fatalf("an answer between users online with no record: %v allocations", n)
	}
	checkUsers(t, r)
	if r.Len() != 0 || r.users.len() != 2*calls {
		t.Fatalf("%d calls, %d users left", r.Len(), r.users.len())
	}
}
