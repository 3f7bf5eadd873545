package core

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/callsig/callsig/events"
)

// These tests drive core.Call alone, with no Registry: the driver's part
// (which members are online, the journal between check and apply) is
// played by the test.

var (
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	deadline = t0.Add(time.Minute)
	limits   = Limits{MaxInvitees: 9, MaxTimeout: 10 * time.Minute, MaxData: 16}
)

// situation returns a live call of the given mode made at t0 by "a", with
// "b" in state b and "c" Received, its Seq at 5: c keeps the call live
// whatever happens to b alone.
func situation(mode events.Mode, b events.State) *Call {
	member := func(u string, s events.State) events.Member {
		m := events.Member{User: u, State: s, Inviter: "a"}
		if s.Pending() {
			m.Deadline = deadline
		}
		return m
	}
	c := &Call{}
	c.Attach(make([]events.Member, 4))
	c.Restore("c1", mode, time.Minute, t0, 5, []events.Member{
		{User: "a", State: events.Accepted}, member("b", b), member("c", events.Received),
	}, nil)
	return c
}

// view is everything of a call a change may touch, deep-copied.
type view struct {
	members           []events.Member
	seq               uint64
	pending, accepted int16
	status            callStatus
	extras            Extras
	hasExtras         bool
}

func viewOf(c *Call) view {
	v := view{members: slices.Clone(c.Members()), seq: c.seq, pending: c.pending, accepted: c.accepted, status: c.status}
	if x := c.extras; x != nil {
		v.hasExtras = true
		v.extras = *x
		v.extras.Pushes, v.extras.Checks, v.extras.Merged = slices.Clone(x.Pushes), slices.Clone(x.Checks), slices.Clone(x.Merged)
	}
	return v
}

// command is one command on the call, by the test's driver: the check,
// then, if it passed and is no no-op, the apply. It reports the refusal,
// and whether the command was a no-op.
type command func(c *Call, online Set, out *Outbox) (r Refusal, noop bool)

var commands = map[string]command{
	"accept": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		a, r := c.CheckAnswer("b", true, "d", "", limits.MaxData)
		if !r.Refused() && !a.Noop {
			c.ApplyAnswer(t0, a, online, out)
		}
		return r, a.Noop
	},
	"reject": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		a, r := c.CheckAnswer("b", false, "d", "", limits.MaxData)
		if !r.Refused() && !a.Noop {
			c.ApplyAnswer(t0, a, online, out)
		}
		return r, a.Noop
	},
	"cancel b": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		p, r := c.CheckCancel("a", []string{"b"}, "d", nil, limits.MaxData)
		if !r.Refused() {
			c.ApplyCancel(t0, p, online, out)
		}
		return r, false
	},
	"cancel all": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		p, r := c.CheckCancel("a", nil, "d", nil, limits.MaxData)
		if !r.Refused() {
			c.ApplyCancel(t0, p, online, out)
		}
		return r, false
	},
	"login b": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		c.LoggedIn(t0, 1, "phone", online, out)
		return Refusal{}, false
	},
	"deadline": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		c.Expire(deadline, DueDeadline, online, out)
		return Refusal{}, false
	},
	"caller offline": func(c *Call, _ Set, out *Outbox) (Refusal, bool) {
		c.CallerOffline(t0, Set{}, out)
		return Refusal{}, false
	},
	"join b": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		a, r := c.CheckJoin("b", "d", "", limits.MaxData)
		if !r.Refused() && !a.Noop {
			c.ApplyJoin(t0, a, online, out)
		}
		return r, a.Noop
	},
	"quit b": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		a, r := c.CheckQuit("b", "d", "", limits.MaxData)
		if !r.Refused() {
			c.ApplyQuit(t0, a, online, out)
		}
		return r, false
	},
	"end by b": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		a, r := c.CheckEnd("b", "d", "", limits.MaxData)
		if !r.Refused() {
			c.ApplyEnd(t0, a, online, out)
		}
		return r, false
	},
	"a invites b": func(c *Call, online Set, out *Outbox) (Refusal, bool) {
		args := InviteArgs{User: "a", List: []string{"b"}, Default: c.Timeout()}
		timeout, r := c.CheckCallingInvite(&args, &limits)
		if !r.Refused() {
			c.Enrol(args.List)
			c.ApplyCallingInvite(t0, "a", args.List, timeout, nil, online, Set{}, &limits, out)
		}
		return r, false
	},
}

// outcome is what a command does to a call with b in some state: "!Code"
// for a refusal, "=" for a no-op, else b's state after it, with " over" if
// the call ends, and the events as "Kind>to" in order.
type outcome struct {
	result string
	emits  string
}

// The members a, b and c: b and a online.
var online = func() Set { var s Set; s.Add(0); s.Add(1); return s }()

func TestGeneralTable(t *testing.T) {
	const (
		inviting, received, notYet = events.Inviting, events.Received, events.NotYetReceived
		accepted, rejected         = events.Accepted, events.Rejected
		cancelled, timedOut        = events.Cancelled, events.Timeout
	)
	table := map[string]map[events.State]outcome{
		"accept": {
			inviting:  {"Accepted", "InvitationAccepted>a UserStateChanged>b"},
			received:  {"Accepted", "InvitationAccepted>a UserStateChanged>b"},
			notYet:    {"Accepted", "InvitationAccepted>a UserStateChanged>b"},
			accepted:  {"=", ""},
			rejected:  {"!NotPending", ""},
			cancelled: {"!NotPending", ""},
			timedOut:  {"!NotPending", ""},
		},
		"reject": {
			inviting:  {"Rejected", "InvitationRejected>a UserStateChanged>b"},
			received:  {"Rejected", "InvitationRejected>a UserStateChanged>b"},
			notYet:    {"Rejected", "InvitationRejected>a UserStateChanged>b"},
			accepted:  {"!NotPending", ""},
			rejected:  {"=", ""},
			cancelled: {"!NotPending", ""},
			timedOut:  {"!NotPending", ""},
		},
		"cancel b": {
			inviting:  {"Cancelled", "InvitationCancelled>b"},
			received:  {"Cancelled", "InvitationCancelled>b"},
			notYet:    {"Cancelled", "InvitationCancelled>b"},
			accepted:  {"Accepted", ""}, // not pending: returned as failed
			rejected:  {"Rejected", ""},
			cancelled: {"Cancelled", ""},
			timedOut:  {"Timeout", ""},
		},
		"cancel all": {
			inviting:  {"Cancelled over", "InvitationCancelled>b InvitationCancelled>c"},
			received:  {"Cancelled over", "InvitationCancelled>b InvitationCancelled>c"},
			notYet:    {"Cancelled over", "InvitationCancelled>b InvitationCancelled>c"},
			accepted:  {"!AlreadyAccepted", ""},
			rejected:  {"Rejected over", "InvitationCancelled>c"},
			cancelled: {"Cancelled over", "InvitationCancelled>c"},
			timedOut:  {"Timeout over", "InvitationCancelled>c"},
		},
		"login b": {
			inviting:  {"Received", "InvitationReceived>b"},
			received:  {"Received", "InvitationReceived>b"},
			notYet:    {"Received", "InvitationReceived>b UserStateChanged>a"},
			accepted:  {"Accepted", ""},
			rejected:  {"Rejected", ""},
			cancelled: {"Cancelled", ""},
			timedOut:  {"Timeout", ""},
		},
		"deadline": {
			inviting:  {"Timeout over", "InviteesAnsweredTimeout>a InvitationTimeout>b InvitationTimeout>c"},
			received:  {"Timeout over", "InviteesAnsweredTimeout>a InvitationTimeout>b InvitationTimeout>c"},
			notYet:    {"Timeout over", "InviteesAnsweredTimeout>a InvitationTimeout>b InvitationTimeout>c"},
			accepted:  {"Accepted over", "InviteesAnsweredTimeout>a InvitationTimeout>c"},
			rejected:  {"Rejected over", "InviteesAnsweredTimeout>a InvitationTimeout>c"},
			cancelled: {"Cancelled over", "InviteesAnsweredTimeout>a InvitationTimeout>c"},
			timedOut:  {"Timeout over", "InviteesAnsweredTimeout>a InvitationTimeout>c"},
		},
		"caller offline": {
			inviting:  {"Cancelled over", "InvitationCancelled>b InvitationCancelled>c"},
			received:  {"Cancelled over", "InvitationCancelled>b InvitationCancelled>c"},
			notYet:    {"Cancelled over", "InvitationCancelled>b InvitationCancelled>c"},
			accepted:  {"Accepted", ""},
			rejected:  {"Rejected over", "InvitationCancelled>c"},
			cancelled: {"Cancelled over", "InvitationCancelled>c"},
			timedOut:  {"Timeout over", "InvitationCancelled>c"},
		},
		// Advanced commands on a general call: the driver refuses them
		// with WrongMode before the core is asked, so they are not here.
	}
	runTable(t, events.General, table)
}

func TestAdvancedTable(t *testing.T) {
	const (
		inviting, received, notYet = events.Inviting, events.Received, events.NotYetReceived
		accepted, rejected         = events.Accepted, events.Rejected
		cancelled, timedOut, quit  = events.Cancelled, events.Timeout, events.Quit
	)
	tellAB := "UserStateChanged>a UserStateChanged>b UserStateChanged>c"
	table := map[string]map[events.State]outcome{
		"accept": {
			inviting:  {"Accepted", tellAB},
			received:  {"Accepted", tellAB},
			notYet:    {"Accepted", tellAB},
			accepted:  {"=", ""},
			rejected:  {"!NotPending", ""},
			cancelled: {"!NotPending", ""},
			timedOut:  {"!NotPending", ""},
			quit:      {"!NotPending", ""},
		},
		"reject": {
			inviting:  {"Rejected", tellAB},
			received:  {"Rejected", tellAB},
			notYet:    {"Rejected", tellAB},
			accepted:  {"!NotPending", ""},
			rejected:  {"=", ""},
			cancelled: {"!NotPending", ""},
			timedOut:  {"!NotPending", ""},
			quit:      {"!NotPending", ""},
		},
		"cancel b": {
			inviting:  {"Cancelled", "UserStateChanged>a UserStateChanged>c InvitationCancelled>b"},
			received:  {"Cancelled", "UserStateChanged>a UserStateChanged>c InvitationCancelled>b"},
			notYet:    {"Cancelled", "UserStateChanged>a UserStateChanged>c InvitationCancelled>b"},
			accepted:  {"Accepted", ""},
			rejected:  {"Rejected", ""},
			cancelled: {"Cancelled", ""},
			timedOut:  {"Timeout", ""},
			quit:      {"Quit", ""},
		},
		"cancel all": {
			// The caller is still in the call: it does not end (A4).
			inviting:  {"Cancelled", "UserStateChanged>a InvitationCancelled>b InvitationCancelled>c"},
			received:  {"Cancelled", "UserStateChanged>a InvitationCancelled>b InvitationCancelled>c"},
			notYet:    {"Cancelled", "UserStateChanged>a InvitationCancelled>b InvitationCancelled>c"},
			accepted:  {"!AlreadyAccepted", ""},
			rejected:  {"Rejected", "UserStateChanged>a InvitationCancelled>c"},
			cancelled: {"Cancelled", "UserStateChanged>a InvitationCancelled>c"},
			timedOut:  {"Timeout", "UserStateChanged>a InvitationCancelled>c"},
			quit:      {"Quit", "UserStateChanged>a InvitationCancelled>c"},
		},
		"login b": {
			inviting:  {"Received", "InvitationReceived>b"},
			received:  {"Received", "InvitationReceived>b"},
			notYet:    {"Received", "InvitationReceived>b UserStateChanged>a UserStateChanged>c"},
			accepted:  {"Accepted", "UserStateChanged>b"}, // A7
			rejected:  {"Rejected", "UserStateChanged>b"},
			cancelled: {"Cancelled", "UserStateChanged>b"},
			timedOut:  {"Timeout", "UserStateChanged>b"},
			quit:      {"Quit", "UserStateChanged>b"},
		},
		"deadline": {
			inviting:  {"Timeout", "UserStateChanged>a InvitationTimeout>b InvitationTimeout>c"},
			received:  {"Timeout", "UserStateChanged>a InvitationTimeout>b InvitationTimeout>c"},
			notYet:    {"Timeout", "UserStateChanged>a InvitationTimeout>b InvitationTimeout>c"},
			accepted:  {"Accepted", "UserStateChanged>a UserStateChanged>b InvitationTimeout>c"},
			rejected:  {"Rejected", "UserStateChanged>a InvitationTimeout>c"},
			cancelled: {"Cancelled", "UserStateChanged>a InvitationTimeout>c"},
			timedOut:  {"Timeout", "UserStateChanged>a InvitationTimeout>c"},
			quit:      {"Quit", "UserStateChanged>a InvitationTimeout>c"},
		},
		"join b": {
			inviting:  {"Accepted", tellAB},
			received:  {"Accepted", tellAB},
			notYet:    {"Accepted", tellAB},
			accepted:  {"=", ""},
			rejected:  {"Accepted", tellAB},
			cancelled: {"Accepted", tellAB},
			timedOut:  {"Accepted", tellAB},
			quit:      {"Accepted", tellAB},
		},
		"quit b": {
			inviting:  {"!NotAccepted", ""},
			received:  {"!NotAccepted", ""},
			notYet:    {"!NotAccepted", ""},
			accepted:  {"Quit", tellAB},
			rejected:  {"!NotAccepted", ""},
			cancelled: {"!NotAccepted", ""},
			timedOut:  {"!NotAccepted", ""},
			quit:      {"!NotAccepted", ""},
		},
		"end by b": {
			inviting:  {"!NotAccepted", ""},
			received:  {"!NotAccepted", ""},
			notYet:    {"!NotAccepted", ""},
			accepted:  {"Accepted over", "InvitationEnded>a InvitationEnded>b InvitationEnded>c"},
			rejected:  {"!NotAccepted", ""},
			cancelled: {"!NotAccepted", ""},
			timedOut:  {"!NotAccepted", ""},
			quit:      {"!NotAccepted", ""},
		},
		"a invites b": {
			inviting:  {"!DuplicateInvitee", ""},
			received:  {"!DuplicateInvitee", ""},
			notYet:    {"!DuplicateInvitee", ""},
			accepted:  {"!DuplicateInvitee", ""},
			rejected:  {"Received", "UserStateChanged>a UserStateChanged>c InvitationReceived>b"},
			cancelled: {"Received", "UserStateChanged>a UserStateChanged>c InvitationReceived>b"},
			timedOut:  {"Received", "UserStateChanged>a UserStateChanged>c InvitationReceived>b"},
			quit:      {"Received", "UserStateChanged>a UserStateChanged>c InvitationReceived>b"},
		},
	}
	runTable(t, events.Advanced, table)
}

var codeNames = map[Code]string{
	InvalidUser: "InvalidUser", InvalidCallID: "InvalidCallID", InvalidArgument: "InvalidArgument",
	NoInvitees: "NoInvitees", TooManyInvitees: "TooManyInvitees", DuplicateInvitee: "DuplicateInvitee",
	SelfInvite: "SelfInvite", InvalidTimeout: "InvalidTimeout", DataTooLarge: "DataTooLarge",
	CallExists: "CallExists", CallNotFound: "CallNotFound", NotInviter: "NotInviter", NotInvitee: "NotInvitee",
	NotPending: "NotPending", AlreadyAccepted: "AlreadyAccepted", WrongMode: "WrongMode", NotAccepted: "NotAccepted",
}

// runTable runs every command of table on a call with b in every state
// the table lists, and checks the outcome: a refusal or a no-op changes
// nothing and emits nothing; a change leaves b in the state given, ends
// the call or not, and emits the events given, stamped with the call's
// next Seqs in order.
func runTable(t *testing.T, mode events.Mode, table map[string]map[events.State]outcome) {
	for name, byState := range table {
		cmd := commands[name]
		if cmd == nil {
			t.Fatalf("no command %q", name)
		}
		for state, want := range byState {
			t.Run(fmt.Sprintf("%s/%v", name, state), func(t *testing.T) {
				c := situation(mode, state)
				before := viewOf(c)
				var out Outbox
				r, noop := cmd(c, online, &out)
				var got outcome
				switch {
				case r.Refused():
					got.result = "!" + codeNames[r.Code]
				case noop:
					got.result = "="
				default:
					got.result = c.Members()[1].State.String()
					if c.Over() {
						got.result += " over"
					}
				}
				var emits []string
				for k, e := range out.Events {
					emits = append(emits, e.Kind.String()+">"+e.To)
					if e.Seq != before.seq+uint64(k)+1 || e.CallID != "c1" || e.Caller != "a" || e.Mode != mode {
						t.Errorf("event %d: Seq %d, call %q, caller %q, mode %v; want Seq %d of c1 by a in %v",
							k, e.Seq, e.CallID, e.Caller, e.Mode, before.seq+uint64(k)+1, mode)
					}
				}
				got.emits = joinWords(emits)
				if got != want {
					t.Errorf("got %q emitting %q, want %q emitting %q", got.result, got.emits, want.result, want.emits)
				}
				if c.seq != before.seq+uint64(len(out.Events)) {
					t.Errorf("Seq %d after %d events from %d", c.seq, len(out.Events), before.seq)
				}
				if (r.Refused() || noop) && !reflect.DeepEqual(viewOf(c), before) {
					t.Errorf("a refusal or no-op changed the call:\n%+v\nwas\n%+v", viewOf(c), before)
				}
				checkCounters(t, c)
			})
		}
	}
}

func joinWords(ws []string) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += " "
		}
		s += w
	}
	return s
}

// fataler is what checkCounters needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkCounters fails t unless c's counters agree with its members.
func checkCounters(t fataler, c *Call) {
	t.Helper()
	var pending, accepted int16
	for _, m := range c.Members()[1:] {
		pending += b2i(m.State.Pending())
		accepted += b2i(m.State == events.Accepted)
	}
	if pending != c.pending || accepted != c.accepted {
		t.Fatalf("counters: %d pending, %d accepted; the members say %d and %d", c.pending, c.accepted, pending, accepted)
	}
}
