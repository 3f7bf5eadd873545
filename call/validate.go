package call

import (
	"fmt"
	"strconv"
	"time"

	"github.com/callsig/callsig/events"
	"unicode"
	"unicode/utf8"
)

// maxIDLen is the longest user, device or call ID, in bytes.
const maxIDLen = 128

// validID reports whether s is a well-formed user ID (and call and device
// ID): 1–128 bytes of UTF-8 with no control (Cc) or format (Cf) character.
// Format characters are refused because zero-width joiners and bidi
// overrides let two IDs that look alike differ.
func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c >= utf8.RuneSelf {
			return validUnicodeID(s[i:])
		}
	}
	return true
}

func validUnicodeID(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// validDevice reports whether s is a device ID: "" (the default device) or
// anything validID accepts.
func validDevice(s string) bool { return s == "" || validID(s) }

// validPush reports whether p's fields fit in maxData bytes together.
func validPush(p *events.Push, maxData int) bool {
	return p == nil || len(p.Title)+len(p.Content)+len(p.Payload) <= maxData
}

// quoteID quotes an ID for an error message, cut short if it is long.
func quoteID(s string) string {
	if len(s) > maxIDLen {
		cut := maxIDLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

// inviteArgs are the arguments of an Invite or a CallingInvite that its
// checks read.
type inviteArgs struct {
	op      string        // "invite" or "calling invite", for errors
	callID  string        // for errors: the CallingInvite's call, or the Invite's host-chosen CallID
	user    string        // the acting user
	list    []string      // the invitees
	timeout time.Duration // as given
	dflt    time.Duration // what a zero timeout means; 0: the call's, before the call is looked up
	data    string        // an Invite's extended data
	push    *events.Push
	mode    events.Mode // an Invite's mode
	hostID  bool        // an Invite's callID was chosen by the host: it must be a valid ID
}

// inviteArgs returns what checkInvite reads of an Invite.
func (cfg *InviteConfig) inviteArgs(inviter string, invitees []string, s *settings) inviteArgs {
	return inviteArgs{op: "invite", callID: cfg.CallID, user: inviter, list: invitees, timeout: cfg.Timeout,
		dflt: s.defaultTimeout, data: cfg.ExtendedData, push: cfg.Push, mode: cfg.Mode, hostID: cfg.CallID != ""}
}

// inviteArgs returns what checkInvite reads of a CallingInvite into the
// call callID whose timeout is dflt (0: not known yet).
func (cfg *CallingInviteConfig) inviteArgs(user, callID string, invitees []string, dflt time.Duration) inviteArgs {
	return inviteArgs{op: "calling invite", callID: callID, user: user, list: invitees, timeout: cfg.Timeout, dflt: dflt, push: cfg.Push}
}

// checkInvite runs the checks of an Invite or a CallingInvite on a, in the
// order of RULES.md §2 ("Which error wins"), and returns the timeout the
// invitations get. It is the one place these rules are written: the
// command runs it under the lock, and the same call without the state
// decides beforehand whether Options.Admit is to be asked at all (H7).
//
// c is the call a CallingInvite adds to (and a.dflt its timeout); the
// command has checked the call's existence and mode and the acting user's
// state before, as the order says. With c, the checks of the list against
// the call's members run at their place (a listed user who is its caller,
// pending or Accepted; the members ever listed against MaxInvitees).
// Without c — an Invite, or a CallingInvite checked before the lock — only
// the checks that need no state run: the count is the list's own, which
// the call's can only exceed (once the list passes the checks before the
// count, every entry is a distinct invitee of the call, old or new), and a
// CallingInvite's zero timeout, the call's, passes. So an error without c
// means the command fails, though under the lock a check of the state that
// comes earlier in the order may be the one that wins.
func (s *settings) checkInvite(a *inviteArgs, c *callState) (time.Duration, error) {
	fail := func(sentinel error, detail string) (time.Duration, error) {
		return 0, newErr(a.op, a.callID, a.user, sentinel, detail)
	}
	if !validID(a.user) {
		return fail(ErrInvalidUser, "")
	}
	if len(a.list) == 0 {
		return fail(ErrNoInvitees, "")
	}
	for _, u := range a.list {
		if !validID(u) {
			return fail(ErrInvalidUser, "invalid invitee ID "+quoteID(u))
		}
	}
	for _, u := range a.list {
		if u == a.user {
			return fail(ErrSelfInvite, "")
		}
	}
	if u, ok := firstDuplicate(a.list); ok {
		return fail(ErrDuplicateInvitee, quoteID(u)+" is listed twice")
	}
	n := len(a.list)
	if c != nil {
		added, err := c.listed(a.op, a.user, a.list)
		if err != nil {
			return 0, err
		}
		n = len(c.members()) - 1 + added
	}
	if n > s.maxInvitees {
		return fail(ErrTooManyInvitees, fmt.Sprintf("%d invitees, at most %d", n, s.maxInvitees))
	}
	timeout := a.timeout
	if timeout == 0 {
		timeout = a.dflt // still zero: the call's, checked with the call
	}
	if timeout != 0 && (timeout < MinTimeout || timeout > s.maxTimeout) {
		return fail(ErrInvalidTimeout, fmt.Sprintf("%v is outside [%v, %v]", a.timeout, MinTimeout, s.maxTimeout))
	}
	if len(a.data) > s.maxDataLen {
		return fail(ErrDataTooLarge, fmt.Sprintf("%d bytes, at most %d", len(a.data), s.maxDataLen))
	}
	if !validPush(a.push, s.maxDataLen) {
		return fail(ErrInvalidArgument, fmt.Sprintf("push fields over %d bytes together", s.maxDataLen))
	}
	if a.mode != events.General && a.mode != events.Advanced {
		return fail(ErrInvalidArgument, "unknown mode "+a.mode.String())
	}
	if a.hostID && !validID(a.callID) {
		return fail(ErrInvalidCallID, "")
	}
	return timeout, nil
}
