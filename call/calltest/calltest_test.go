package calltest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TestHostProperty runs the example's host property, so that what the
// example shows a host really passes.
func TestHostProperty(t *testing.T) {
	rapid.Check(t, hostProperty)
}

var t0 = time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)

// ring returns the events of a fresh call "c1" from alice to the invitees.
func ring(invitees ...string) []events.Event {
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("c")}, t0)
	_, evs, err := m.Invite("alice", invitees, call.InviteConfig{})
	if err != nil {
		panic(err)
	}
	return evs
}

func TestCheckerAcceptsModelStreams(t *testing.T) {
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("c")}, t0)
	var all []events.Event
	add := func(evs []events.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	_, evs, err := m.Invite("alice", []string{"bob", "carol", "dave"}, call.InviteConfig{})
	add(evs, err)
	add(m.Accept("bob", "c1", call.AcceptConfig{}))
	_, evs, err = m.Cancel("alice", "c1", []string{"carol"}, call.CancelConfig{})
	add(evs, err)
	add(m.Advance(t0.Add(time.Hour)), nil)
	_, evs, err = m.Invite("alice", []string{"bob"}, call.InviteConfig{CallID: "c1"}) // G11: the ID again
	add(evs, err)
	add(m.Reject("bob", "c1", call.RejectConfig{}))

	var c calltest.Checker
	if err := c.CheckAll(all); err != nil {
		t.Fatal(err)
	}
	if err := c.Done(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckerCatches feeds the Checker broken streams, one invariant each.
func TestCheckerCatches(t *testing.T) {
	edit := func(evs []events.Event, i int, f func(*events.Event)) []events.Event {
		out := append([]events.Event(nil), evs...)
		out[i].Members = append([]events.Member(nil), out[i].Members...) // Members are shared
		f(&out[i])
		return out
	}
	base := ring("bob", "carol")
	timeout := []events.Event{
		{Kind: events.InviteesAnsweredTimeout, To: "alice", CallID: "c1", Seq: 4, Caller: "alice",
			Members: []events.Member{{User: "bob"}, {User: "carol"}}, Reason: events.ReasonTimeout},
		{Kind: events.InvitationTimeout, To: "bob", CallID: "c1", Seq: 5, Caller: "alice",
			Members: []events.Member{{User: "bob"}}, Reason: events.ReasonTimeout},
		{Kind: events.InvitationTimeout, To: "carol", CallID: "c1", Seq: 6, Caller: "alice",
			Members: []events.Member{{User: "carol"}}, Reason: events.ReasonTimeout},
	}
	accepted := events.Event{Kind: events.InvitationAccepted, To: "alice", CallID: "c1", Seq: 4, Caller: "alice",
		From: "bob", Members: []events.Member{{User: "bob", State: events.Accepted}}}
	echo := events.Event{Kind: events.UserStateChanged, To: "bob", CallID: "c1", Seq: 5, Caller: "alice",
		From: "bob", Members: []events.Member{{User: "bob", State: events.Accepted}}}

	for _, tc := range []struct {
		name   string
		stream []events.Event
		want   string // in the error of Check, or else of Done
	}{
		{"seq gap", edit(base, 2, func(e *events.Event) { e.Seq = 4 }), "Seq 4 after 2"},
		{"first not 1", base[1:], "want 1"},
		{"first not created", edit(base[:1], 0, func(e *events.Event) { e.Kind = events.InvitationReceived }), "must be InvitationCreated"},
		{"stranger", edit(base, 2, func(e *events.Event) { e.To = "mallory" }), "no member of the call (G10)"},
		{"wrong caller", edit(base, 1, func(e *events.Event) { e.Caller = "bob" }), "Caller"},
		{"no call id", edit(base, 0, func(e *events.Event) { e.CallID = "" }), "no CallID"},
		{"replay offline", edit(base, 1, func(e *events.Event) { e.ToDevice = "phone" }), "must not be Offline"},
		{"ended twice", append(concat(base, timeout), events.Event{Kind: events.InvitationCancelled, To: "bob", CallID: "c1", Seq: 7,
			Caller: "alice", Members: []events.Member{{User: "bob"}}}), "after the call was over"},
		{"answer twice", append(concat(base, []events.Event{accepted, echo}), events.Event{Kind: events.InvitationRejected,
			To: "alice", CallID: "c1", Seq: 6, Caller: "alice", Members: []events.Member{{User: "bob"}}}), "ended twice"},
		{"rung after end", append(concat(base, []events.Event{accepted, echo}), edit(base, 1, func(e *events.Event) { e.Seq = 6 })[1]), "rung after it ended"},
		{"no echo", concat(base, []events.Event{accepted, edit([]events.Event{echo}, 0, func(e *events.Event) { e.Kind = events.InvitationCancelled })[0]}), "want UserStateChanged"},
		{"seq 1 while live", concat(base, base[:1]), "while call \"c1\" is live"},
		{"never ended", base, "never ended"},
		{"echo missing at the end", concat(ring("bob"), []events.Event{{Kind: events.InvitationRejected, To: "alice", CallID: "c1", Seq: 3,
			Caller: "alice", From: "bob", Members: []events.Member{{User: "bob", State: events.Rejected}}, Reason: events.ReasonRejected}}), "no UserStateChanged"},
		{"timeout names a stranger", edit(concat(base, timeout), 4, func(e *events.Event) { e.Members[0].User = "dave"; e.To = "dave" }), "no member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c calltest.Checker
			err := c.CheckAll(tc.stream)
			if err == nil {
				err = c.Done()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func concat(a, b []events.Event) []events.Event {
	return append(append([]events.Event(nil), a...), b...)
}

func TestDiffEvents(t *testing.T) {
	want := ring("bob")
	if d := calltest.DiffEvents(want, ring("bob")); d != "" {
		t.Fatalf("equal streams differ:\n%s", d)
	}
	// Equal instants in other locations are equal; a Push is compared by value.
	got := ring("bob")
	got[0].At = got[0].At.In(time.FixedZone("X", 3600))
	got[1].Push = &events.Push{}
	want[1].Push = &events.Push{}
	if d := calltest.DiffEvents(want, got); d != "" {
		t.Fatalf("equal streams differ:\n%s", d)
	}
	got[1].Members = append([]events.Member(nil), got[1].Members...)
	got[1].Members[1].Deadline = got[1].Members[1].Deadline.Add(time.Nanosecond)
	d := calltest.DiffEvents(want, got[:1])
	for _, s := range []string{"2 wanted, 1 got", "  InvitationCreated", "- InvitationReceived"} {
		if !strings.Contains(d, s) {
			t.Errorf("diff lacks %q:\n%s", s, d)
		}
	}
	d = calltest.DiffEvents(want, got)
	for _, s := range []string{"- InvitationReceived", "+ InvitationReceived", ".000000001Z"} {
		if !strings.Contains(d, s) {
			t.Errorf("diff lacks %q:\n%s", s, d)
		}
	}
}

func TestDiffResult(t *testing.T) {
	wrapped := &call.Error{Op: "accept", Err: call.ErrNotPending}
	for _, tc := range []struct {
		want, got calltest.Result
		same      bool
	}{
		{calltest.Result{Err: call.ErrNotPending}, calltest.Result{Err: wrapped}, true},
		{calltest.Result{Err: call.ErrCallNotFound}, calltest.Result{Err: wrapped}, false},
		{calltest.Result{}, calltest.Result{Err: errors.New("boom")}, false},
		{calltest.Result{Err: call.ErrNotPending}, calltest.Result{}, false},
		{calltest.Result{Failed: []string{"bob"}}, calltest.Result{Failed: []string{"bob"}}, true},
		{calltest.Result{Failed: nil}, calltest.Result{Failed: []string{}}, false}, // nil when empty
		{calltest.Result{Invite: call.InviteResult{CallID: "c1", Deadline: t0}},
			calltest.Result{Invite: call.InviteResult{CallID: "c1", Deadline: t0.Local()}}, true},
	} {
		if d := calltest.DiffResult(tc.want, tc.got); (d == "") != tc.same {
			t.Errorf("DiffResult(%+v, %+v) = %q", tc.want, tc.got, d)
		}
	}
}

// TestModelTimeRule: events of a due instant carry it, calls due at one
// instant go in creation order, and an answer at the deadline finds the
// invitation timed out.
func TestModelTimeRule(t *testing.T) {
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("c")}, t0)
	m.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 2 * time.Second})
	m.Advance(t0.Add(time.Second))
	m.Invite("carol", []string{"dave"}, call.InviteConfig{Timeout: time.Second})
	m.Invite("erin", []string{"frank"}, call.InviteConfig{Timeout: 5 * time.Second})
	evs := m.Advance(t0.Add(2 * time.Second))
	var got []string
	for _, e := range evs {
		got = append(got, e.CallID+" "+e.Kind.String()+" "+e.At.Format("05"))
	}
	want := []string{"c1 InviteesAnsweredTimeout 02", "c1 InvitationTimeout 02", "c2 InviteesAnsweredTimeout 02", "c2 InvitationTimeout 02"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}
	m.Advance(t0) // D3: never backwards
	if !m.Now().Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("Now() = %v after an earlier reading", m.Now())
	}
	m.Advance(t0.Add(6 * time.Second))
	if _, err := m.Accept("frank", "c3", call.AcceptConfig{}); !errors.Is(err, call.ErrCallNotFound) {
		t.Fatalf("accept after the deadline: %v, want ErrCallNotFound", err)
	}
}

// TestCheckerAdvanced: an advanced call's stream (RULES.md §4) keeps the
// checks the Checker makes of it.
func TestCheckerAdvanced(t *testing.T) {
	var c calltest.Checker
	r, err := call.NewRegistry(call.Options{
		Clock: clock.NewManual(t0), NewID: calltest.IDs("a"),
		Sink: events.SinkFunc(func(e events.Event) {
			if err := c.Check(e); err != nil {
				t.Error(err)
			}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = r.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced})
	must(err)
	must(r.Reject("carol", "a1", call.RejectConfig{}))
	must(r.Accept("bob", "a1", call.AcceptConfig{}))
	_, err = r.CallingInvite("bob", "a1", []string{"carol", "dave"}, call.CallingInviteConfig{})
	must(err)
	must(r.Accept("carol", "a1", call.AcceptConfig{}))
	must(r.Quit("alice", "a1", call.QuitConfig{}))
	must(r.End("bob", "a1", call.EndConfig{}))
	if err := c.Done(); err != nil {
		t.Fatal(err)
	}
	if live := c.Live(); len(live) != 0 {
		t.Fatalf("Live() = %q after InvitationEnded", live)
	}
}

// summary renders events as "Kind To[/ToDevice] Reason", one a line.
func summary(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		writeHead(&b, e)
		b.WriteString("\n")
	}
	return b.String()
}

// writeHead writes "Kind To[/ToDevice] [Reason]", what summary and lines
// both start with.
func writeHead(b *strings.Builder, e events.Event) {
	b.WriteString(e.Kind.String() + " " + e.To)
	if e.ToDevice != "" {
		b.WriteString("/" + e.ToDevice)
	}
	if e.Reason != events.ReasonNone {
		b.WriteString(" " + e.Reason.String())
	}
}

// TestModelAdvanced walks an advanced call through the Model by hand:
// A1's order and recipients, A2's re-invite in place and its skip of the
// invitees rung, A3's no-op, A4's end by itself, A7, A5 and G7, and the
// Checker accepts the stream.
func TestModelAdvanced(t *testing.T) {
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("a")}, t0)
	var all []events.Event
	type out struct {
		evs []events.Event
		err error
	}
	o := func(evs []events.Event, err error) out { return out{evs, err} }
	step := func(want string, r out) {
		t.Helper()
		if r.err != nil {
			t.Fatal(r.err)
		}
		all = append(all, r.evs...)
		if got := summary(r.evs); got != want {
			t.Fatalf("got\n%swant\n%s", got, want)
		}
	}
	m.Login("alice", "pc")
	_, evs, err := m.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced})
	step("InvitationCreated alice\nInvitationReceived bob\nInvitationReceived carol\n", o(evs, err))
	// A1: carol, the actor, hears of her own reject; everyone pending or in the call too.
	step("UserStateChanged alice Rejected\nUserStateChanged bob Rejected\nUserStateChanged carol Rejected\n",
		o(m.Reject("carol", "a1", call.RejectConfig{})))
	step("UserStateChanged alice\nUserStateChanged bob\n", o(m.Accept("bob", "a1", call.AcceptConfig{})))
	// A2: carol again in place, dave new; the members hear first, not those rung.
	res, evs, err := m.CallingInvite("bob", "a1", []string{"carol", "dave"}, call.CallingInviteConfig{Timeout: 5 * time.Second})
	step("UserStateChanged alice\nUserStateChanged bob\nInvitationReceived carol\nInvitationReceived dave\n", o(evs, err))
	if res.Timeout != 5*time.Second || !res.Deadline.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("calling invite result %+v", res)
	}
	info, _ := m.Call("a1")
	if len(info.Members) != 4 || info.Members[2].User != "carol" || info.Members[2].Inviter != "bob" {
		t.Fatalf("members after the calling invite: %s", calltest.FormatMembers(info.Members))
	}
	if _, _, err := m.CallingInvite("bob", "a1", []string{"alice"}, call.CallingInviteConfig{}); !errors.Is(err, call.ErrDuplicateInvitee) {
		t.Fatalf("inviting the caller: %v, want ErrDuplicateInvitee", err)
	}
	// A3: joining while Accepted is a no-op.
	if _, evs, err := m.Join("bob", "a1", call.JoinConfig{ExtendedData: strings.Repeat("x", 5000)}); err != nil || evs != nil {
		t.Fatalf("join while Accepted: %v, %d events", err, len(evs))
	}
	// A7: a member in the call gets the call's state on its new device.
	step("UserStateChanged bob/phone\n", o(m.Login("bob", "phone"), nil))
	// G5 in advanced mode: the members, then the invitees that timed out.
	step("UserStateChanged alice Timeout\nUserStateChanged bob Timeout\nInvitationTimeout carol Timeout\nInvitationTimeout dave Timeout\n",
		o(m.Advance(t0.Add(5*time.Second)), nil))
	// A4: the caller quits (bob is still in); then bob quits and it empties.
	step("UserStateChanged alice\nUserStateChanged bob\n", o(m.Quit("alice", "a1", call.QuitConfig{})))
	step("UserStateChanged bob\nInvitationEnded bob Empty\n", o(m.Quit("bob", "a1", call.QuitConfig{})))
	if _, ok := m.Call("a1"); ok {
		t.Fatal("the call lives on, empty")
	}

	// A5: End cancels whoever is pending; G7 ends a call with nobody in it.
	_, evs, err = m.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Mode: events.Advanced})
	step("InvitationCreated alice\nInvitationReceived bob\nInvitationReceived carol\n", o(evs, err))
	step("UserStateChanged alice\nUserStateChanged bob\nUserStateChanged carol\n", o(m.Accept("bob", "a2", call.AcceptConfig{})))
	step("InvitationEnded alice Ended\nInvitationEnded bob Ended\nInvitationEnded carol Ended\n", o(m.End("bob", "a2", call.EndConfig{})))
	_, evs, err = m.Invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced})
	step("InvitationCreated alice\nInvitationReceived bob\n", o(evs, err))
	step("UserStateChanged alice Rejected\nUserStateChanged bob Rejected\n", o(m.Reject("bob", "a3", call.RejectConfig{})))
	step("", o(m.Logout("alice", "pc"), nil)) // G7: alice was alone in a3: over, silently
	if m.Len() != 0 {
		t.Fatalf("Len() = %d after G7", m.Len())
	}

	var c calltest.Checker
	if err := c.CheckAll(all); err != nil {
		t.Fatal(err)
	}
	if err := c.Done(); err != nil {
		t.Fatal(err)
	}
}

// TestCheckerCatchesAdvanced feeds the Checker broken advanced streams.
func TestCheckerCatchesAdvanced(t *testing.T) {
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("a")}, t0)
	_, base, _ := m.Invite("alice", []string{"bob"}, call.InviteConfig{Mode: events.Advanced})
	accepted, _ := m.Accept("bob", "a1", call.AcceptConfig{})
	base = append(base, accepted...)
	ended, _ := m.End("alice", "a1", call.EndConfig{})
	edit := func(i int, f func(*events.Event)) []events.Event {
		out := append(append([]events.Event(nil), base...), ended...)
		f(&out[i])
		return out
	}
	n := len(base)
	for _, tc := range []struct {
		name   string
		stream []events.Event
		want   string
	}{
		{"accepted kind", edit(n-2, func(e *events.Event) { e.Kind = events.InvitationAccepted }), "no InvitationAccepted in advanced mode"},
		{"ended without from", edit(n, func(e *events.Event) { e.From = "" }), "must name who ended"},
		{"empty with from", edit(n, func(e *events.Event) { e.Reason = events.ReasonEmpty }), "has no From"},
		{"ended with another reason", edit(n, func(e *events.Event) { e.Reason = events.ReasonCancelled }), "want Ended or Empty"},
		{"ended lists too few", edit(n, func(e *events.Event) { e.Members = e.Members[:1] }), "lists 1 members"},
		{"event after the end", append(edit(0, func(*events.Event) {}), events.Event{Kind: events.UserStateChanged,
			To: "bob", CallID: "a1", Seq: uint64(n + 3), Caller: "alice", Mode: events.Advanced}), "after the call was over"},
		{"stranger", edit(n-1, func(e *events.Event) { e.To = "mallory" }), "no member of the call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c calltest.Checker
			err := c.CheckAll(tc.stream)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Unbroken, it passes.
	var c calltest.Checker
	if err := c.CheckAll(append(base, ended...)); err != nil {
		t.Fatal(err)
	}
}

// lines renders events as "Kind To[/ToDevice] [Reason] [from=From[/Device]]
// [User:State …] +At", one a line, At counted from t0.
func lines(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		writeHead(&b, e)
		if e.From != "" {
			b.WriteString(" from=" + e.From)
			if e.Device != "" {
				b.WriteString("/" + e.Device)
			}
		}
		for _, mb := range e.Members {
			b.WriteString(" " + mb.User + ":" + mb.State.String())
		}
		b.WriteString(" +" + e.At.Sub(t0).String() + "\n")
	}
	return b.String()
}

// TestModelHeartbeats: H5 in the Model. A device lapses exactly
// HeartbeatTimeout after its last heartbeat (a Login of a device already
// in counts as one), and G7 applies; at one instant, member deadlines go
// first (the Time rule); without HeartbeatTimeout nothing lapses.
func TestModelHeartbeats(t *testing.T) {
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("c"), HeartbeatTimeout: 10 * time.Second}, t0)
	var all []events.Event
	step := func(want string, evs []events.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if got := lines(evs); got != want {
			t.Fatalf("got\n%swant\n%s", got, want)
		}
	}
	at := func(d time.Duration) []events.Event { return m.Advance(t0.Add(d)) }
	step("", m.Login("alice", "pc"), nil)
	step("", m.Login("bob", "phone"), nil)
	_, evs, err := m.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: time.Minute})
	step("InvitationCreated alice from=alice alice:Accepted bob:Received +0s\n"+
		"InvitationReceived bob from=alice alice:Accepted bob:Received +0s\n", evs, err)
	step("", at(6*time.Second), nil)
	m.Heartbeat("bob", "phone")
	m.Heartbeat("carol", "x") // not logged in: nothing
	step("", m.Login("bob", "phone"), nil)
	step("", at(10*time.Second-time.Nanosecond), nil)
	step("InvitationCancelled bob CallerOffline from=alice bob:Cancelled +10s\n", at(10*time.Second), nil)
	if d := m.Devices("alice"); len(d) != 0 {
		t.Fatalf("alice's devices after the lapse: %q", d)
	}

	// A Login of a device already in counts as a heartbeat: dave's device,
	// in at +10s and again at +16s, lapses at +26s, not +20s. (bob's phone,
	// last heard of at +6s, lapses at +16s, silently.)
	step("", m.Login("dave", "d"), nil)
	_, evs, err = m.Invite("dave", []string{"erin"}, call.InviteConfig{Timeout: time.Minute})
	step("InvitationCreated dave from=dave dave:Accepted erin:Inviting +10s\n"+
		"InvitationReceived erin from=dave dave:Accepted erin:Inviting +10s\n", evs, err)
	step("", at(16*time.Second), nil)
	if d := m.Devices("bob"); len(d) != 0 {
		t.Fatalf("bob's devices after the lapse: %q", d)
	}
	step("", m.Login("dave", "d"), nil)
	step("", at(26*time.Second-time.Nanosecond), nil)
	step("InvitationCancelled erin CallerOffline from=dave erin:Cancelled +26s\n", at(26*time.Second), nil)

	// The Time rule: frank's device lapses at +36s, the instant his first
	// call's deadline passes. The deadline goes first (G5), then the lapse
	// cancels his second call (G7).
	step("", m.Login("frank", "f"), nil)
	for _, inv := range []struct {
		to      string
		timeout time.Duration
	}{{"gina", 10 * time.Second}, {"hank", time.Minute}} {
		_, evs, err := m.Invite("frank", []string{inv.to}, call.InviteConfig{Timeout: inv.timeout})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
	}
	step("InviteesAnsweredTimeout frank Timeout gina:Timeout +36s\n"+
		"InvitationTimeout gina Timeout gina:Timeout +36s\n"+
		"InvitationCancelled hank CallerOffline from=frank hank:Cancelled +36s\n", at(time.Hour), nil)
	if m.Len() != 0 {
		t.Fatalf("Len() = %d", m.Len())
	}
	if next, ok := m.NextDue(); ok {
		t.Fatalf("NextDue() = %v with nobody online and no call", next)
	}
	var c calltest.Checker
	if err := c.CheckAll(all); err != nil {
		t.Fatal(err)
	}
	if err := c.Done(); err != nil {
		t.Fatal(err)
	}

	// Without HeartbeatTimeout, nothing lapses.
	m = calltest.NewModel(call.Options{NewID: calltest.IDs("c")}, t0)
	m.Login("alice", "pc")
	m.Heartbeat("alice", "pc")
	if _, ok := m.NextDue(); ok {
		t.Fatal("something is due without HeartbeatTimeout")
	}
	m.Advance(t0.Add(1000 * time.Hour))
	if d := m.Devices("alice"); len(d) != 1 {
		t.Fatalf("alice's devices: %q", d)
	}
}

// TestModelNotReceived: H6 in the Model, as the golden scenario
// policy-not-received has it, and the Time rule: at one instant, the
// member deadlines of every call go before the not-received checks.
func TestModelNotReceived(t *testing.T) {
	m := calltest.NewModel(call.Options{NewID: calltest.IDs("c"), NotReceivedAfter: 5 * time.Second}, t0)
	var all []events.Event
	step := func(want string, evs []events.Event) {
		t.Helper()
		all = append(all, evs...)
		if got := lines(evs); got != want {
			t.Fatalf("got\n%swant\n%s", got, want)
		}
	}
	must := func(evs []events.Event, err error) []events.Event {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	invite := func(from string, to []string, timeout time.Duration, mode events.Mode) {
		t.Helper()
		_, evs, err := m.Invite(from, to, call.InviteConfig{Timeout: timeout, Mode: mode})
		all = append(all, must(evs, err)...)
	}
	at := func(d time.Duration) []events.Event { return m.Advance(t0.Add(d)) }

	m.Login("alice", "pc")
	m.Login("bob", "phone")
	invite("alice", []string{"bob", "carol", "dave"}, 30*time.Second, events.General) // c1
	step("", at(5*time.Second-time.Nanosecond))
	step("UserStateChanged alice carol:NotYetReceived +5s\n"+
		"UserStateChanged alice dave:NotYetReceived +5s\n", at(5*time.Second))
	step("", at(8*time.Second))
	step("InvitationReceived carol/tablet from=alice alice:Accepted bob:Received carol:Received dave:NotYetReceived +8s\n"+
		"UserStateChanged alice from=carol/tablet carol:Received +8s\n", m.Login("carol", "tablet"))

	// Advanced mode: the members pending or Accepted other than the
	// invitee hear of it, and of its receipt.
	invite("erin", []string{"frank", "bob"}, 30*time.Second, events.Advanced) // c2
	step("UserStateChanged erin from=bob bob:Accepted +8s\n"+
		"UserStateChanged frank from=bob bob:Accepted +8s\n"+
		"UserStateChanged bob from=bob bob:Accepted +8s\n", must(m.Accept("bob", "c2", call.AcceptConfig{})))
	step("UserStateChanged erin frank:NotYetReceived +13s\n"+
		"UserStateChanged bob frank:NotYetReceived +13s\n", at(13*time.Second))
	step("", at(14*time.Second))
	step("InvitationReceived frank/f from=erin erin:Accepted frank:Received bob:Accepted +14s\n"+
		"UserStateChanged erin from=frank/f frank:Received +14s\n"+
		"UserStateChanged bob from=frank/f frank:Received +14s\n", m.Login("frank", "f"))

	// The Time rule: c3's check and c4's deadline fall at +19s; the
	// deadline goes first, though c3 is older.
	invite("alice", []string{"gina"}, 30*time.Second, events.General) // c3
	invite("erin", []string{"hank"}, 5*time.Second, events.General)   // c4
	step("InviteesAnsweredTimeout erin Timeout hank:Timeout +19s\n"+
		"InvitationTimeout hank Timeout hank:Timeout +19s\n"+
		"UserStateChanged alice gina:NotYetReceived +19s\n", at(19*time.Second))
	// An invitee due to time out at its check's instant times out, and is
	// never found not received.
	invite("ivan", []string{"judy"}, 5*time.Second, events.General) // c5
	step("InviteesAnsweredTimeout ivan Timeout judy:Timeout +24s\n"+
		"InvitationTimeout judy Timeout judy:Timeout +24s\n", at(24*time.Second))

	var c calltest.Checker
	if err := c.CheckAll(all); err != nil {
		t.Fatal(err)
	}
}

// TestHarnessHeartbeatsAndChecks steps a Registry and the Model through
// edges of H5 and H6 that random runs reach only now and then: a check
// in an advanced call the caller has left, a receipt nobody is left to
// hear of, heartbeats reordered at one instant, and devices lapsing at one
// instant in the order of their last heartbeats (G7 for each).
func TestHarnessHeartbeatsAndChecks(t *testing.T) {
	o := call.Options{HeartbeatTimeout: 10 * time.Second, NotReceivedAfter: 2 * time.Second}
	clk := clock.NewManual(t0)
	rec := &events.Recorder{}
	so := o
	so.Clock, so.Sink, so.NewID = clk, rec, calltest.IDs("c")
	r, err := call.NewRegistry(so)
	if err != nil {
		t.Fatal(err)
	}
	mo := o
	mo.NewID = calltest.IDs("c")
	h := &calltest.Harness{Server: r, Model: calltest.NewModel(mo, t0), Advance: clk.Advance, Take: rec.Take}
	for _, c := range []calltest.Command{
		{Op: calltest.OpLogin, User: "alice"},
		{Op: calltest.OpLogin, User: "bob"},
		{Op: calltest.OpLogin, User: "carol"},
		{Op: calltest.OpInvite, User: "alice", Users: []string{"bob", "dave"}, Mode: events.Advanced, Timeout: 5 * time.Second},
		{Op: calltest.OpInvite, User: "carol", Users: []string{"erin"}, Timeout: time.Minute},
		{Op: calltest.OpAccept, User: "bob", CallID: "c1"},
		{Op: calltest.OpQuit, User: "alice", CallID: "c1"},
		{Op: calltest.OpAdvance, Advance: 2 * time.Second}, // dave: bob hears; erin: carol hears
		{Op: calltest.OpQuit, User: "bob", CallID: "c1"},
		{Op: calltest.OpLogin, User: "dave", Device: "x"},  // the replay, and nobody to tell
		{Op: calltest.OpAdvance, Advance: 3 * time.Second}, // dave times out; c1 ends (A4)
		{Op: calltest.OpInvite, User: "alice", Users: []string{"frank"}, Timeout: time.Minute},
		{Op: calltest.OpHeartbeat, User: "alice"},
		{Op: calltest.OpHeartbeat, User: "carol"},
		{Op: calltest.OpLogin, User: "alice"},               // a heartbeat: alice's is now the last
		{Op: calltest.OpAdvance, Advance: 10 * time.Second}, // frank's check; then carol's c2, alice's c3 (G7)
	} {
		h.Step(t, c)
	}
	h.Finish(t)
}
