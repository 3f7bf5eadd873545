package calltest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// Server is what a Harness drives: the commands of a Registry, both modes.
// A *call.Registry is one; a host implements it over its own API or
// transport, returning what its clients would see. A Server that also has
// the queries Call(string) (call.Info, bool) and Len() int (as a Registry
// does) has them checked against the Model too.
type Server interface {
	Invite(inviter string, invitees []string, c call.InviteConfig) (call.InviteResult, error)
	Cancel(inviter, callID string, invitees []string, c call.CancelConfig) (failed []string, err error)
	Accept(invitee, callID string, c call.AcceptConfig) error
	Reject(invitee, callID string, c call.RejectConfig) error
	Login(user, device string) error
	Logout(user, device string) error

	// Advanced mode (RULES.md §4). A host without it draws none of its ops
	// (see [Commands]) and may implement these as stubs that panic.
	CallingInvite(user, callID string, invitees []string, c call.CallingInviteConfig) (call.InviteResult, error)
	Join(user, callID string, c call.JoinConfig) (call.Info, error)
	Quit(user, callID string, c call.QuitConfig) error
	End(user, callID string, c call.EndConfig) error
}

// Heartbeater is the optional H5 side of a Server (a *call.Registry has
// it): [Do] needs it for OpHeartbeat, which [Commands] draws by default only
// when the Model has a HeartbeatTimeout.
type Heartbeater interface {
	Heartbeat(user, device string) error
}

// Op is the kind of a [Command].
type Op uint8

// The operations a Command performs.
const (
	OpInvite  Op = iota + 1 // Invite(User, Users, {Timeout, Mode, Data, Push, CallID})
	OpCancel                // Cancel(User, CallID, Users, {Data, Push})
	OpAccept                // Accept(User, CallID, {Data, Device})
	OpReject                // Reject(User, CallID, {Data, Device})
	OpLogin                 // Login(User, Device)
	OpLogout                // Logout(User, Device)
	OpAdvance               // the clock moves forward by Advance

	// Advanced mode (RULES.md §4).
	OpCallingInvite // CallingInvite(User, CallID, Users, {Timeout, Push})
	OpJoin          // Join(User, CallID, {Data, Device})
	OpQuit          // Quit(User, CallID, {Data, Device})
	OpEnd           // End(User, CallID, {Data, Device})

	// Host policy H5 (the Server must be a [Heartbeater]).
	OpHeartbeat // Heartbeat(User, Device)
)

// Ops lists every Op, in order.
var Ops = []Op{OpInvite, OpCancel, OpAccept, OpReject, OpLogin, OpLogout, OpAdvance, OpCallingInvite, OpJoin, OpQuit, OpEnd, OpHeartbeat}

// GeneralOps lists the ops of general mode, presence and time: give them to
// [Commands] (or [Harness.Ops]) to leave advanced mode out. [Commands]
// then draws no invite in advanced mode either.
var GeneralOps = []Op{OpInvite, OpCancel, OpAccept, OpReject, OpLogin, OpLogout, OpAdvance}

var opNames = [...]string{
	OpInvite: "invite", OpCancel: "cancel", OpAccept: "accept", OpReject: "reject",
	OpLogin: "login", OpLogout: "logout", OpAdvance: "advance",
	OpCallingInvite: "callinginvite", OpJoin: "join", OpQuit: "quit", OpEnd: "end",
	OpHeartbeat: "heartbeat",
}

// advanced reports whether o is an op of advanced mode only.
func (o Op) advanced() bool { return o >= OpCallingInvite && o <= OpEnd }

// String returns the op's name: "invite", "cancel", ….
func (o Op) String() string {
	if int(o) < len(opNames) && opNames[o] != "" {
		return opNames[o]
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Command is one input to a server: a command, a presence change, or the
// passing of time. Only the fields its Op names are used.
type Command struct {
	Op      Op
	User    string        // the acting user: inviter, canceller, answerer, member, or the user logging in or out
	Users   []string      // OpInvite, OpCallingInvite: the invitees; OpCancel: the list (empty: every pending invitee)
	CallID  string        // the call; OpInvite: a host-chosen ID, or ""
	Timeout time.Duration // OpInvite, OpCallingInvite (0: the call's)
	Mode    events.Mode   // OpInvite
	Data    string        // the extended data: every command but OpCallingInvite
	Push    *events.Push  // OpInvite, OpCancel, OpCallingInvite
	Device  string        // OpAccept, OpReject, OpJoin, OpQuit, OpEnd, OpLogin, OpLogout, OpHeartbeat
	Advance time.Duration // OpAdvance: how far the clock moves
}

// String renders c as a line for failure logs, e.g.
// `accept bob call=c1 device="phone"`.
func (c Command) String() string {
	var b strings.Builder
	b.WriteString(c.Op.String())
	if c.Op == OpAdvance {
		b.WriteString(" " + c.Advance.String())
		return b.String()
	}
	b.WriteString(" " + quote(c.User))
	switch c.Op {
	case OpInvite:
		b.WriteString(" invitees=" + quoteList(c.Users))
		if c.CallID != "" {
			b.WriteString(" call=" + quote(c.CallID))
		}
		b.WriteString(" timeout=" + c.Timeout.String())
		if c.Mode != events.General {
			b.WriteString(" mode=" + c.Mode.String())
		}
	case OpCancel:
		b.WriteString(" call=" + quote(c.CallID) + " list=" + quoteList(c.Users))
	case OpCallingInvite:
		b.WriteString(" call=" + quote(c.CallID) + " invitees=" + quoteList(c.Users) + " timeout=" + c.Timeout.String())
	case OpAccept, OpReject, OpJoin, OpQuit, OpEnd:
		b.WriteString(" call=" + quote(c.CallID))
	}
	hasPush := c.Op == OpInvite || c.Op == OpCancel || c.Op == OpCallingInvite
	if c.Data != "" && c.Op != OpCallingInvite && c.Op != OpLogin && c.Op != OpLogout && c.Op != OpHeartbeat {
		b.WriteString(" data=" + shortQuote(c.Data))
	}
	if c.Push != nil && hasPush {
		fmt.Fprintf(&b, " push={%s %s %s}", shortQuote(c.Push.Title), shortQuote(c.Push.Content), shortQuote(c.Push.Payload))
	}
	if !hasPush {
		b.WriteString(" device=" + strconv.Quote(c.Device))
	}
	return b.String()
}

// GoString is String, so that rapid's logs of drawn commands read well.
func (c Command) GoString() string { return c.String() }

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, u := range list {
		q[i] = quote(u)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// Result is what a command returned.
type Result struct {
	Invite call.InviteResult // OpInvite, OpCallingInvite
	Failed []string          // OpCancel
	Info   call.Info         // OpJoin
	Err    error
}

// Do performs c on s and returns what it answered. advance moves the
// server's clock for OpAdvance; it may be nil if c is no OpAdvance. For
// OpHeartbeat, s must be a [Heartbeater].
func Do(s Server, advance func(time.Duration), c Command) Result {
	var r Result
	switch c.Op {
	case OpInvite:
		r.Invite, r.Err = s.Invite(c.User, c.Users, call.InviteConfig{
			Timeout: c.Timeout, Mode: c.Mode, ExtendedData: c.Data, Push: c.Push, CallID: c.CallID,
		})
	case OpCancel:
		r.Failed, r.Err = s.Cancel(c.User, c.CallID, c.Users, call.CancelConfig{ExtendedData: c.Data, Push: c.Push})
	case OpAccept:
		r.Err = s.Accept(c.User, c.CallID, call.AcceptConfig{ExtendedData: c.Data, Device: c.Device})
	case OpReject:
		r.Err = s.Reject(c.User, c.CallID, call.RejectConfig{ExtendedData: c.Data, Device: c.Device})
	case OpLogin:
		r.Err = s.Login(c.User, c.Device)
	case OpLogout:
		r.Err = s.Logout(c.User, c.Device)
	case OpAdvance:
		advance(c.Advance)
	case OpCallingInvite:
		r.Invite, r.Err = s.CallingInvite(c.User, c.CallID, c.Users, call.CallingInviteConfig{Timeout: c.Timeout, Push: c.Push})
	case OpJoin:
		r.Info, r.Err = s.Join(c.User, c.CallID, call.JoinConfig{ExtendedData: c.Data, Device: c.Device})
	case OpQuit:
		r.Err = s.Quit(c.User, c.CallID, call.QuitConfig{ExtendedData: c.Data, Device: c.Device})
	case OpEnd:
		r.Err = s.End(c.User, c.CallID, call.EndConfig{ExtendedData: c.Data, Device: c.Device})
	case OpHeartbeat:
		hb, ok := s.(Heartbeater)
		if !ok {
			panic("calltest: OpHeartbeat on a Server that has no Heartbeat (see Heartbeater)")
		}
		r.Err = hb.Heartbeat(c.User, c.Device)
	default:
		panic("calltest: unknown " + c.Op.String())
	}
	return r
}

// Do performs c on the Model and returns what a server must answer and the
// events it must deliver. Its Err is nil or a call.ErrXxx sentinel.
func (m *Model) Do(c Command) (Result, []events.Event) {
	var r Result
	var evs []events.Event
	switch c.Op {
	case OpInvite:
		r.Invite, evs, r.Err = m.Invite(c.User, c.Users, call.InviteConfig{
			Timeout: c.Timeout, Mode: c.Mode, ExtendedData: c.Data, Push: c.Push, CallID: c.CallID,
		})
	case OpCancel:
		r.Failed, evs, r.Err = m.Cancel(c.User, c.CallID, c.Users, call.CancelConfig{ExtendedData: c.Data, Push: c.Push})
	case OpAccept:
		evs, r.Err = m.Accept(c.User, c.CallID, call.AcceptConfig{ExtendedData: c.Data, Device: c.Device})
	case OpReject:
		evs, r.Err = m.Reject(c.User, c.CallID, call.RejectConfig{ExtendedData: c.Data, Device: c.Device})
	case OpLogin:
		evs, r.Err = m.Login(c.User, c.Device), presenceErr(c.User, c.Device)
	case OpLogout:
		evs, r.Err = m.Logout(c.User, c.Device), presenceErr(c.User, c.Device)
	case OpAdvance:
		evs = m.Advance(m.now.Add(c.Advance))
	case OpCallingInvite:
		r.Invite, evs, r.Err = m.CallingInvite(c.User, c.CallID, c.Users, call.CallingInviteConfig{Timeout: c.Timeout, Push: c.Push})
	case OpJoin:
		r.Info, evs, r.Err = m.Join(c.User, c.CallID, call.JoinConfig{ExtendedData: c.Data, Device: c.Device})
	case OpQuit:
		evs, r.Err = m.Quit(c.User, c.CallID, call.QuitConfig{ExtendedData: c.Data, Device: c.Device})
	case OpEnd:
		evs, r.Err = m.End(c.User, c.CallID, call.EndConfig{ExtendedData: c.Data, Device: c.Device})
	case OpHeartbeat:
		m.Heartbeat(c.User, c.Device)
		r.Err = presenceErr(c.User, c.Device)
	default:
		panic("calltest: unknown " + c.Op.String())
	}
	return r, evs
}

// DiffResult compares what a server answered (got) with what the Model
// predicts (want) and returns "" when they agree, else what differs. Errors
// agree when both are nil or got matches want with errors.Is; InviteResult
// (its Failed compared by user and error message, H7),
// the failed list of a cancel (nil and empty apart) and the Info a join
// returns must be equal.
func DiffResult(want, got Result) string {
	var d []string
	switch {
	case want.Err == nil && got.Err != nil:
		d = append(d, fmt.Sprintf("error %q, want none", got.Err))
	case want.Err != nil && got.Err == nil:
		d = append(d, fmt.Sprintf("no error, want one matching %q", want.Err))
	case want.Err != nil && !errors.Is(got.Err, want.Err):
		d = append(d, fmt.Sprintf("error %q, want one matching %q", got.Err, want.Err))
	}
	w, g := want.Invite, got.Invite
	if w.CallID != g.CallID || w.Timeout != g.Timeout || !w.Deadline.Equal(g.Deadline) || w.Merged != g.Merged ||
		!equalFailures(w.Failed, g.Failed) {
		d = append(d, fmt.Sprintf("invite result %s, want %s", formatInviteResult(g), formatInviteResult(w)))
	}
	if (want.Failed == nil) != (got.Failed == nil) || !slices.Equal(want.Failed, got.Failed) {
		d = append(d, fmt.Sprintf("failed %#v, want %#v", got.Failed, want.Failed))
	}
	if di := DiffInfo(want.Info, got.Info); di != "" {
		d = append(d, "join's info: "+di)
	}
	return strings.Join(d, "; ")
}

func equalFailures(a, b []call.Failure) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].User != b[i].User || (a[i].Err == nil) != (b[i].Err == nil) ||
			a[i].Err != nil && a[i].Err.Error() != b[i].Err.Error() {
			return false
		}
	}
	return true
}

func formatInviteResult(r call.InviteResult) string {
	return fmt.Sprintf("{CallID:%s Timeout:%v Deadline:%s Failed:%v Merged:%v}", quote(r.CallID), r.Timeout, formatTime(r.Deadline), r.Failed, r.Merged)
}

// IDs returns a deterministic source of call IDs for Options.NewID:
// prefix+"1", prefix+"2", …. Give the server and the Model each their own.
func IDs(prefix string) func() string {
	n := 0
	return func() string {
		n++
		return prefix + strconv.Itoa(n)
	}
}

// presenceErr is what Login, Logout and Heartbeat answer for their IDs
// (RULES.md §2, Presence): ErrInvalidUser for a bad user ID, then
// ErrInvalidArgument for a bad device ID ("" is the default device).
// The Model has no Journal, so nothing else refuses them.
func presenceErr(user, device string) error {
	switch {
	case !validID(user):
		return call.ErrInvalidUser
	case device != "" && !validID(device):
		return call.ErrInvalidArgument
	}
	return nil
}
