package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/callsigd/internal/wstest"
	"github.com/callsig/callsig/events"
)

// sameJSON fails unless got is the JSON of want.
func sameJSON(t *testing.T, what string, got json.RawMessage, want any) {
	t.Helper()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(b) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, b)
	}
}

// TestCallsEndToEnd runs calls between real clients — accepted,
// rejected, cancelled, timed out, an advanced call with invite-more,
// join, quit and end, an offline invitee who connects later, a device
// that disconnects — and checks each reply against the reference Model,
// and what every connection received against the Model's ConnChecker:
// each event a device must get, once, in Seq order per call, and nothing
// else.
func TestCallsEndToEnd(t *testing.T) {
	opts := call.Options{History: 20}
	e := newEnv(t, opts, Limits{})
	opts.NewID = calltest.IDs("call-")
	m := calltest.NewModel(opts, start)
	cc := calltest.NewConnChecker(m)
	connect := func(user, device string) *wstest.Client {
		m.Login(user, device)
		return e.dial(user, device)
	}
	alice := connect("alice", "web")
	bobPhone := connect("bob", "phone")
	bobWeb := connect("bob", "web")
	carol := connect("carol", "web")

	// Accepted by bob (on his phone), rejected by carol.
	push := &events.Push{Title: "Alice", Content: "Incoming call"}
	res, code := alice.Do("invite", map[string]any{"invitees": []string{"bob", "carol"}, "timeout_ms": 30000, "data": "hi", "push": push})
	want, _, err := m.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: 30 * time.Second, ExtendedData: "hi", Push: push})
	if code != "" || err != nil {
		t.Fatalf("invite: %s, model %v", code, err)
	}
	sameJSON(t, "invite result", res, want)
	bobPhone.OK("accept", map[string]any{"call_id": "call-1", "data": "on my way"}, nil)
	m.Accept("bob", "call-1", call.AcceptConfig{ExtendedData: "on my way", Device: "phone"})
	carol.OK("reject", map[string]any{"call_id": "call-1"}, nil)
	m.Reject("carol", "call-1", call.RejectConfig{Device: "web"})
	e.checkConns(cc)

	// Cancelled while ringing.
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	m.Invite("alice", []string{"bob"}, call.InviteConfig{})
	res, code = alice.Do("cancel", map[string]any{"call_id": "call-2", "data": "sorry"})
	failed, _, err := m.Cancel("alice", "call-2", nil, call.CancelConfig{ExtendedData: "sorry"})
	if code != "" || err != nil || len(failed) != 0 || string(res) != "{}" {
		t.Fatalf("cancel: %s %s, model %v %v", res, code, failed, err)
	}
	e.checkConns(cc)

	// Timed out: the clock the test controls passes the deadline.
	alice.OK("invite", map[string]any{"invitees": []string{"carol"}, "timeout_ms": 5000}, nil)
	m.Invite("alice", []string{"carol"}, call.InviteConfig{Timeout: 5 * time.Second})
	e.clk.Advance(5 * time.Second)
	m.Advance(start.Add(5 * time.Second))
	e.checkConns(cc)
	carol.Fails("call_not_found", "accept", map[string]any{"call_id": "call-3"})

	// An advanced call: bob accepts, invites carol more, carol joins
	// (while still ringing), quits, and alice ends it.
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}, "mode": "Advanced"}, nil)
	m.Invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced})
	bobWeb.OK("accept", map[string]any{"call_id": "call-4"}, nil)
	m.Accept("bob", "call-4", call.AcceptConfig{Device: "web"})
	res, code = bobWeb.Do("calling_invite", map[string]any{"call_id": "call-4", "invitees": []string{"carol"}, "timeout_ms": 20000})
	want, _, err = m.CallingInvite("bob", "call-4", []string{"carol"}, call.CallingInviteConfig{Timeout: 20 * time.Second})
	if code != "" || err != nil {
		t.Fatalf("calling_invite: %s, model %v", code, err)
	}
	sameJSON(t, "calling_invite result", res, want)
	res, code = carol.Do("join", map[string]any{"call_id": "call-4", "data": "hello all"})
	info, _, err := m.Join("carol", "call-4", call.JoinConfig{ExtendedData: "hello all", Device: "web"})
	if code != "" || err != nil {
		t.Fatalf("join: %s, model %v", code, err)
	}
	sameJSON(t, "join result", res, info)
	res, code = alice.Do("call", map[string]any{"call_id": "call-4"})
	info, _ = m.Call("call-4")
	if code != "" {
		t.Fatalf("call: %s", code)
	}
	sameJSON(t, "call result", res, info)
	carol.OK("quit", map[string]any{"call_id": "call-4"}, nil)
	m.Quit("carol", "call-4", call.QuitConfig{Device: "web"})
	alice.OK("end", map[string]any{"call_id": "call-4", "data": "bye"}, nil)
	m.End("alice", "call-4", call.EndConfig{ExtendedData: "bye", Device: "web"})
	e.checkConns(cc)

	// dave is offline: his invitation goes to the pusher, without "to"
	// or "offline" in the event; when he connects, it is replayed to his
	// device (G8), and he rejects it.
	alice.OK("invite", map[string]any{"invitees": []string{"dave"}, "push": push}, nil)
	m.Invite("alice", []string{"dave"}, call.InviteConfig{Push: push})
	got := e.pushes.wait(t, "dave's invitation", func(p []pushed) bool { return len(p) == 1 })
	if p := got[0]; p.to != "dave" || p.callID != "call-5" || p.event.Kind != events.InvitationReceived ||
		!strings.HasPrefix(p.raw, `{"type":"event",`) || strings.Contains(p.raw, `"to":`) || strings.Contains(p.raw, `"offline"`) {
		t.Fatalf("push %+v", p)
	}
	dave := connect("dave", "phone")
	if ev := dave.WaitEvents(1)[0]; ev.ToDevice != "phone" || ev.Kind != events.InvitationReceived {
		t.Fatalf("dave's replay: %s", calltest.FormatEvent(ev))
	}
	dave.OK("reject", map[string]any{"call_id": "call-5"}, nil)
	m.Reject("dave", "call-5", call.RejectConfig{Device: "phone"})

	// bob's web tab closes: bob stays online on his phone, which alone
	// gets his next call.
	_ = bobWeb.WS.Close(1000, "bye")
	m.Logout("bob", "web")
	bobWeb.WaitEnd()
	carol.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	m.Invite("carol", []string{"bob"}, call.InviteConfig{})
	bobPhone.OK("accept", map[string]any{"call_id": "call-6"}, nil)
	m.Accept("bob", "call-6", call.AcceptConfig{Device: "phone"})
	e.checkConns(cc)

	// History, page by page, as the Model keeps it (H8).
	var page historyResult
	alice.OK("history", map[string]any{"count": 2}, &page)
	all := m.History("alice")
	if len(all) != 5 || len(page.Calls) != 2 || page.Next == "" {
		t.Fatalf("alice's history: model %d calls, first page %d, next %q", len(all), len(page.Calls), page.Next)
	}
	var rest historyResult
	alice.OK("history", map[string]any{"cursor": page.Next}, &rest)
	if rest.Next != "" {
		t.Fatalf("a last page with next %q", rest.Next)
	}
	b, _ := json.Marshal(historyResult{Calls: append(page.Calls, rest.Calls...)})
	sameJSON(t, "history", b, historyResult{Calls: all})
	alice.Fails("invalid_argument", "history", map[string]any{"cursor": "nonsense"})

	if n := e.metric(`callsigd_commands_total{op="invite",result="ok"}`); n != 6 {
		t.Fatalf("metrics count %v invites", n)
	}
	if n := e.metric(`callsigd_events_total{kind="InvitationTimeout"}`); n != 1 {
		t.Fatalf("metrics count %v timeouts", n)
	}
}

// TestReplacedConnection: a second connection of the same user and device
// replaces the first, which is closed with 4000 "replaced", without a
// logout: the device stays online throughout, so the caller's unanswered
// call is not cancelled (G7), and its answer reaches the new connection.
func TestReplacedConnection(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bob.WaitEvents(1)

	again := e.dial("alice", "web")
	err := alice.WaitEnd()
	if code, reason := closeOf(err); code != CloseReplaced || reason != "replaced" {
		t.Fatalf("the replaced connection ended with %v", err)
	}
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	evs := again.WaitEvents(1)
	if evs[0].Kind != events.InvitationAccepted || evs[0].CallID != "call-1" {
		t.Fatalf("the new connection got %s", calltest.FormatEvent(evs[0]))
	}
	for _, ev := range bob.Events() {
		if ev.Kind == events.InvitationCancelled {
			t.Fatalf("bob's call was cancelled: %s", calltest.FormatEvent(ev))
		}
	}
	if n := e.metric(`callsigd_connection_closes_total{reason="replaced"}`); n != 1 {
		t.Fatalf("metrics count %v replaced connections", n)
	}
	if n := e.metric("callsigd_connections"); n != 2 {
		t.Fatalf("metrics count %v connections, want 2", n)
	}
}

// TestLogoutOnDisconnect: a caller whose only connection closes is logged
// out, and its unanswered call is cancelled (G7), which the invitee hears.
func TestLogoutOnDisconnect(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bob.WaitEvents(1)
	_ = alice.WS.Close(1000, "bye")
	evs := bob.WaitEvents(2)
	if evs[1].Kind != events.InvitationCancelled || evs[1].Reason != events.ReasonCallerOffline {
		t.Fatalf("bob got %s", calltest.FormatEvent(evs[1]))
	}
}

// TestReplacementReplays: the connection that replaces another gets the
// replays a fresh login would (G8): bob, rung, reconnects over a
// half-open socket and learns his call is still ringing.
func TestReplacementReplays(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bob.WaitEvents(1)
	again := e.dial("bob", "phone")
	bob.WaitEnd()
	ev := again.WaitEvents(1)[0]
	if ev.Kind != events.InvitationReceived || ev.CallID != "call-1" || ev.ToDevice != "phone" || ev.Seq != 3 {
		t.Fatalf("the replacing connection got %s", calltest.FormatEvent(ev))
	}
}

// With a heartbeat timeout, the opening of a connection that replaces
// another counts as a heartbeat of its device, as a login's does: a
// timeout after the replaced connection's opening, the device is online
// (H5) and its user's call rings on (no G7), while the new connection,
// which has sent no heartbeat yet, is within its own timeout.
func TestReplacementCountsAsHeartbeat(t *testing.T) {
	e := newEnv(t, call.Options{HeartbeatTimeout: 10 * time.Second}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bob.WaitEvents(1)
	e.clk.Advance(8 * time.Second)
	bob.OK("heartbeat", nil, nil)
	again := e.dial("alice", "web")
	alice.WaitEnd()
	e.clk.Advance(4 * time.Second) // 12 s after alice's login, 4 s after her new connection
	bob.OK("heartbeat", nil, nil)  // an input: the Registry has caught up with the clock
	if d := e.srv.Registry().Devices("alice"); len(d) != 1 || d[0] != "web" {
		t.Fatalf("alice's devices 4 s after her new connection: %v", d)
	}
	if info, ok := e.srv.Registry().Call("call-1"); !ok || info.Members[1].State != events.Received {
		t.Fatalf("call-1 after alice's reconnection: %+v, %v; want it ringing", info, ok)
	}
	again.OK("heartbeat", nil, nil)
	if evs := again.Events(); len(evs) != 0 {
		t.Fatalf("alice's new connection got %s", calltest.FormatEvent(evs[0]))
	}
}

// A device logged out while its connection stays (in a cluster, a Logout
// of a former connection, forwarded by another node, can commit after
// this connection's login) is logged in again by its next heartbeat,
// which gets the replay of what still rings for it (G8).
func TestHeartbeatLogsInAgain(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	bob.WaitEvents(1)
	if err := e.srv.Registry().Logout("bob", "phone"); err != nil { // the stray Logout
		t.Fatal(err)
	}
	bob.OK("heartbeat", nil, nil)
	if d := e.srv.Registry().Devices("bob"); len(d) != 1 || d[0] != "phone" {
		t.Fatalf("bob's devices after the heartbeat: %v", d)
	}
	evs := bob.WaitEvents(2)
	if evs[1].Kind != events.InvitationReceived || evs[1].CallID != "call-1" {
		t.Fatalf("bob got %s, want the invitation again", calltest.FormatEvent(evs[1]))
	}
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	if evs := alice.WaitEvents(2); evs[1].Kind != events.InvitationAccepted {
		t.Fatalf("alice got %s", calltest.FormatEvent(evs[1]))
	}
}

// A heartbeat that runs while its connection is being closed (its H5
// timer fired mid-request, say) leaves the device as it is: logged in
// again, it would be logged out by the closing connection's detach, a
// second G7 for nothing. It does nothing, as a heartbeat of a device not
// online does.
func TestHeartbeatOfAClosingConnection(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	e.dial("bob", "phone")
	e.srv.mu.RLock()
	c := e.srv.devices["bob"]["phone"]
	e.srv.mu.RUnlock()
	if err := e.srv.Registry().Logout("bob", "phone"); err != nil {
		t.Fatal(err)
	}
	c.close(CloseHeartbeat, "heartbeat timeout", "heartbeat")
	if _, err := e.srv.exec(c, &request{Op: "heartbeat"}); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if d := e.srv.Registry().Devices("bob"); len(d) != 0 {
		t.Fatalf("a closing connection's heartbeat logged bob in again: %v", d)
	}
}
