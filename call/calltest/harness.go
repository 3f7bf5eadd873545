package calltest

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
	"pgregory.net/rapid"
)

// TB is the part of *testing.T and *rapid.T that a Harness uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Inspector is the optional query side of a Server (a *call.Registry has
// it). When the Server has it, the Harness checks Call and Len against the
// Model after every step.
type Inspector interface {
	Call(callID string) (call.Info, bool)
	Len() int
}

// Historian is the optional history query of a Server (H8; a
// *call.Registry has it). When the Server has it and the Model keeps
// history, the Harness checks it against the Model after every step.
type Historian interface {
	History(user string, count int, cursor string) (calls []call.Info, next string, err error)
}

// DefaultUsers is the user pool a Harness draws from when its Users is nil.
var DefaultUsers = []string{"alice", "bob", "carol", "dave", "zoë"}

// Harness drives a server and a Model side by side: each step performs one
// command on both and fails the test unless the server answered and
// delivered exactly what the Model predicts and the delivered events keep
// the Checker's invariants.
//
// The server must use the same Options as the Model (limits and a NewID
// sequence of its own that equals the Model's), a clock that only Advance
// moves (a *clock.Manual), and deliver events in the order produced: Take
// must return, after each step, every event delivered during it.
type Harness struct {
	Server  Server                // the system under test
	Model   *Model                // the reference, built with the server's Options and start time
	Advance func(time.Duration)   // moves the server's clock forward, running its due timers, e.g. (*clock.Manual).Advance
	Take    func() []events.Event // the events delivered since the last call, e.g. (*events.Recorder).Take
	Users   []string              // the user pool; nil: DefaultUsers
	Ops     []Op                  // the ops to draw; nil: all (see Commands)

	// Wire narrows the commands drawn to what the host's protocol carries
	// (see [Wire]); its Users and Ops, when set, take the place of Users
	// and Ops above. Finish follows it too: its clock step is a whole
	// number of TimeUnit, and with Connected each command it sends comes
	// from an online device of its user, which it logs in first if the
	// user has none.
	Wire Wire

	// Conns, when set, returns the host's connections, each with what it
	// received so far, as [ConnChecker.Check] takes them; every step then
	// checks them against the Model (once the server owes no events, see
	// LateTimers). Give it with a Connected Wire.
	Conns func() []Conn
	conns *ConnChecker // NewConnChecker(Model), from the first step on, if Conns is set

	Checker Checker // fed every delivered event
	Steps   int     // steps taken so far

	// LateTimers says the server's clock may run its timers late, or not at
	// all, as a real clock under load may. What falls due during an
	// OpAdvance may then be delivered in a later step, but in order and
	// before anything else: at the latest by the next command, login,
	// logout or heartbeat, which must first process everything due at or
	// before its reading (the Time rule of RULES.md §2). Until then, once
	// anything fell due, Check compares nothing: the server's queries may
	// lag (D4), also where what fell due told nobody (an H6 check in an
	// advanced call with nobody else in it, an H5 lapse of a device).
	LateTimers bool
	owed       []events.Event // expected, not yet delivered (LateTimers)
	lagging    bool           // LateTimers: something fell due since the last input that was not an OpAdvance
}

// Step performs c on the server and the Model and compares them: the
// result (errors with errors.Is against the Model's sentinel), the
// delivered events field by field (see [DiffEvents]), the Checker's
// invariants, with Conns what each connection received ([ConnChecker]),
// and, if the Server is an Inspector, the state ([Harness.Check]).
func (h *Harness) Step(t TB, c Command) {
	t.Helper()
	if h.Conns != nil && h.conns == nil {
		h.conns = NewConnChecker(h.Model)
	}
	h.Steps++
	got := Do(h.Server, h.Advance, c)
	gotEvents := h.Take()
	due, anyDue := h.Model.NextDue()
	want, wantEvents := h.Model.Do(c)
	if c.Op != OpAdvance {
		h.lagging = false // the Time rule: the input processed everything due first
	} else if h.LateTimers && anyDue && !due.After(h.Model.Now()) {
		h.lagging = true
	}
	if d := DiffResult(want, got); d != "" {
		t.Fatalf("step %d, %v: %s", h.Steps, c, d)
	}
	wantEvents = slices.Concat(h.owed, wantEvents)
	h.owed = nil
	if h.LateTimers && c.Op == OpAdvance && len(gotEvents) <= len(wantEvents) {
		// The server may not have run every due timer yet: what it
		// delivered must begin what is expected, and the rest is owed.
		if DiffEvents(wantEvents[:len(gotEvents)], gotEvents) == "" {
			h.owed = wantEvents[len(gotEvents):]
			wantEvents = wantEvents[:len(gotEvents)]
		}
	}
	if d := DiffEvents(wantEvents, gotEvents); d != "" {
		t.Fatalf("step %d, %v: %s", h.Steps, c, d)
	}
	if err := h.Checker.CheckAll(gotEvents); err != nil {
		t.Fatalf("step %d, %v: %v", h.Steps, c, err)
	}
	if h.conns != nil && len(h.owed) == 0 {
		if err := h.conns.Check(h.Conns()); err != nil {
			t.Fatalf("step %d, %v: %v", h.Steps, c, err)
		}
	}
	h.Check(t)
}

// Check compares the server's queries with the Model, if the Server is an
// Inspector: Len, and Call for every call ID the Model has seen (live or
// over) and for an unknown one; and, if the Server is a [Historian] and
// the Model keeps history (H8), each user's History, page by page.
func (h *Harness) Check(t TB) {
	t.Helper()
	in, ok := h.Server.(Inspector)
	if !ok || h.lagging {
		return
	}
	if got, want := in.Len(), h.Model.Len(); got != want {
		t.Fatalf("after step %d: Len() = %d, want %d", h.Steps, got, want)
	}
	for _, id := range append(h.Model.IDs(), "no-such-call") {
		got, gotOK := in.Call(id)
		want, wantOK := h.Model.Call(id)
		if gotOK != wantOK {
			t.Fatalf("after step %d: Call(%q) found = %v, want %v", h.Steps, id, gotOK, wantOK)
		}
		if d := DiffInfo(want, got); d != "" {
			t.Fatalf("after step %d: Call(%q): %s", h.Steps, id, d)
		}
	}
	h.checkHistory(t)
}

// checkHistory compares the server's History (H8) with the Model's for
// every user that has one and a user that has none, page by page with the
// cursors the server returns; the page size cycles through 1, 2 and 0 (100).
func (h *Harness) checkHistory(t TB) {
	t.Helper()
	hs, ok := h.Server.(Historian)
	if !ok || h.Model.history <= 0 {
		return
	}
	count := []int{1, 2, 0}[h.Steps%3]
	// H8: an invalid user ID is ErrInvalidUser; a malformed cursor
	// ErrInvalidArgument.
	if _, _, err := hs.History("", count, ""); !errors.Is(err, call.ErrInvalidUser) {
		t.Fatalf("after step %d: History(\"\"): %v, want ErrInvalidUser", h.Steps, err)
	}
	if _, _, err := hs.History("alice", count, "not a cursor!"); !errors.Is(err, call.ErrInvalidArgument) {
		t.Fatalf("after step %d: History with a malformed cursor: %v, want ErrInvalidArgument", h.Steps, err)
	}
	for _, u := range append(h.Model.HistoryUsers(), "nobody") {
		want := h.Model.History(u)
		var got []call.Info
		cursor := ""
		for page := 0; ; page++ {
			calls, next, err := hs.History(u, count, cursor)
			if err != nil {
				t.Fatalf("after step %d: History(%q, %d, %q): %v", h.Steps, u, count, cursor, err)
			}
			if page > len(want) {
				t.Fatalf("after step %d: History(%q) pages on past %d calls", h.Steps, u, len(want))
			}
			if count > 0 && len(calls) > count {
				t.Fatalf("after step %d: History(%q, %d, …) returned %d calls", h.Steps, u, count, len(calls))
			}
			got = append(got, calls...)
			if (next == "") != (len(got) >= len(want)) {
				t.Fatalf("after step %d: History(%q, %d, …) after %d of %d calls: next %q", h.Steps, u, count, len(got), len(want), next)
			}
			if next == "" {
				break
			}
			// H8: a cursor made for another user is ErrInvalidArgument.
			if _, _, err := hs.History(u+"-other", count, next); !errors.Is(err, call.ErrInvalidArgument) {
				t.Fatalf("after step %d: History of another user with %q's cursor: %v, want ErrInvalidArgument", h.Steps, u, err)
			}
			cursor = next
		}
		if len(got) != len(want) {
			t.Fatalf("after step %d: History(%q): %d calls, want %d", h.Steps, u, len(got), len(want))
		}
		for i := range want {
			if d := DiffInfo(want[i], got[i]); d != "" || !want[i].EndedAt.Equal(got[i].EndedAt) {
				t.Fatalf("after step %d: History(%q)[%d]: %s (EndedAt got %s, want %s)", h.Steps, u, i, d,
					formatTime(got[i].EndedAt), formatTime(want[i].EndedAt))
			}
		}
	}
}

// Owed returns how many expected events the server has not delivered yet
// (see LateTimers).
func (h *Harness) Owed() int { return len(h.owed) }

// Lagging reports whether the server may not have processed yet all that
// fell due (see LateTimers): its state may lag the Model's.
func (h *Harness) Lagging() bool { return h.lagging }

// Finish ends a run: it advances the clock past every deadline and every
// device's heartbeat (by the Model's MaxTimeout, or HeartbeatTimeout if
// that is longer) as a step of its own, then, if the server may lag
// (LateTimers), takes a step with a command that must fail and so changes
// nothing but the passing of time (G1: an accept by "nobody" of
// "no-such-call"). Every general call is over then (G5, G6); an advanced
// call still live has a member in it (A4), and Finish ends each with an
// End by its first member in the call (A5), a step each. It then checks
// that no call is left and that every invitee of every general call ended
// exactly once ([Checker.Done]).
func (h *Harness) Finish(t TB) {
	t.Helper()
	step := max(h.Model.maxTimeout, h.Model.heartbeat)
	if u := h.Wire.TimeUnit; u > 0 {
		step = ceilTo(step, u)
	}
	h.Step(t, Command{Op: OpAdvance, Advance: step})
	if h.lagging {
		flush := Command{Op: OpAccept, User: "nobody", CallID: "no-such-call"}
		if h.Wire.Connected { // from a connection, if there is one
			for _, u := range h.users() {
				if ds := h.Model.devices[u]; len(ds) > 0 {
					flush.User, flush.Device = u, ds[0]
					break
				}
			}
		}
		h.Step(t, flush)
	}
	for _, c := range h.Model.Calls() {
		if c.Mode != events.Advanced {
			t.Fatalf("after every deadline: general call %q is live", c.CallID)
		}
		in := slices.IndexFunc(c.Members, func(m events.Member) bool { return m.State == events.Accepted })
		if in < 0 {
			t.Fatalf("after every deadline: advanced call %q is live with nobody in it", c.CallID)
		}
		u := c.Members[in].User
		h.Step(t, Command{Op: OpEnd, User: u, CallID: c.CallID, Device: h.connected(t, u)})
	}
	if n := h.Model.Len(); n != 0 {
		t.Fatalf("after every deadline: the Model has %d live calls", n)
	}
	if err := h.Checker.Done(); err != nil {
		t.Fatalf("%v", err)
	}
}

// connected returns the device a command of user comes from: "" unless
// the Wire is Connected; then an online device of user, logged in first
// (a step of its own) if there is none.
func (h *Harness) connected(t TB, user string) string {
	if !h.Wire.Connected {
		return ""
	}
	if ds := h.Model.devices[user]; len(ds) > 0 {
		return ds[0]
	}
	d := Devices[0]
	if h.Wire.Devices != nil {
		d = h.Wire.Devices[0]
	}
	h.Step(t, Command{Op: OpLogin, User: user, Device: d})
	return d
}

// users returns the user pool: Wire.Users, Users or DefaultUsers.
func (h *Harness) users() []string {
	switch {
	case h.Wire.Users != nil:
		return h.Wire.Users
	case h.Users != nil:
		return h.Users
	}
	return DefaultUsers
}

// Commands returns the generator Actions draws from: [Wire.Commands] with
// the Harness's Wire, its Users and Ops standing in for the Wire's where
// those are nil.
func (h *Harness) Commands() *rapid.Generator[Command] {
	w := h.Wire
	if w.Ops == nil {
		w.Ops = h.Ops
	}
	return newGen(h.Model, w, h.users(), w.Users != nil).commands()
}

// Actions returns the actions of a rapid state machine for [rapid.T.Repeat]:
// "command", which draws a command ([Harness.Commands]) and takes a
// [Harness.Step] with it, and the invariant check "" ([Harness.Check]).
// Add actions of your own to the map, or replace "", as you need.
func (h *Harness) Actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"command": func(t *rapid.T) {
			h.Step(t, h.Commands().Draw(t, "command"))
		},
		"": func(t *rapid.T) { h.Check(t) },
	}
}

// Run runs a whole property: t.Repeat over [Harness.Actions], then
// [Harness.Finish].
func (h *Harness) Run(t *rapid.T) {
	t.Helper()
	t.Repeat(h.Actions())
	h.Finish(t)
}

// DiffInfo compares two views of a call and returns "" when they are equal
// (times with Equal, members element by element), else what differs.
func DiffInfo(want, got call.Info) string {
	if want.CallID == got.CallID && want.Caller == got.Caller && want.Mode == got.Mode &&
		want.CreatedAt.Equal(got.CreatedAt) && want.Timeout == got.Timeout &&
		want.ExtendedData == got.ExtendedData && EqualMembers(want.Members, got.Members) {
		return ""
	}
	return fmt.Sprintf("got %s\nwant %s", formatInfo(got), formatInfo(want))
}

func formatInfo(i call.Info) string {
	return fmt.Sprintf("{CallID:%s Caller:%s Mode:%v CreatedAt:%s Timeout:%v ExtendedData:%s Members:%s}",
		quote(i.CallID), quote(i.Caller), i.Mode, formatTime(i.CreatedAt), i.Timeout, shortQuote(i.ExtendedData), FormatMembers(i.Members))
}
