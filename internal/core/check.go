package core

import (
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/callsig/callsig/events"
)

// Code says which rule refused a command. Package call maps each code to
// its sentinel error (call.ErrInvalidUser for InvalidUser, and so on): the
// core cannot name them, since package call imports the core.
type Code uint8

// The codes. Passed is the zero value: no rule refused.
const (
	Passed Code = iota
	InvalidUser
	InvalidCallID
	InvalidArgument
	NoInvitees
	TooManyInvitees
	DuplicateInvitee
	SelfInvite
	InvalidTimeout
	DataTooLarge
	CallExists
	CallNotFound
	NotInviter
	NotInvitee
	NotPending
	AlreadyAccepted
	WrongMode
	NotAccepted
	NumCodes
)

// Refusal is what a check returns: the rule that refused the command, and
// what exactly was wrong, for people. The zero Refusal lets the command
// through.
type Refusal struct {
	Code   Code
	Detail string
}

// Refused reports whether a rule refused the command.
func (r Refusal) Refused() bool { return r.Code != Passed }

func refuse(code Code, detail string) Refusal { return Refusal{Code: code, Detail: detail} }

// MaxIDLen is the longest user, device or call ID, in bytes.
const MaxIDLen = 128

// MinTimeout is the shortest timeout an invitation may have.
const MinTimeout = time.Second

// ValidID reports whether s is a well-formed user ID (and call and device
// ID): 1–128 bytes of UTF-8 with no control (Cc) or format (Cf) character.
// Format characters are refused because zero-width joiners and bidi
// overrides let two IDs that look alike differ.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	// Eight bytes at a time while they are all printable ASCII, as IDs
	// mostly are: every command checks two or three of them.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if !printableASCII(word(s[i : i+8])) {
			break // the byte loop below finds which, and what it is
		}
	}
	// Every word so far printable, and fewer than eight bytes left: the
	// last eight bytes, read as one word, cover them.
	if i < len(s) && i+8 > len(s) && len(s) >= 8 && printableASCII(word(s[len(s)-8:])) {
		return true
	}
	for ; i < len(s); i++ {
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

// word returns the first eight bytes of b as one little-endian word: one
// bounds check, and the compiler loads the eight bytes at once.
func word(b string) uint64 {
	b = b[:8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// printableASCII reports whether each byte of w is in 0x20–0x7e: none has
// its high bit set, none is below 0x20, and none is 0x7f. Each test sets a
// byte's high bit for the bytes it finds, without carries between bytes:
// w-0x20… borrows out of a byte only where it is below 0x20, and ^w keeps
// the bytes whose high bit was already set out of it; 0x7f is the byte x
// of w^0x7f… that is zero, found the same way.
func printableASCII(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := w ^ 0x7f*ones
	return (w|(w-0x20*ones)&^w|(x-ones)&^x)&highs == 0
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

// ValidDevice reports whether s is a device ID: "" (the default device) or
// anything ValidID accepts.
func ValidDevice(s string) bool { return s == "" || ValidID(s) }

// ValidPush reports whether p's fields fit in maxData bytes together.
func ValidPush(p *events.Push, maxData int) bool {
	return p == nil || len(p.Title)+len(p.Content)+len(p.Payload) <= maxData
}

// QuoteID quotes an ID for an error message, cut short if it is long.
func QuoteID(s string) string {
	if len(s) > MaxIDLen {
		cut := MaxIDLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut-- // never split a character
		}
		s = s[:cut] + "…"
	}
	return strconv.Quote(s)
}

// Limits are the options the core's checks and changes read.
type Limits struct {
	MaxInvitees int           // the most invitees a call may ever list
	MaxTimeout  time.Duration // the longest timeout an invitation may have
	MaxData     int           // the most bytes of extended data, and of push fields together
	NotReceived time.Duration // H6: how long after it is rung an invitee still Inviting becomes NotYetReceived; 0: never
}

// CheckData checks the extended data of a command against maxData.
func CheckData(data string, maxData int) Refusal {
	if len(data) > maxData {
		return refuse(DataTooLarge, fmt.Sprintf("%d bytes, at most %d", len(data), maxData))
	}
	return Refusal{}
}

// CheckAction checks the extended data and device of a member's own
// action.
func CheckAction(data, device string, maxData int) Refusal {
	if r := CheckData(data, maxData); r.Refused() {
		return r
	}
	if !ValidDevice(device) {
		return refuse(InvalidArgument, "invalid device ID "+QuoteID(device))
	}
	return Refusal{}
}

// checkPush checks a command's push settings against maxData.
func checkPush(p *events.Push, maxData int) Refusal {
	if !ValidPush(p, maxData) {
		return refuse(InvalidArgument, fmt.Sprintf("push fields over %d bytes together", maxData))
	}
	return Refusal{}
}

// checkInviteeIDs checks that every entry of a list of invitees is a
// well-formed user ID.
func checkInviteeIDs(list []string) Refusal {
	for _, u := range list {
		if !ValidID(u) {
			return refuse(InvalidUser, "invalid invitee ID "+QuoteID(u))
		}
	}
	return Refusal{}
}

// listedTwice is the refusal of a list that names u twice.
func listedTwice(u string) Refusal {
	return refuse(DuplicateInvitee, QuoteID(u)+" is listed twice")
}

// firstDuplicate returns the first entry of list that appears earlier in it.
func firstDuplicate(list []string) (string, bool) {
	if len(list) <= 16 {
		for i, u := range list {
			for _, v := range list[:i] {
				if u == v {
					return u, true
				}
			}
		}
		return "", false
	}
	seen := make(map[string]struct{}, len(list))
	for _, u := range list {
		if _, ok := seen[u]; ok {
			return u, true
		}
		seen[u] = struct{}{}
	}
	return "", false
}

// InviteArgs are the arguments of an Invite or a CallingInvite that its
// checks read.
type InviteArgs struct {
	User    string        // the acting user
	List    []string      // the invitees
	Timeout time.Duration // as given
	Default time.Duration // what a zero Timeout means; 0: the call's, before the call is looked up
	Data    string        // an Invite's extended data
	Push    *events.Push
	Mode    events.Mode // an Invite's mode
	CallID  string      // an Invite's host-chosen call ID ("": none)
}

// CheckInvite runs the checks of an Invite or a CallingInvite on a, in the
// order of RULES.md §2 ("Which error wins"), and returns the timeout the
// invitations get. It is the one place these rules are written: the
// driver runs it under its lock, and the same call without the state
// decides beforehand whether Options.Admit is to be asked at all (H7).
//
// c is the call a CallingInvite adds to (and a.Default its timeout); the
// driver has checked the call's existence and mode, and CheckCallingInvite
// the acting user's state, before, as the order says. With c, the checks
// of the list against the call's members run at their place (a listed
// user who is its caller, pending or Accepted; the members ever listed
// against MaxInvitees). Without c — an Invite, or a CallingInvite checked
// before the lock — only the checks that need no state run: the count is
// the list's own, which the call's can only exceed (once the list passes
// the checks before the count, every entry is a distinct invitee of the
// call, old or new), and a CallingInvite's zero timeout, the call's,
// passes. So a refusal without c means the command fails, though under
// the lock a check of the state that comes earlier in the order may be
// the one that wins.
func CheckInvite(a *InviteArgs, c *Call, lim *Limits) (time.Duration, Refusal) {
	if !ValidID(a.User) {
		return 0, refuse(InvalidUser, "")
	}
	if len(a.List) == 0 {
		return 0, refuse(NoInvitees, "")
	}
	if r := checkInviteeIDs(a.List); r.Refused() {
		return 0, r
	}
	for _, u := range a.List {
		if u == a.User {
			return 0, refuse(SelfInvite, "")
		}
	}
	if u, ok := firstDuplicate(a.List); ok {
		return 0, listedTwice(u)
	}
	n := len(a.List)
	if c != nil {
		added, r := c.listed(a.List)
		if r.Refused() {
			return 0, r
		}
		n = len(c.Members()) - 1 + added
	}
	if n > lim.MaxInvitees {
		return 0, refuse(TooManyInvitees, fmt.Sprintf("%d invitees, at most %d", n, lim.MaxInvitees))
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = a.Default // still zero: the call's, checked with the call
	}
	if timeout != 0 && (timeout < MinTimeout || timeout > lim.MaxTimeout) {
		return 0, refuse(InvalidTimeout, fmt.Sprintf("%v is outside [%v, %v]", a.Timeout, MinTimeout, lim.MaxTimeout))
	}
	if r := CheckData(a.Data, lim.MaxData); r.Refused() {
		return 0, r
	}
	if r := checkPush(a.Push, lim.MaxData); r.Refused() {
		return 0, r
	}
	if a.Mode != events.General && a.Mode != events.Advanced {
		return 0, refuse(InvalidArgument, "unknown mode "+a.Mode.String())
	}
	if a.CallID != "" && !ValidID(a.CallID) {
		return 0, refuse(InvalidCallID, "")
	}
	return timeout, Refusal{}
}
