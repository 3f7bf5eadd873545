package calltest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// connHost is a host with one connection per logged-in device around a
// Registry: a Login opens a connection (before the Registry's Login, so
// that the replays reach it), a Logout closes it, and its Sink writes each
// event to the connections of its user To (or of To's device ToDevice
// alone), and none for an Offline event. fault, when set, breaks it in one
// way, as a buggy host would be.
type connHost struct {
	*call.Registry
	fault  string
	all    events.Recorder
	conns  []*calltest.Conn             // every connection, in the order opened
	open   map[[2]string]*calltest.Conn // user and device → its open connection
	writes int                          // events written so far
	held   *events.Event                // "reorders": an event held back …
	heldOn *calltest.Conn               //   … on this connection
	queued map[string][]events.Event    // "buffers offline events": per user
}

func newConnHost(t interface{ Fatal(...any) }, o call.Options, fault string) (*connHost, *clock.Manual) {
	h := &connHost{fault: fault, open: map[[2]string]*calltest.Conn{}, queued: map[string][]events.Event{}}
	clk := clock.NewManual(t0)
	o.Clock, o.Sink, o.NewID = clk, events.SinkFunc(h.emit), calltest.IDs("c")
	r, err := call.NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	h.Registry = r
	return h, clk
}

func (h *connHost) Login(user, device string) error {
	k := [2]string{user, device}
	if h.open[k] != nil {
		return h.Registry.Login(user, device)
	}
	c := &calltest.Conn{User: user, Device: device}
	h.conns = append(h.conns, c)
	if h.fault != "opens the connection after the login" {
		h.open[k] = c
	}
	if h.fault == "buffers offline events" {
		c.Events = append(c.Events, h.queued[user]...)
		delete(h.queued, user)
	}
	err := h.Registry.Login(user, device)
	h.open[k] = c
	return err
}

func (h *connHost) Logout(user, device string) error {
	delete(h.open, [2]string{user, device})
	return h.Registry.Logout(user, device)
}

func (h *connHost) emit(e events.Event) {
	h.all.Emit(e)
	if e.Offline {
		if h.fault == "buffers offline events" {
			h.queued[e.To] = append(h.queued[e.To], e)
		}
		return
	}
	for _, c := range h.conns {
		if h.open[[2]string{c.User, c.Device}] != c || c.User != e.To {
			continue
		}
		if e.ToDevice != "" && e.ToDevice != c.Device && h.fault != "ignores ToDevice" {
			continue
		}
		h.write(c, e)
	}
}

func (h *connHost) write(c *calltest.Conn, e events.Event) {
	h.writes++
	switch {
	case h.fault == "drops" && h.writes == 4:
		return
	case h.fault == "duplicates" && h.writes == 2:
		c.Events = append(c.Events, e)
	case h.fault == "reorders" && h.writes == 1:
		h.held, h.heldOn = &e, c
		return
	case h.fault == "reorders" && h.heldOn == c && h.held.CallID == e.CallID:
		c.Events = append(c.Events, e, *h.held)
		h.heldOn = nil
		return
	}
	c.Events = append(c.Events, e)
}

// Conns returns the connections, as ConnChecker.Check takes them.
func (h *connHost) Conns() []calltest.Conn {
	out := make([]calltest.Conn, len(h.conns))
	for i, c := range h.conns {
		out[i] = *c
	}
	return out
}

// harness returns a Harness driving h with a connected Wire.
func (h *connHost) harness(clk *clock.Manual, o call.Options) *calltest.Harness {
	o.NewID = calltest.IDs("c")
	return &calltest.Harness{
		Server: h, Model: calltest.NewModel(o, t0), Advance: clk.Advance, Take: h.all.Take, Conns: h.Conns,
		Wire: calltest.Wire{Devices: []string{"phone", "web", "tab"}, TimeUnit: time.Millisecond, Connected: true, JSON: true},
	}
}

// firstFailure is a TB that keeps the first failure and goes on.
type firstFailure struct{ msg string }

func (*firstFailure) Helper() {}

func (f *firstFailure) Fatalf(format string, args ...any) {
	if f.msg == "" {
		f.msg = fmt.Sprintf(format, args...)
	}
}

// connScript: bob on two devices, carol offline when rung and replayed to
// at her login, bob's second device replayed to at its second login, a
// call answered and one timing out.
var connScript = []calltest.Command{
	{Op: calltest.OpLogin, User: "alice", Device: "web"},
	{Op: calltest.OpLogin, User: "bob", Device: "phone"},
	{Op: calltest.OpLogin, User: "bob", Device: "web"},
	{Op: calltest.OpInvite, User: "alice", Users: []string{"bob", "carol"}},
	{Op: calltest.OpLogin, User: "carol", Device: "tab"},
	{Op: calltest.OpLogout, User: "bob", Device: "web"},
	{Op: calltest.OpInvite, User: "alice", Users: []string{"bob"}, Timeout: 20 * time.Second},
	{Op: calltest.OpLogin, User: "bob", Device: "web"},
	{Op: calltest.OpAccept, User: "bob", CallID: "c1", Device: "web"},
	{Op: calltest.OpReject, User: "carol", CallID: "c1", Device: "tab"},
	{Op: calltest.OpAdvance, Advance: 20 * time.Second},
}

// TestConnChecker: a host that delivers each event to the connections
// the Model says passes; hosts that drop, duplicate, reorder within a
// call, ignore ToDevice, hand a device what it missed while offline or
// open a connection only after the login are each caught. Every one of
// them makes the Registry's events right, which the Harness checks: only
// the connections tell.
func TestConnChecker(t *testing.T) {
	for _, tc := range []struct{ fault, want string }{
		{"", ""},
		{"drops", "never arrived"},
		{"duplicates", "arrived twice"},
		{"reorders", "out of order"},
		{"ignores ToDevice", "delivered to the wrong device"},
		{"buffers offline events", "is Offline"},
		{"opens the connection after the login", "never arrived"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			o := call.Options{DefaultTimeout: 30 * time.Second}
			host, clk := newConnHost(t, o, tc.fault)
			h := host.harness(clk, o)
			h.Conns = nil // checked at the end, below
			cc := calltest.NewConnChecker(h.Model)
			for _, c := range connScript {
				h.Step(t, c)
			}
			h.Finish(t)
			err := cc.Check(host.Conns())
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("a correct host fails: %v", err)
			case tc.want == "" && len(host.Conns()) != 5:
				t.Fatalf("%d connections, want 5", len(host.Conns()))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestHarnessConns: given Conns, the Harness checks the connections after
// every step, and fails the step that breaks them.
func TestHarnessConns(t *testing.T) {
	for _, tc := range []struct {
		fault string
		step  int
	}{{"", 0}, {"drops", 5}, {"reorders", 4}, {"ignores ToDevice", 8}, {"buffers offline events", 5}} {
		t.Run(tc.fault, func(t *testing.T) {
			o := call.Options{DefaultTimeout: 30 * time.Second}
			host, clk := newConnHost(t, o, tc.fault)
			h := host.harness(clk, o)
			tb := &firstFailure{}
			for _, c := range connScript {
				h.Step(tb, c)
			}
			h.Finish(tb)
			want := ""
			if tc.step > 0 {
				want = fmt.Sprintf("step %d, %v: calltest: connection", tc.step, connScript[tc.step-1])
			}
			if !strings.HasPrefix(tb.msg, want) || (want == "") != (tb.msg == "") {
				t.Fatalf("got %q, want a failure starting %q", tb.msg, want)
			}
		})
	}
}

// TestConnCheckerMapping: the k-th Conn of a device is its k-th login; a
// Conn the Model has no login for, or a login with events and no Conn,
// is reported.
func TestConnCheckerMapping(t *testing.T) {
	o := call.Options{DefaultTimeout: 30 * time.Second}
	host, clk := newConnHost(t, o, "")
	h := host.harness(clk, o)
	cc := calltest.NewConnChecker(h.Model)
	for _, c := range connScript {
		h.Step(t, c)
	}
	if calltest.NewConnChecker(h.Model) != cc {
		t.Fatal("a second ConnChecker for one Model")
	}
	conns := host.Conns()
	if err := cc.Check(conns); err != nil {
		t.Fatal(err)
	}
	want := cc.Want()
	if len(want) != len(conns) {
		t.Fatalf("Want() has %d connections, the host %d", len(want), len(conns))
	}
	for i := range want {
		if want[i].User != conns[i].User || want[i].Device != conns[i].Device || calltest.DiffEvents(want[i].Events, conns[i].Events) != "" {
			t.Fatalf("Want()[%d] differs from the host's:\n%s", i, calltest.DiffEvents(want[i].Events, conns[i].Events))
		}
	}
	for _, tc := range []struct {
		name  string
		conns []calltest.Conn
		want  string
	}{
		{"one too many", append(conns, calltest.Conn{User: "bob", Device: "web"}), "logged in 2 times"},
		{"never logged in", append(conns, calltest.Conn{User: "dave", Device: "phone"}), "logged in 0 times"},
		{"bob's web connections swapped", swap(conns, 2, 4), "none this connection must get"},
		{"carol's left out", append(conns[:3:3], conns[4:]...), "no connection given for carol/\"tab\"'s login #1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cc.Check(tc.conns)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func swap(conns []calltest.Conn, i, j int) []calltest.Conn {
	out := append([]calltest.Conn(nil), conns...)
	out[i], out[j] = out[j], out[i]
	return out
}

// TestConnCheckerRapid: under a connected Wire, a correct host's
// connections agree with the Model step by step, both modes, with the
// host policies that change who hears what.
func TestConnCheckerRapid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		o := call.Options{
			MaxInvitees:      3,
			DefaultTimeout:   30 * time.Second,
			Busy:             rapid.SampledFrom([]call.BusyPolicy{call.BusyOff, call.BusyInCall}).Draw(t, "Busy"),
			Glare:            rapid.SampledFrom([]call.GlarePolicy{call.GlareOff, call.GlareMerge}).Draw(t, "Glare"),
			NotReceivedAfter: rapid.SampledFrom([]time.Duration{0, time.Second}).Draw(t, "NotReceivedAfter"),
		}
		host, clk := newConnHost(t, o, "")
		h := host.harness(clk, o)
		if rapid.Bool().Draw(t, "general only") {
			h.Wire.Ops = calltest.GeneralOps
		}
		h.Run(t)
	})
}
