package call_test

import (
	"testing"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// The exhaustive table for advanced mode (RULES.md §4): the same cast as the
// general table (alice calls, bob is the subject, carol stays offline and
// pending), every member state an advanced call can hold crossed with every
// command, general and advanced. An advanced call lives while anyone is
// Accepted or pending (A1, A4), so most cells keep it live.
var exhaustiveAdvanced = map[tableState]map[tableCmd]cell{
	stInviting: {
		cmdAccept:        ok(events.Accepted, live),
		cmdReject:        ok(events.Rejected, live),
		cmdCancelOne:     ok(events.Cancelled, live),
		cmdCancelAll:     ok(events.Cancelled, live), // alice is still in the call
		cmdCancelBy:      refused(call.ErrNotInviter),
		cmdLogin:         ok(events.Received, live), // G8
		cmdLogout:        ok(events.Inviting, live),
		cmdDeadline:      ok(events.Timeout, live),
		cmdInviteSubject: refused(call.ErrDuplicateInvitee), // A2: still pending
		cmdSubjectInvite: refused(call.ErrNotAccepted),      // A6
		cmdJoin:          ok(events.Accepted, live),         // A3: joining while pending answers the ring
		cmdQuit:          refused(call.ErrNotAccepted),
		cmdEnd:           refused(call.ErrNotAccepted),
	},
	stReceived: {
		cmdAccept:        ok(events.Accepted, live),
		cmdReject:        ok(events.Rejected, live),
		cmdCancelOne:     ok(events.Cancelled, live),
		cmdCancelAll:     ok(events.Cancelled, live),
		cmdCancelBy:      refused(call.ErrNotInviter),
		cmdLogin:         ok(events.Received, live),
		cmdLogout:        ok(events.Received, live),
		cmdDeadline:      ok(events.Timeout, live),
		cmdInviteSubject: refused(call.ErrDuplicateInvitee),
		cmdSubjectInvite: refused(call.ErrNotAccepted),
		cmdJoin:          ok(events.Accepted, live),
		cmdQuit:          refused(call.ErrNotAccepted),
		cmdEnd:           refused(call.ErrNotAccepted),
	},
	stAccepted: {
		cmdAccept:        ok(events.Accepted, live), // G3 no-op
		cmdReject:        refused(call.ErrNotPending),
		cmdCancelOne:     ok(events.Accepted, live), // listed in failed
		cmdCancelAll:     refused(call.ErrAlreadyAccepted),
		cmdCancelBy:      refused(call.ErrNotInviter),
		cmdLogin:         ok(events.Accepted, live), // A7
		cmdLogout:        ok(events.Accepted, live),
		cmdDeadline:      ok(events.Accepted, live), // carol times out
		cmdInviteSubject: refused(call.ErrDuplicateInvitee),
		cmdSubjectInvite: ok(events.Accepted, live), // A2
		cmdJoin:          ok(events.Accepted, live), // A3 no-op
		cmdQuit:          ok(events.Quit, live),     // A4: alice is still in
		cmdEnd:           ok(events.Accepted, over), // A5: the others keep their states
	},
	stRejected: {
		cmdAccept:        refused(call.ErrNotPending),
		cmdReject:        ok(events.Rejected, live), // G3 no-op
		cmdCancelOne:     ok(events.Rejected, live),
		cmdCancelAll:     ok(events.Rejected, live),
		cmdCancelBy:      refused(call.ErrNotInviter),
		cmdLogin:         ok(events.Rejected, live),
		cmdLogout:        ok(events.Rejected, live),
		cmdDeadline:      ok(events.Rejected, live),
		cmdInviteSubject: ok(events.Received, live), // A2: invited again in place
		cmdSubjectInvite: refused(call.ErrNotAccepted),
		cmdJoin:          ok(events.Accepted, live),
		cmdQuit:          refused(call.ErrNotAccepted),
		cmdEnd:           refused(call.ErrNotAccepted),
	},
	stCancelled: {
		cmdAccept:        refused(call.ErrNotPending),
		cmdReject:        refused(call.ErrNotPending),
		cmdCancelOne:     ok(events.Cancelled, live),
		cmdCancelAll:     ok(events.Cancelled, live),
		cmdCancelBy:      refused(call.ErrNotInviter),
		cmdLogin:         ok(events.Cancelled, live),
		cmdLogout:        ok(events.Cancelled, live),
		cmdDeadline:      ok(events.Cancelled, live),
		cmdInviteSubject: ok(events.Received, live),
		cmdSubjectInvite: refused(call.ErrNotAccepted),
		cmdJoin:          ok(events.Accepted, live),
		cmdQuit:          refused(call.ErrNotAccepted),
		cmdEnd:           refused(call.ErrNotAccepted),
	},
	stTimeout: { // bob and carol timed out; alice keeps the call alive (A1)
		cmdAccept:        refused(call.ErrNotPending),
		cmdReject:        refused(call.ErrNotPending),
		cmdCancelOne:     ok(events.Timeout, live),
		cmdCancelAll:     ok(events.Timeout, live),
		cmdCancelBy:      refused(call.ErrNotInviter),
		cmdLogin:         ok(events.Timeout, live),
		cmdLogout:        ok(events.Timeout, live),
		cmdDeadline:      ok(events.Timeout, live),
		cmdInviteSubject: ok(events.Received, live),
		cmdSubjectInvite: refused(call.ErrNotAccepted),
		cmdJoin:          ok(events.Accepted, live),
		cmdQuit:          refused(call.ErrNotAccepted),
		cmdEnd:           refused(call.ErrNotAccepted),
	},
	stQuit: {
		cmdAccept:        refused(call.ErrNotPending),
		cmdReject:        refused(call.ErrNotPending),
		cmdCancelOne:     ok(events.Quit, live),
		cmdCancelAll:     ok(events.Quit, live), // "has accepted" means Accepted now: carol is cancelled
		cmdCancelBy:      refused(call.ErrNotInviter),
		cmdLogin:         ok(events.Quit, live),
		cmdLogout:        ok(events.Quit, live),
		cmdDeadline:      ok(events.Quit, live),
		cmdInviteSubject: ok(events.Received, live),
		cmdSubjectInvite: refused(call.ErrNotAccepted),
		cmdJoin:          ok(events.Accepted, live),
		cmdQuit:          refused(call.ErrNotAccepted),
		cmdEnd:           refused(call.ErrNotAccepted),
	},
	stCaller: { // bob and carol pending
		cmdAccept:        refused(call.ErrNotInvitee),
		cmdReject:        refused(call.ErrNotInvitee),
		cmdCancelOne:     refused(call.ErrNotInvitee),
		cmdCancelAll:     ok(events.Accepted, live), // alice stays in her call
		cmdCancelBy:      ok(events.Accepted, live),
		cmdLogin:         ok(events.Accepted, live),
		cmdLogout:        ok(events.Accepted, over), // G7 holds in advanced mode too
		cmdDeadline:      ok(events.Accepted, live),
		cmdInviteSubject: refused(call.ErrSelfInvite),
		cmdSubjectInvite: ok(events.Accepted, live),
		cmdJoin:          ok(events.Accepted, live), // no-op
		cmdQuit:          ok(events.Quit, live),     // bob and carol still ring
		cmdEnd:           ok(events.Accepted, over),
	},
	stCallerQuit: { // bob is in the call, carol pending, alice quit
		cmdAccept:        refused(call.ErrNotInvitee),
		cmdReject:        refused(call.ErrNotInvitee),
		cmdCancelOne:     refused(call.ErrNotInvitee),
		cmdCancelAll:     refused(call.ErrAlreadyAccepted),
		cmdCancelBy:      refused(call.ErrAlreadyAccepted),
		cmdLogin:         ok(events.Quit, live), // A7
		cmdLogout:        ok(events.Quit, live), // G7: bob has accepted, nothing is cancelled
		cmdDeadline:      ok(events.Quit, live),
		cmdInviteSubject: refused(call.ErrNotAccepted), // the acting user's state is checked first
		cmdSubjectInvite: refused(call.ErrNotAccepted),
		cmdJoin:          ok(events.Accepted, live), // A2: a caller who quit comes back with Join
		cmdQuit:          refused(call.ErrNotAccepted),
		cmdEnd:           refused(call.ErrNotAccepted),
	},
}

func TestExhaustiveStateCommandTableAdvanced(t *testing.T) {
	states := []tableState{stInviting, stReceived, stAccepted, stRejected, stCancelled, stTimeout, stQuit, stCaller, stCallerQuit}
	cmds := []tableCmd{cmdAccept, cmdReject, cmdCancelOne, cmdCancelAll, cmdCancelBy, cmdLogin, cmdLogout, cmdDeadline,
		cmdInviteSubject, cmdSubjectInvite, cmdJoin, cmdQuit, cmdEnd}
	runTable(t, events.Advanced, exhaustiveAdvanced, states, cmds)
}

// TestAdvancedCommandsOnGeneralCall: A6 — every advanced-only command on a
// general call is ErrWrongMode, for any member, and changes nothing.
func TestAdvancedCommandsOnGeneralCall(t *testing.T) {
	for _, st := range []tableState{stReceived, stAccepted, stCaller} {
		for _, cmd := range []tableCmd{cmdInviteSubject, cmdSubjectInvite, cmdJoin, cmdQuit, cmdEnd} {
			tb := reach(t, st)
			before, _ := tb.reg.Call(tb.id)
			if err := tb.run(cmd); !errorsIs(err, call.ErrWrongMode) {
				t.Errorf("%s/%s on a general call: err = %v, want ErrWrongMode", st, cmd, err)
			}
			after, _ := tb.reg.Call(tb.id)
			if len(tb.rec.Take()) != 0 || !equalInfo(before, after) {
				t.Errorf("%s/%s: a refused command changed or emitted something", st, cmd)
			}
		}
	}
}
