// Package call is the Registry of live call invitations: the commands a host
// feeds it (Invite, Cancel, Accept, Reject, Login, Logout, and for
// advanced-mode calls CallingInvite, Join, Quit and End), the events it hands
// back through an events.Sink, and the rules that connect the two.
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
//  4. delivers each event its Sink receives to Event.To — to every online
//     device, to Event.ToDevice alone when that is set, or as a push when
//     Event.Offline is set — keeping the order of Event.Seq within a call.
//
// Timeouts need nothing from the host: the Registry arms one clock timer for
// its earliest deadline and produces the timeout events when it fires.
//
//	reg, _ := call.NewRegistry(call.Options{Sink: mySink})
//	reg.Login("bob", "phone")
//	res, err := reg.Invite("alice", []string{"bob"}, call.InviteConfig{Timeout: 30 * time.Second})
//	// mySink gets InvitationCreated (to alice), InvitationReceived (to bob)
//	err = reg.Accept("bob", res.CallID, call.AcceptConfig{Device: "phone"})
//	// mySink gets InvitationAccepted (to alice), UserStateChanged (to bob)
//
// # Order of operations
//
// Every input — a command, Login, Logout, or the timer firing — takes the
// Registry's lock, reads the clock once, processes what fell due up to that
// reading (the Time rule), then checks its arguments in a fixed order
// ("Which error wins" below) and only then changes anything. On an error
// nothing changes and nothing is emitted for the command itself (G1). Its
// events are queued, the lock is released, and the queue is drained into the
// Sink (C2). A Sink may call the Registry from inside Emit: the nested
// command's events join the queue and are delivered, in Seq order, before the
// outermost call returns (C3). Under concurrent use a command returns once
// the events queued before it and its own are out; what other goroutines
// queued meanwhile goes to the Registry's own delivery goroutine, which ends
// when the queue is empty. While Options.MaxBacklog events wait for the
// Sink, commands are refused with ErrOverloaded (C5). A panic in host code
// (the Sink, Journal, NewID, Admit or the Clock) goes up the goroutine whose
// input called it and leaves the Registry usable (C6).
//
// # Which error wins
//
// Checks run in this order; the first failure is returned: the acting user's
// ID (ErrInvalidUser); the call (ErrCallNotFound, also for a user who is no
// member of it, G10); the user's role and state (ErrNotInviter,
// ErrNotInvitee, ErrNotPending); the list, each check over the whole list
// before the next (ErrNoInvitees, ErrInvalidUser, ErrSelfInvite or
// ErrNotInvitee, ErrDuplicateInvitee, ErrTooManyInvitees); the timeout
// (ErrInvalidTimeout); the extended data, push and device (ErrDataTooLarge,
// ErrInvalidArgument); the mode; the CallID (ErrInvalidCallID,
// ErrCallExists); the call-wide conditions (ErrAlreadyAccepted).
//
// # Rules worth knowing
//
//   - Pending means Inviting, Received or NotYetReceived; only a pending
//     invitee may accept or reject. Repeating the answer already given is a
//     no-op returning nil; the other answer is ErrNotPending (G3).
//   - A general-mode call is over as soon as no invitee is pending: it is
//     forgotten, memory and timer included, and every later command on it
//     gets ErrCallNotFound (G6). A host-chosen CallID may then be used again
//     (G11).
//   - Devices are a set per user; "" is the default device. When a device of
//     a pending invitee logs in, its invitations ring again on that device
//     alone, with their original deadlines (G8). When the caller's last
//     device logs out before anyone accepted, the call is cancelled with
//     ReasonCallerOffline (G7).
//   - An advanced-mode call (InviteConfig.Mode = events.Advanced) lives until
//     a member ends it or nobody is left in it or ringing (A4, A5). Members
//     learn every change through UserStateChanged (A1); a member's device
//     that logs in gets one UserStateChanged with everyone's state (A7).
//   - A clock reading earlier than the last is treated as the last (D3).
//     Queries (Call, Len) read no clock and process nothing (D4).
//
// # Durability
//
// With Options.Journal set, every input that changes something is handed to
// the Journal as an Entry before its events go out (D1); Snapshot captures
// the whole state as versioned JSON (D2); Recover rebuilds a Registry from a
// snapshot and the entries journaled after it, and Apply replays one entry,
// for a replica. Given the same options, clock readings, IDs and inputs, a
// Registry produces the same events (C4).
//
// # Host policies
//
// Options turn on what signaling servers otherwise bolt on by hand, each off
// by default: Busy (H2, reject an invitee already in a call), Glare (H3,
// merge crossing invites), retries by host-chosen CallID (H4, always on),
// HeartbeatTimeout with Heartbeat (H5), NotReceivedAfter (H6), Admit (H7,
// per-invitee admission, asked outside the lock) and History with
// Registry.History (H8).
//
// # Design
//
// Each call is a small machine (machine.go) that takes the time as an
// argument and reads no clock, takes no lock and calls no Sink; the Registry
// around it owns the lock, the clock, the deadline heap and delivery. The
// member and call lifecycles are declared once as looplab/fsm events
// (lifecycle.go) and compiled into dense tables at init; no fsm.FSM runs on
// the hot path.
//
// # Memory
//
// A call is one allocation: its record, with its members and their links to
// the users' lists inside it for up to 9 invitees (B3; the figures are in
// BENCHMARKS.md). The
// deadlines of all calls share one heap and one clock timer. Accept, Reject
// and Cancel allocate nothing (B2): the Members of their events share the
// call's own array, which is safe because a general-mode member that is no
// longer pending never changes again; treat Event.Members as read-only. A
// user whose only state is its live calls has no record of its own: the
// user table finds it through its oldest call. Only a user with an online
// device or a history has a record, and one that comes to hold nothing is
// dropped at once; those kept only for their history are bounded (H8, see
// Registry.History).
//
// With Options.TransientMembers, Event.Members is valid only until Emit
// returns, and the Registry reuses what the collector would otherwise take
// call after call: the records of ended calls (up to 1024 per size kept
// free) and the members lists of events (cut from 40 KiB chunks). Memory
// is reused only once every event that points into it has been emitted,
// commands called from inside Emit included. A general call's invite and
// answers then allocate nothing; a Sink that keeps events keeps
// e.Detach().
//
// # Cores
//
// A Registry runs one input at a time (one lock) and delivers with one
// goroutine at a time: one Registry is one core's worth of work by design,
// and two goroutines on it get about as much done as one (B5). To use more
// cores, run a Registry per partition of users whose calls never cross (an
// app ID, a tenant) and keep each partition's commands on its own
// goroutines: Registries share nothing but what the host gives them. A
// Clock may be shared: clock.Real's timers are the runtime's; a shared
// clock.Manual keeps every Registry's timer in one heap under one lock,
// which serialises them. Splitting one Registry by call ID does not scale:
// a call's commands come from whichever goroutine the host has, so each
// input would fetch its shard's data from the other core (BENCHMARKS.md,
// "B5").
package call
