package core

import (
	"fmt"

	"github.com/callsig/callsig/events"
	"github.com/looplab/fsm"
)

// The lifecycles are declared once, here, as looplab/fsm event tables: the
// clearest way to read them, and what docs/guide.md's diagrams are drawn from
// (lifecycle_test.go fails when the two drift apart). At init they are
// compiled into dense arrays, so the hot path decides a transition with one
// indexed load and never runs an fsm.FSM.

// memberCmd is a command that changes one member's state.
type memberCmd uint8

const (
	cmdDeliver     memberCmd = iota // a device of the invitee logged in (G8)
	cmdAccept                       // the invitee accepted (G3)
	cmdReject                       // the invitee rejected (G3)
	cmdCancel                       // the caller cancelled, or went offline (G4, G7)
	cmdTimeout                      // the invitee's deadline passed (G5)
	cmdReinvite                     // advanced mode: a member who left or never answered is invited again (A2)
	cmdJoin                         // advanced mode: a member not in the call enters it (A3)
	cmdQuit                         // advanced mode: a member in the call leaves it (A4)
	cmdNotReceived                  // still not delivered when the not-received check ran (H6)
	numMemberCmds
)

var memberCmdNames = [numMemberCmds]string{
	cmdDeliver:     "deliver",
	cmdAccept:      "accept",
	cmdReject:      "reject",
	cmdCancel:      "cancel",
	cmdTimeout:     "timeout",
	cmdReinvite:    "reinvite",
	cmdJoin:        "join",
	cmdQuit:        "quit",
	cmdNotReceived: "notReceived",
}

func (c memberCmd) String() string { return memberCmdNames[c] }

// pendingStates are the states rule "Pending" of RULES.md §2 names.
var pendingStates = []string{
	events.Inviting.String(), events.Received.String(), events.NotYetReceived.String(),
}

// endedStates are the states of a member that is no longer in the call and
// no longer rung: in advanced mode it may be invited again, or join.
var endedStates = []string{
	events.Rejected.String(), events.Cancelled.String(), events.Timeout.String(), events.Quit.String(),
}

// notInCall is every state but Accepted: where Join may start (A3).
var notInCall = append(append([]string(nil), pendingStates...), endedStates...)

// memberLifecycle declares how a member's state changes. An invitee starts
// Inviting and is delivered at once if it has an online device (G2); the
// caller starts Accepted. In general mode a member that is no longer pending
// never changes again; advanced mode adds reinvite, join and quit (A2–A4),
// and ending a call cancels whoever is still pending (A5).
var memberLifecycle = fsm.Events{
	{Name: cmdDeliver.String(), Src: []string{events.Inviting.String(), events.NotYetReceived.String()}, Dst: events.Received.String()},
	{Name: cmdAccept.String(), Src: pendingStates, Dst: events.Accepted.String()},
	{Name: cmdReject.String(), Src: pendingStates, Dst: events.Rejected.String()},
	{Name: cmdCancel.String(), Src: pendingStates, Dst: events.Cancelled.String()},
	{Name: cmdTimeout.String(), Src: pendingStates, Dst: events.Timeout.String()},
	{Name: cmdReinvite.String(), Src: endedStates, Dst: events.Inviting.String()},
	{Name: cmdJoin.String(), Src: notInCall, Dst: events.Accepted.String()},
	{Name: cmdQuit.String(), Src: []string{events.Accepted.String()}, Dst: events.Quit.String()},
	{Name: cmdNotReceived.String(), Src: []string{events.Inviting.String()}, Dst: events.NotYetReceived.String()},
}

// memberInitial is the state every invitee starts in.
const memberInitial = events.Inviting

// callStatus is where a call is in its own lifecycle.
type callStatus uint8

const (
	callLive callStatus = iota // invitations may still be answered
	callOver                   // nothing left to decide: forgotten (G6)
	numCallStatuses
)

var callStatusNames = [numCallStatuses]string{callLive: "Live", callOver: "Over"}

func (s callStatus) String() string { return callStatusNames[s] }

// callCmd is a command that changes a call's status.
type callCmd uint8

const (
	cmdSettle        callCmd = iota // general mode: no invitee is pending any more (G6)
	cmdCallerOffline                // the caller's last device logged out, nobody accepted (G7)
	cmdEnd                          // advanced mode: a member ended the call (A5)
	cmdEmpty                        // advanced mode: nobody is in the call or rung any more (A4)
	numCallCmds
)

var callCmdNames = [numCallCmds]string{
	cmdSettle:        "settle",
	cmdCallerOffline: "callerOffline",
	cmdEnd:           "end",
	cmdEmpty:         "empty",
}

func (c callCmd) String() string { return callCmdNames[c] }

// callLifecycle declares how a call's status changes.
var callLifecycle = fsm.Events{
	{Name: cmdSettle.String(), Src: []string{callLive.String()}, Dst: callOver.String()},
	{Name: cmdCallerOffline.String(), Src: []string{callLive.String()}, Dst: callOver.String()},
	{Name: cmdEnd.String(), Src: []string{callLive.String()}, Dst: callOver.String()},
	{Name: cmdEmpty.String(), Src: []string{callLive.String()}, Dst: callOver.String()},
}

const callInitial = callLive

// numStates bounds events.State values (NotYetReceived is the last).
const numStates = int(events.NotYetReceived) + 1

// noTransition marks a (state, command) pair the lifecycle does not allow.
const noTransition = 0xff

// nextMember returns the state cmd takes a member in state s to, and false
// if the member lifecycle does not allow cmd in s.
func nextMember(s events.State, cmd memberCmd) (events.State, bool) {
	if int(s) >= len(memberNext) {
		return s, false
	}
	d := memberNext[s][cmd]
	return events.State(d), d != noTransition
}

// nextCall is nextMember for the call lifecycle.
func nextCall(s callStatus, cmd callCmd) (callStatus, bool) {
	d := callNext[s][cmd]
	return callStatus(d), d != noTransition
}

// memberNext[state][cmd] is the state cmd leads to, or noTransition.
var memberNext = compile(memberLifecycle, numStates, int(numMemberCmds),
	func(i int) string { return events.State(i).String() },
	func(i int) string { return memberCmd(i).String() })

// callNext[status][cmd] is the status cmd leads to, or noTransition.
var callNext = compile(callLifecycle, int(numCallStatuses), int(numCallCmds),
	func(i int) string { return callStatus(i).String() },
	func(i int) string { return callCmd(i).String() })

// compile turns a declaration into a dense table indexed by state and
// command. It panics at init on a name it does not know, so a typo in a
// declaration cannot ship.
func compile(decl fsm.Events, nStates, nCmds int, stateName, cmdName func(int) string) [][]uint8 {
	states := map[string]uint8{}
	for i := range nStates {
		states[stateName(i)] = uint8(i)
	}
	cmds := map[string]int{}
	for i := range nCmds {
		cmds[cmdName(i)] = i
	}
	table := make([][]uint8, nStates)
	for i := range table {
		table[i] = make([]uint8, nCmds)
		for j := range table[i] {
			table[i][j] = noTransition
		}
	}
	for _, ev := range decl {
		cmd, ok := cmds[ev.Name]
		if !ok {
			panic(fmt.Sprintf("callsig: lifecycle names unknown command %q", ev.Name))
		}
		dst, ok := states[ev.Dst]
		if !ok {
			panic(fmt.Sprintf("callsig: lifecycle names unknown state %q", ev.Dst))
		}
		for _, src := range ev.Src {
			s, ok := states[src]
			if !ok {
				panic(fmt.Sprintf("callsig: lifecycle names unknown state %q", src))
			}
			table[s][cmd] = dst
		}
	}
	return table
}
