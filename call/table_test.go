package call_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
)

// The exhaustive table: every member state a general-mode call can hold,
// crossed with every command that can reach a member, through the public
// API. Each cell gives the state the member ends in, or the exact error; a
// refused command must change nothing and emit nothing (G1).
//
// The cast: alice calls (online), bob is the member under test, carol is a
// second invitee who stays offline and pending so that the call outlives
// bob's answer.

type tableState string

const (
	stInviting  tableState = "Inviting"  // bob offline when invited (G2)
	stReceived  tableState = "Received"  // bob online when invited (G2)
	stAccepted  tableState = "Accepted"  // bob accepted (G3)
	stRejected  tableState = "Rejected"  // bob rejected (G3)
	stCancelled tableState = "Cancelled" // alice cancelled bob alone (G4)
	stTimeout   tableState = "Timeout"   // everyone timed out: the call is over (G5, G6)
	stCaller    tableState = "Caller"    // the subject is alice herself
	// Advanced mode only (table_advanced_test.go):
	stQuit       tableState = "Quit"       // bob accepted, then quit (A4)
	stCallerQuit tableState = "CallerQuit" // bob accepted, alice quit; the subject is alice
)

type tableCmd string

const (
	cmdAccept    tableCmd = "accept"     // the subject accepts
	cmdReject    tableCmd = "reject"     // the subject rejects
	cmdCancelOne tableCmd = "cancel-one" // alice cancels [subject]
	cmdCancelAll tableCmd = "cancel-all" // alice cancels everyone pending
	cmdCancelBy  tableCmd = "cancel-by"  // the subject tries to cancel everyone
	cmdLogin     tableCmd = "login"      // a new device of the subject logs in
	cmdLogout    tableCmd = "logout"     // the subject's last device logs out
	cmdDeadline  tableCmd = "deadline"   // the clock reaches the invitations' deadline
	// Advanced mode only (table_advanced_test.go):
	cmdInviteSubject tableCmd = "invite-subject"  // alice invites the subject again (A2)
	cmdSubjectInvite tableCmd = "subject-invites" // the subject invites erin (A2)
	cmdJoin          tableCmd = "join"            // the subject joins (A3)
	cmdQuit          tableCmd = "quit"            // the subject quits (A4)
	cmdEnd           tableCmd = "end"             // the subject ends the call (A5)
)

// cell is one expectation: the subject's state afterwards (and whether the
// call is still live), or the error.
type cell struct {
	state events.State
	live  bool
	err   error
}

func ok(s events.State, live bool) cell { return cell{state: s, live: live} }
func refused(err error) cell            { return cell{err: err} }

var (
	live = true
	over = false
)

var exhaustive = map[tableState]map[tableCmd]cell{
	stInviting: {
		cmdAccept:    ok(events.Accepted, live),
		cmdReject:    ok(events.Rejected, live),
		cmdCancelOne: ok(events.Cancelled, live),
		cmdCancelAll: ok(events.Cancelled, over),
		cmdCancelBy:  refused(call.ErrNotInviter),
		cmdLogin:     ok(events.Received, live), // G8
		cmdLogout:    ok(events.Inviting, live), // no device to log out: nothing happens
		cmdDeadline:  ok(events.Timeout, over),
	},
	stReceived: {
		cmdAccept:    ok(events.Accepted, live),
		cmdReject:    ok(events.Rejected, live),
		cmdCancelOne: ok(events.Cancelled, live),
		cmdCancelAll: ok(events.Cancelled, over),
		cmdCancelBy:  refused(call.ErrNotInviter),
		cmdLogin:     ok(events.Received, live), // G8: rung again on the new device
		cmdLogout:    ok(events.Received, live), // an invitee going offline changes nothing
		cmdDeadline:  ok(events.Timeout, over),
	},
	stAccepted: {
		cmdAccept:    ok(events.Accepted, live), // G3: the same answer again is a no-op
		cmdReject:    refused(call.ErrNotPending),
		cmdCancelOne: ok(events.Accepted, live), // G4: listed in failed
		cmdCancelAll: refused(call.ErrAlreadyAccepted),
		cmdCancelBy:  refused(call.ErrNotInviter),
		cmdLogin:     ok(events.Accepted, live),
		cmdLogout:    ok(events.Accepted, live),
		cmdDeadline:  ok(events.Accepted, over), // carol times out; bob keeps his answer
	},
	stRejected: {
		cmdAccept:    refused(call.ErrNotPending),
		cmdReject:    ok(events.Rejected, live), // G3 no-op
		cmdCancelOne: ok(events.Rejected, live), // G4: listed in failed
		cmdCancelAll: ok(events.Rejected, over), // carol is cancelled
		cmdCancelBy:  refused(call.ErrNotInviter),
		cmdLogin:     ok(events.Rejected, live),
		cmdLogout:    ok(events.Rejected, live),
		cmdDeadline:  ok(events.Rejected, over),
	},
	stCancelled: {
		cmdAccept:    refused(call.ErrNotPending),
		cmdReject:    refused(call.ErrNotPending),
		cmdCancelOne: ok(events.Cancelled, live), // G4: listed in failed
		cmdCancelAll: ok(events.Cancelled, over),
		cmdCancelBy:  refused(call.ErrNotInviter),
		cmdLogin:     ok(events.Cancelled, live),
		cmdLogout:    ok(events.Cancelled, live),
		cmdDeadline:  ok(events.Cancelled, over),
	},
	stTimeout: { // G6: the call is over, every command gets ErrCallNotFound
		cmdAccept:    refused(call.ErrCallNotFound),
		cmdReject:    refused(call.ErrCallNotFound),
		cmdCancelOne: refused(call.ErrCallNotFound),
		cmdCancelAll: refused(call.ErrCallNotFound),
		cmdCancelBy:  refused(call.ErrCallNotFound),
		cmdLogin:     ok(events.Timeout, over),
		cmdLogout:    ok(events.Timeout, over),
		cmdDeadline:  ok(events.Timeout, over),
	},
	stCaller: {
		cmdAccept:    refused(call.ErrNotInvitee),
		cmdReject:    refused(call.ErrNotInvitee),
		cmdCancelOne: refused(call.ErrNotInvitee), // G4: the caller is no invitee
		cmdCancelAll: ok(events.Accepted, over),
		cmdCancelBy:  ok(events.Accepted, over), // the subject is the caller: a plain cancel-all
		cmdLogin:     ok(events.Accepted, live),
		cmdLogout:    ok(events.Accepted, over), // G7: the caller's last device: everyone pending is cancelled
		cmdDeadline:  ok(events.Accepted, over),
	},
}

const timeout = 30 * time.Second

type table struct {
	reg     *call.Registry
	clk     *clock.Manual
	rec     *events.Recorder
	id      string
	subject string
}

// reach builds a general-mode call in which the subject is in state st.
func reach(t *testing.T, st tableState) *table { return reachMode(t, st, events.General) }

// reachMode builds a call of the given mode in which the subject is in
// state st.
func reachMode(t *testing.T, st tableState, mode events.Mode) *table {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	rec := &events.Recorder{}
	reg, err := call.NewRegistry(call.Options{Clock: clk, Sink: rec, NewID: func() string { return "c1" }})
	if err != nil {
		t.Fatal(err)
	}
	tb := &table{reg: reg, clk: clk, rec: rec, id: "c1", subject: "bob"}
	reg.Login("alice", "a1")
	if st != stInviting {
		reg.Login("bob", "b1")
	}
	if _, err := reg.Invite("alice", []string{"bob", "carol"}, call.InviteConfig{Timeout: timeout, Mode: mode}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	switch st {
	case stAccepted:
		must(reg.Accept("bob", "c1", call.AcceptConfig{}))
	case stRejected:
		must(reg.Reject("bob", "c1", call.RejectConfig{}))
	case stCancelled:
		_, err := reg.Cancel("alice", "c1", []string{"bob"}, call.CancelConfig{})
		must(err)
	case stTimeout:
		clk.Advance(timeout)
	case stCaller:
		tb.subject = "alice"
	case stQuit:
		must(reg.Accept("bob", "c1", call.AcceptConfig{}))
		must(reg.Quit("bob", "c1", call.QuitConfig{}))
	case stCallerQuit:
		must(reg.Accept("bob", "c1", call.AcceptConfig{}))
		must(reg.Quit("alice", "c1", call.QuitConfig{}))
		tb.subject = "alice"
	}
	rec.Take()
	return tb
}

func (tb *table) run(cmd tableCmd) error {
	s := tb.subject
	switch cmd {
	case cmdAccept:
		return tb.reg.Accept(s, tb.id, call.AcceptConfig{})
	case cmdReject:
		return tb.reg.Reject(s, tb.id, call.RejectConfig{})
	case cmdCancelOne:
		_, err := tb.reg.Cancel("alice", tb.id, []string{s}, call.CancelConfig{})
		return err
	case cmdCancelAll:
		_, err := tb.reg.Cancel("alice", tb.id, nil, call.CancelConfig{})
		return err
	case cmdCancelBy:
		_, err := tb.reg.Cancel(s, tb.id, nil, call.CancelConfig{})
		return err
	case cmdLogin:
		tb.reg.Login(s, "new-device")
	case cmdLogout:
		tb.reg.Logout(s, map[string]string{"alice": "a1", "bob": "b1"}[s])
	case cmdDeadline:
		tb.clk.Advance(timeout)
	case cmdInviteSubject:
		_, err := tb.reg.CallingInvite("alice", tb.id, []string{s}, call.CallingInviteConfig{})
		return err
	case cmdSubjectInvite:
		_, err := tb.reg.CallingInvite(s, tb.id, []string{"erin"}, call.CallingInviteConfig{})
		return err
	case cmdJoin:
		_, err := tb.reg.Join(s, tb.id, call.JoinConfig{})
		return err
	case cmdQuit:
		return tb.reg.Quit(s, tb.id, call.QuitConfig{})
	case cmdEnd:
		return tb.reg.End(s, tb.id, call.EndConfig{})
	}
	return nil
}

// subjectState reads the subject's state from the live call or, once the
// call is over, from the last event that described the subject, or else from
// the call as it was before the command.
func (tb *table) subjectState(t *testing.T, before call.Info, evs []events.Event) (events.State, bool) {
	if info, ok := tb.reg.Call(tb.id); ok {
		for _, m := range info.Members {
			if m.User == tb.subject {
				return m.State, true
			}
		}
		t.Fatalf("%s is no member of %v", tb.subject, info)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		for _, m := range evs[i].Members {
			if m.User == tb.subject {
				return m.State, false
			}
		}
	}
	for _, m := range before.Members {
		if m.User == tb.subject {
			return m.State, false
		}
	}
	return events.Timeout, false // the setup timed bob out and ended the call
}

func TestExhaustiveStateCommandTable(t *testing.T) {
	states := []tableState{stInviting, stReceived, stAccepted, stRejected, stCancelled, stTimeout, stCaller}
	cmds := []tableCmd{cmdAccept, cmdReject, cmdCancelOne, cmdCancelAll, cmdCancelBy, cmdLogin, cmdLogout, cmdDeadline}
	runTable(t, events.General, exhaustive, states, cmds)
}

// runTable runs every (state, command) cell of a table, each on a fresh call.
func runTable(t *testing.T, mode events.Mode, cells map[tableState]map[tableCmd]cell, states []tableState, cmds []tableCmd) {
	if len(cells) != len(states) {
		t.Fatalf("the table covers %d states, want %d", len(cells), len(states))
	}
	for _, st := range states {
		if len(cells[st]) != len(cmds) {
			t.Fatalf("state %s: the table covers %d commands, want %d", st, len(cells[st]), len(cmds))
		}
		for _, cmd := range cmds {
			want := cells[st][cmd]
			t.Run(fmt.Sprintf("%s/%s", st, cmd), func(t *testing.T) {
				tb := reachMode(t, st, mode)
				before, liveBefore := tb.reg.Call(tb.id)
				err := tb.run(cmd)
				evs := tb.rec.Take()
				if want.err != nil {
					if !errors.Is(err, want.err) {
						t.Fatalf("err = %v, want %v", err, want.err)
					}
					after, liveAfter := tb.reg.Call(tb.id)
					if liveAfter != liveBefore || !reflect.DeepEqual(before, after) {
						t.Errorf("a refused command changed the call:\nbefore %+v\nafter  %+v", before, after)
					}
					if len(evs) != 0 {
						t.Errorf("a refused command emitted %d events: %+v", len(evs), evs)
					}
					return
				}
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if !liveBefore && len(evs) != 0 {
					t.Errorf("a command on a call that is over emitted %d events (G6)", len(evs))
				}
				got, isLive := tb.subjectState(t, before, evs)
				if got != want.state || isLive != want.live {
					t.Errorf("subject is %s (live %v), want %s (live %v)", got, isLive, want.state, want.live)
				}
				if !isLive && tb.reg.Len() != 0 {
					t.Errorf("call over but Len = %d", tb.reg.Len())
				}
				if !isLive {
					// G6: the call holds no timer. The Registry's one
					// clock timer may still be armed (see arm): when
					// it fires it does nothing, and is gone.
					if n := tb.clk.Pending(); n > 1 {
						t.Errorf("call over but %d timers pending (G6)", n)
					}
					tb.clk.Advance(call.DefaultMaxTimeout + time.Second)
					if evs := tb.rec.Take(); len(evs) != 0 {
						t.Errorf("call over, but the clock running on emitted %d events (G6): %+v", len(evs), evs)
					}
					if n := tb.clk.Pending(); n != 0 {
						t.Errorf("call over, and the clock ran past every deadline, but %d timers pending (G6)", n)
					}
				}
			})
		}
	}
}

// TestRefusedNoOpsEmitNothing: the repeats G3 calls no-ops emit nothing.
func TestRefusedNoOpsEmitNothing(t *testing.T) {
	for _, st := range []tableState{stAccepted, stRejected} {
		tb := reach(t, st)
		before, _ := tb.reg.Call(tb.id)
		var err error
		if st == stAccepted {
			err = tb.run(cmdAccept)
		} else {
			err = tb.run(cmdReject)
		}
		after, _ := tb.reg.Call(tb.id)
		if err != nil || len(tb.rec.Take()) != 0 || !reflect.DeepEqual(before, after) {
			t.Errorf("%s: repeating the answer: err %v, or it emitted or changed something", st, err)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func equalInfo(a, b call.Info) bool { return reflect.DeepEqual(a, b) }
