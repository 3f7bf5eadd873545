// Package calltest is test support for callsig and for the hosts built on
// it, in the manner of net/http/httptest: the rules of RULES.md as a plain
// reference model, rapid generators of commands, and invariant checks over
// a stream of delivered events. A host's property-based suite can drive its
// own server with the same generators and check what it delivers against
// the same model that callsig's own tests use.
//
// # The pieces
//
//   - [Model] is the reference model: maps and slices, written from the
//     specification alone, every rule citing its number (G1–G11, A1–A7,
//     the Time rule, D3, D4). Its commands mirror the Registry's, both
//     modes, and return the same results (errors are the call.ErrXxx
//     sentinels) plus the events a server must deliver; [Model.Advance] is
//     the passing of time.
//   - [Command] is one input (a command, a login, logout or heartbeat, or
//     the clock moving on); [Commands] generates them with rapid, aimed at the
//     model's state and limits, valid and invalid alike. [Do] performs one
//     on a [Server], [Model.Do] on the model.
//   - [Wire] narrows what is drawn to what a host's protocol can carry:
//     timeouts in whole milliseconds (or another unit) within the host's
//     bounds, general mode only, a fixed pool of users and devices, inputs
//     that come over one connection per logged-in device, JSON strings, no
//     malformed IDs.
//   - [Checker] checks a stream of delivered events without a model: Seq
//     1, 2, 3, … per call, no event to a non-member, each invitee of a
//     general call ending exactly once, nothing after a call is over, and
//     in advanced calls only the kinds and InvitationEnded RULES.md §4 allows.
//   - [ConnChecker] checks what each connection of a host received (one
//     logged-in device each) against the Model: every event a device must
//     get arrives on its connection once, each call's in Seq order, and
//     nothing else does — nothing for another device, nothing produced
//     while the device was offline.
//   - [Harness] ties them together: each step performs one command on the
//     server and the model, and fails unless the results, the events
//     (compared field by field, see [DiffEvents]) and, for a server that
//     has them, Call and Len agree, and the Checker (and, given
//     [Harness.Conns], the ConnChecker) is content.
//
// # A host's property test
//
// The server under test needs a clock the test moves (clock.Manual), call
// IDs from a deterministic source (give the server and the model each
// their own [IDs] sequence, or use host-chosen IDs), and a way to collect
// what it delivered, in order. Then:
//
//	func TestServerRapid(t *testing.T) {
//		rapid.Check(t, func(t *rapid.T) {
//			start := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
//			clk := clock.NewManual(start)
//			delivered := &events.Recorder{}
//			srv := newServer(clk, delivered, calltest.IDs("call-")) // the host's own
//
//			h := &calltest.Harness{
//				Server:  srv, // a calltest.Server: Invite, Cancel, Accept, Reject, CallingInvite, Join, Quit, End, Login, Logout
//				Model:   calltest.NewModel(call.Options{NewID: calltest.IDs("call-")}, start),
//				Advance: clk.Advance,
//				Take:    delivered.Take,
//			}
//			h.Run(t) // t.Repeat over drawn commands, then every deadline passes and every call is ended
//		})
//	}
//
// A failure shrinks to a short list of commands, each logged as a readable
// line, followed by the difference between what the server did and what
// the model expected. Hosts with extra invariants add actions of their own
// to [Harness.Actions] and call t.Repeat themselves.
//
// # Scope
//
// The model covers general mode (RULES.md §3), advanced mode (RULES.md §4),
// presence and time, and the host policies of call.Options that change
// answers and events: H2 Busy, H3 Glare, H4 retries, H5 heartbeats (the
// Server must then be a [Heartbeater]), H6 not-received checks, H7 Admit
// and H8 History (the Harness pages through History when the Server has
// it, see [Historian]). It has no Journal. Where the specification leaves
// a choice open (the order of an advanced call's events, the push an
// invitee rung by CallingInvite carries later, …), it follows the
// Registry's documented decision; [Model] lists them. A host that has no
// advanced mode gives [GeneralOps] to [Harness.Ops]; a host whose protocol
// cannot carry every input the Registry takes says what it can in
// [Harness.Wire] (see [Wire]).
package calltest
