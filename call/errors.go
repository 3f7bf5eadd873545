package call

import (
	"errors"
	"strings"

	"github.com/callsig/callsig/internal/core"
)

// The errors a Registry returns. Every error a command returns matches one of
// them with errors.Is, and its message names the command, the call (where one
// exists) and the user concerned. Each has a stable code for a wire protocol
// to carry, "not_pending" for ErrNotPending: see Code.
var (
	ErrInvalidOption    = errors.New("invalid option")                   // NewRegistry / Restore: an option out of range or unknown
	ErrInvalidUser      = errors.New("invalid user ID")                  // empty, over 128 bytes, not UTF-8, or with a Cc or Cf character
	ErrInvalidCallID    = errors.New("invalid call ID")                  // a host-chosen CallID that breaks the user-ID rules
	ErrInvalidArgument  = errors.New("invalid argument")                 // an unknown Mode, a bad Device ID, Push fields over MaxDataLen together
	ErrNoInvitees       = errors.New("no invitees")                      // the invitee list is empty
	ErrTooManyInvitees  = errors.New("too many invitees")                // more than MaxInvitees
	ErrDuplicateInvitee = errors.New("duplicate invitee")                // a list names a user twice
	ErrSelfInvite       = errors.New("cannot invite oneself")            // the inviter is in its own list
	ErrInvalidTimeout   = errors.New("invalid timeout")                  // outside [1s, MaxTimeout]
	ErrDataTooLarge     = errors.New("extended data too large")          // over MaxDataLen bytes
	ErrCallExists       = errors.New("call ID already in use")           // InviteConfig.CallID names a live call
	ErrCallNotFound     = errors.New("call not found")                   // no such call, it is over, or the user is no member of it (G10)
	ErrNotInviter       = errors.New("not the inviter")                  // a member other than the caller tried to cancel
	ErrNotInvitee       = errors.New("not an invitee")                   // the caller answered its own call, or a cancel list names a non-invitee
	ErrNotPending       = errors.New("invitation not pending")           // already accepted, rejected, cancelled or timed out
	ErrAlreadyAccepted  = errors.New("an invitee has already accepted")  // cancel-all after an invitee accepted
	ErrWrongMode        = errors.New("wrong call mode")                  // an advanced-mode command on a general-mode call
	ErrJournal          = errors.New("journal refused the input")        // the Journal's Append failed
	ErrNotAccepted      = errors.New("user not in the call")             // the command needs the user to be Accepted
	ErrOverloaded       = errors.New("overloaded: too many events wait") // C5: Backlog is at Options.MaxBacklog; nothing changed, retry later
	ErrNotOnline        = errors.New("device not online")                // Replay of a device that is not online: log it in instead
)

// Error is the error every command returns. It matches its sentinel (and,
// for ErrJournal, the Journal's own error) with errors.Is; its Code method
// gives its sentinel's code.
type Error struct {
	Op     string // the command: "invite", "cancel", "accept", …
	CallID string // the call, where one exists
	User   string // the user concerned
	Detail string // what exactly was wrong, for people
	Err    error  // the sentinel
	Cause  error  // an underlying error (a Journal's), or nil
}

// Error formats e as `callsig: accept call "c1" by "bob": invitation not pending`.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("callsig: ")
	b.WriteString(e.Op)
	// A command on a call names the call, and every command names its user,
	// even when the ID is empty: an empty ID is often the bug.
	if e.CallID != "" || onCall(e.Op) {
		b.WriteString(" call ")
		b.WriteString(core.QuoteID(e.CallID))
	}
	if e.User != "" || e.Op != "options" && e.Op != "restore" && e.Op != "apply" {
		b.WriteString(" by ")
		b.WriteString(core.QuoteID(e.User))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and, if set, the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

func newErr(op, callID, user string, sentinel error, detail string) error {
	return &Error{Op: op, CallID: callID, User: user, Err: sentinel, Detail: detail}
}

// sentinels[code] is the sentinel of a refusal by the core.
var sentinels = [core.NumCodes]error{
	core.InvalidUser:      ErrInvalidUser,
	core.InvalidCallID:    ErrInvalidCallID,
	core.InvalidArgument:  ErrInvalidArgument,
	core.NoInvitees:       ErrNoInvitees,
	core.TooManyInvitees:  ErrTooManyInvitees,
	core.DuplicateInvitee: ErrDuplicateInvitee,
	core.SelfInvite:       ErrSelfInvite,
	core.InvalidTimeout:   ErrInvalidTimeout,
	core.DataTooLarge:     ErrDataTooLarge,
	core.CallExists:       ErrCallExists,
	core.CallNotFound:     ErrCallNotFound,
	core.NotInviter:       ErrNotInviter,
	core.NotInvitee:       ErrNotInvitee,
	core.NotPending:       ErrNotPending,
	core.AlreadyAccepted:  ErrAlreadyAccepted,
	core.WrongMode:        ErrWrongMode,
	core.NotAccepted:      ErrNotAccepted,
}

// refusal returns the error of a command the core refused, or nil if it
// passed.
func refusal(op, callID, user string, r core.Refusal) error {
	if !r.Refused() {
		return nil
	}
	return newErr(op, callID, user, sentinels[r.Code], r.Detail)
}

// onCall reports whether op is a command on an existing call.
func onCall(op string) bool {
	switch op {
	case "cancel", "accept", "reject", "calling invite", "join", "quit", "end":
		return true
	}
	return false
}
