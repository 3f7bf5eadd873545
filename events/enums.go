package events

import "strconv"

// Kind says what happened. String gives the ZIM-style callback name without
// its "on" prefix, e.g. "InvitationReceived".
type Kind uint8

// The kinds of event, in the order ZIM documents its callbacks.
const (
	InvitationCreated       Kind = iota + 1 // to the caller: the call exists (its other devices learn of it)
	InvitationReceived                      // to an invitee: ring
	InvitationCancelled                     // to an invitee: the caller cancelled, or went offline
	InvitationAccepted                      // to the caller (general mode)
	InvitationRejected                      // to the caller (general mode)
	InvitationTimeout                       // to an invitee that did not answer in time
	InviteesAnsweredTimeout                 // to the caller; Members lists who timed out
	UserStateChanged                        // advanced mode: to the members; general mode: to an invitee that answered
	InvitationEnded                         // advanced mode: to the members, when the call ends
)

var kindNames = [...]string{
	InvitationCreated:       "InvitationCreated",
	InvitationReceived:      "InvitationReceived",
	InvitationCancelled:     "InvitationCancelled",
	InvitationAccepted:      "InvitationAccepted",
	InvitationRejected:      "InvitationRejected",
	InvitationTimeout:       "InvitationTimeout",
	InviteesAnsweredTimeout: "InviteesAnsweredTimeout",
	UserStateChanged:        "UserStateChanged",
	InvitationEnded:         "InvitationEnded",
}

// String returns the kind's name, or "Kind(n)" for a value out of range.
func (k Kind) String() string { return name(kindNames[:], uint8(k), "Kind") }

// Mode is the mode of a call: General (ZIM's basic mode) or Advanced.
type Mode uint8

// The modes of a call.
const (
	General  Mode = iota // the zero value: a call ends once nobody is left pending
	Advanced             // a call lives until it is ended (invite more, join, quit, end)
)

var modeNames = [...]string{General: "General", Advanced: "Advanced"}

// String returns the mode's name, or "Mode(n)" for a value out of range.
func (m Mode) String() string { return name(modeNames[:], uint8(m), "Mode") }

// State is a member's state in a call (ZIM's ZIMCallUserState).
type State uint8

// The states of a member. Inviting, Received and NotYetReceived are the
// pending states: only a pending invitee may accept or reject.
const (
	Inviting       State = iota // invited, not yet delivered to any device of the invitee
	Received                    // delivered to at least one device; ringing
	Accepted                    // in the call (the caller is Accepted from the start)
	Rejected                    // the invitee declined
	Cancelled                   // the caller cancelled, went offline, or the call ended while pending
	Timeout                     // the invitee did not answer before its deadline
	Quit                        // advanced mode: left the call after accepting
	NotYetReceived              // still not delivered when the not-received check ran (H6)
)

var stateNames = [...]string{
	Inviting:       "Inviting",
	Received:       "Received",
	Accepted:       "Accepted",
	Rejected:       "Rejected",
	Cancelled:      "Cancelled",
	Timeout:        "Timeout",
	Quit:           "Quit",
	NotYetReceived: "NotYetReceived",
}

// String returns the state's name, or "State(n)" for a value out of range.
func (s State) String() string { return name(stateNames[:], uint8(s), "State") }

// Pending reports whether s is Inviting, Received or NotYetReceived.
func (s State) Pending() bool {
	return s == Inviting || s == Received || s == NotYetReceived
}

// Reason says why a member's state changed, where the Kind alone does not.
type Reason uint8

// The reasons. The constants carry the prefix; String gives the bare name.
const (
	ReasonNone          Reason = iota // the zero value
	ReasonCancelled                   // the caller cancelled
	ReasonCallerOffline               // the caller's last device logged out (G7)
	ReasonRejected                    // the invitee declined
	ReasonBusy                        // the invitee was busy in another call (H2)
	ReasonTimeout                     // the invitee did not answer in time
	ReasonEnded                       // a member ended the call (A5)
	ReasonEmpty                       // nobody was left in the call (A4)
)

var reasonNames = [...]string{
	ReasonNone:          "None",
	ReasonCancelled:     "Cancelled",
	ReasonCallerOffline: "CallerOffline",
	ReasonRejected:      "Rejected",
	ReasonBusy:          "Busy",
	ReasonTimeout:       "Timeout",
	ReasonEnded:         "Ended",
	ReasonEmpty:         "Empty",
}

// String returns the reason's bare name ("Busy"), or "Reason(n)" out of range.
func (r Reason) String() string { return name(reasonNames[:], uint8(r), "Reason") }

func name(names []string, v uint8, typ string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

// ParseKind returns the Kind whose String is s.
func ParseKind(s string) (Kind, bool) { v, ok := parse(kindNames[:], s); return Kind(v), ok }

// ParseMode returns the Mode whose String is s.
func ParseMode(s string) (Mode, bool) { v, ok := parse(modeNames[:], s); return Mode(v), ok }

// ParseState returns the State whose String is s.
func ParseState(s string) (State, bool) { v, ok := parse(stateNames[:], s); return State(v), ok }

// ParseReason returns the Reason whose String is s.
func ParseReason(s string) (Reason, bool) { v, ok := parse(reasonNames[:], s); return Reason(v), ok }

func parse(names []string, s string) (uint8, bool) {
	for i, n := range names {
		if n != "" && n == s {
			return uint8(i), true
		}
	}
	return 0, false
}
