// Package call is the Registry of live call invitations: the commands a host
// feeds it (Invite, Cancel, Accept, Reject, and for advanced-mode calls
// CallingInvite, Join, Quit and End), the presence changes it needs (Login,
// Logout, Heartbeat), and the events it hands back through an events.Sink.
//
// # The loop a host writes
//
// A host owns the network; callsig owns the decisions. The host
//
//  1. makes one Registry with its Sink (and, in tests, a clock.Manual);
//  2. calls Login and Logout as devices connect and disconnect, so the
//     Registry knows who can be rung now and who must be pushed;
//  3. turns each request of its clients into one command, and answers the
//     client with the command's result or error;
//  4. delivers each event its Sink receives to Event.To: to every online
//     device, to Event.ToDevice alone when that is set, or, when
//     Event.Offline is set, as a push built from Event.Push (when there is
//     one), keeping the order of Event.Seq within a call.
//
// Timeouts need nothing from the host: the Registry arms one clock timer for
// its earliest deadline and produces the timeout events when it fires.
//
//	reg, _ := call.NewRegistry(call.Options{Sink: mySink})
//	err := reg.Login("bob", "phone") // nil: bob's phone is online
//	res, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second})
//	// mySink gets InvitationCreated (to alice), InvitationReceived (to bob)
//	err = reg.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"})
//	// mySink gets InvitationAccepted (to alice), UserStateChanged (to bob)
//
// # What to rely on
//
// Every input (a command, a presence change, or the timer firing) first
// processes what fell due up to its clock reading, then checks its
// arguments, and only then changes anything: a command that returns an
// error has changed nothing and emitted nothing (G1). Every error matches
// one of the Err* sentinels with errors.Is. Events reach the Sink outside
// the Registry's lock, in Seq order per call, and a Sink may call the
// Registry from inside Emit (C2, C3). Given the same options, clock
// readings, IDs and inputs, a Registry produces the same events (C4), which
// is what its Journal, Snapshot, Restore and Recover build on (D1, D2).
//
// # Where the rest is
//
// The rules, each under the code the godoc cites (G3, A5, H2, C5, D1, …),
// the order in which a command's checks run ("Which error wins"), and the
// choices made where the rules were silent are in the repository's
// RULES.md. docs/guide.md explains advanced mode, time, the host policies
// (the Options Busy, Glare, HeartbeatTimeout, NotReceivedAfter, Admit and
// History), durability, testing with package calltest, and overload;
// BENCHMARKS.md has the performance targets and figures; docs/design.md
// the layout of the code.
package call
