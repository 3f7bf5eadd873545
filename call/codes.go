package call

import "errors"

// codes lists every sentinel with its code: the sentinel's name without
// "Err", in snake case. TestEveryErrorHasItsCode holds this list to the
// Err* variables the package declares and to the table in Code's comment,
// so that a new sentinel cannot go without a code.
var codes = [...]struct {
	err  error
	code string
}{
	{ErrInvalidOption, "invalid_option"},
	{ErrInvalidUser, "invalid_user"},
	{ErrInvalidCallID, "invalid_call_id"},
	{ErrInvalidArgument, "invalid_argument"},
	{ErrNoInvitees, "no_invitees"},
	{ErrTooManyInvitees, "too_many_invitees"},
	{ErrDuplicateInvitee, "duplicate_invitee"},
	{ErrSelfInvite, "self_invite"},
	{ErrInvalidTimeout, "invalid_timeout"},
	{ErrDataTooLarge, "data_too_large"},
	{ErrCallExists, "call_exists"},
	{ErrCallNotFound, "call_not_found"},
	{ErrNotInviter, "not_inviter"},
	{ErrNotInvitee, "not_invitee"},
	{ErrNotPending, "not_pending"},
	{ErrAlreadyAccepted, "already_accepted"},
	{ErrWrongMode, "wrong_mode"},
	{ErrJournal, "journal"},
	{ErrNotAccepted, "not_accepted"},
	{ErrOverloaded, "overloaded"},
	{ErrNotOnline, "not_online"},
}

// The codes that are not a sentinel's.
const (
	codeInternal = "internal" // Code of an error that carries no code
	codeRefused  = "refused"  // a Failure's code when its error carries no code: Options.Admit refused (H7)
)

// Code returns the stable code of err, for a wire protocol to carry: the
// code of the sentinel err matches, which is the sentinel's name without
// "Err" in snake case. Codes are part of the API: a code never changes
// and is never given to another error.
//
//	Code                Sentinel
//	invalid_option      ErrInvalidOption
//	invalid_user        ErrInvalidUser
//	invalid_call_id     ErrInvalidCallID
//	invalid_argument    ErrInvalidArgument
//	no_invitees         ErrNoInvitees
//	too_many_invitees   ErrTooManyInvitees
//	duplicate_invitee   ErrDuplicateInvitee
//	self_invite         ErrSelfInvite
//	invalid_timeout     ErrInvalidTimeout
//	data_too_large      ErrDataTooLarge
//	call_exists         ErrCallExists
//	call_not_found      ErrCallNotFound
//	not_inviter         ErrNotInviter
//	not_invitee         ErrNotInvitee
//	not_pending         ErrNotPending
//	already_accepted    ErrAlreadyAccepted
//	wrong_mode          ErrWrongMode
//	journal             ErrJournal
//	not_accepted        ErrNotAccepted
//	overloaded          ErrOverloaded
//	not_online          ErrNotOnline
//
// Code(nil) is "". An error in whose chain (errors.As) an error has a
// method Code() string that returns a code gives that code: an [Error]
// gives its sentinel's (so an ErrJournal error gives "journal", whatever
// the Journal's own error), the error of a [Failure] decoded from JSON
// gives the code it was sent with, and a host may give its own errors
// (those of Options.Admit, say) codes this way. Any other error matching a
// sentinel with errors.Is gives the sentinel's code; an error that matches
// none gives "internal". No code of this package is "bad_request" or
// "unavailable", which a host may use for requests it could not read and
// for a Registry it could not reach.
func Code(err error) string {
	if err == nil {
		return ""
	}
	if c := codeOf(err); c != "" {
		return c
	}
	return codeInternal
}

// Code returns the code of e's sentinel, as [Code] gives it.
func (e *Error) Code() string {
	for _, c := range codes {
		if e.Err == c.err {
			return c.code
		}
	}
	return codeInternal
}

// coder is an error that carries its code.
type coder interface{ Code() string }

// codeOf returns err's code, or "" if it carries none.
func codeOf(err error) string {
	var c coder
	if errors.As(err, &c) {
		if code := c.Code(); code != "" {
			return code
		}
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return ""
}

// sentinelOf returns the sentinel whose code is code, or nil.
func sentinelOf(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}

// codedError is the error of a Failure decoded from JSON: its message and
// code as they were sent. It matches the code's sentinel with errors.Is
// where this package knows the code.
type codedError struct {
	code, msg string
	sentinel  error // nil for a code this package does not know
}

func (e *codedError) Error() string {
	if e.msg == "" {
		return e.code
	}
	return e.msg
}

func (e *codedError) Code() string  { return e.code }
func (e *codedError) Unwrap() error { return e.sentinel }
