package call

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/callsig/callsig/events"
)

// The JSON of Info, InviteResult and Failure is what a wire protocol
// carries: the names are the fields' tags (snake_case), empty fields are
// left out, times are RFC 3339 with nanoseconds (a Registry's are UTC) and
// events.Mode and events.Member are as package events encodes them. Two
// fields need an encoding of their own, and so the three types have
// MarshalJSON and UnmarshalJSON methods: a Timeout travels as whole
// milliseconds in "timeout_ms", and a Failure's error as its code and
// message.

// maxMillis is the most milliseconds a time.Duration holds.
const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// millis returns d in whole milliseconds, a sub-millisecond remainder
// dropped (truncated toward zero, as Duration.Milliseconds does).
func millis(d time.Duration) int64 { return d.Milliseconds() }

// fromMillis returns ms milliseconds as a Duration, refusing what a
// Duration cannot hold.
func fromMillis(what string, ms int64) (time.Duration, error) {
	if ms > maxMillis || ms < -maxMillis {
		return 0, fmt.Errorf("callsig: %s: timeout_ms %d out of range: %w", what, ms, ErrInvalidArgument)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// infoJSON is Info as JSON carries it, in Info's order and under its tags
// (TestWireTags holds the two together).
type infoJSON struct {
	CallID       string          `json:"call_id"`
	Caller       string          `json:"caller"`
	Mode         events.Mode     `json:"mode"`
	CreatedAt    time.Time       `json:"created_at,omitzero"`
	Timeout      int64           `json:"timeout_ms,omitempty"`
	ExtendedData string          `json:"data,omitempty"`
	Members      []events.Member `json:"members,omitempty"`
	EndedAt      time.Time       `json:"ended_at,omitzero"`
}

// MarshalJSON encodes i as {"call_id", "caller", "mode", "created_at",
// "timeout_ms", "data", "members", "ended_at"}, empty fields left out.
// Timeout is written in whole milliseconds: a sub-millisecond remainder is
// dropped (truncated toward zero, as time.Duration's Milliseconds does).
// A timeout that came in whole milliseconds, as every timeout a wire
// protocol carries does, and the default Options.DefaultTimeout, come back
// from UnmarshalJSON exactly; so does every other field of an Info that
// Registry.Call or Registry.History returns, but for the limits JSON sets
// on strings (see package events, JSON).
func (i Info) MarshalJSON() ([]byte, error) {
	return json.Marshal(infoJSON{i.CallID, i.Caller, i.Mode, i.CreatedAt, millis(i.Timeout), i.ExtendedData, i.Members, i.EndedAt})
}

// UnmarshalJSON decodes what MarshalJSON encodes. An unknown mode or state
// name, or a timeout_ms that a time.Duration cannot hold, is refused with
// an error (the latter matching ErrInvalidArgument).
func (i *Info) UnmarshalJSON(b []byte) error {
	var w infoJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := fromMillis("info", w.Timeout)
	if err != nil {
		return err
	}
	*i = Info{w.CallID, w.Caller, w.Mode, w.CreatedAt, d, w.ExtendedData, w.Members, w.EndedAt}
	return nil
}

// inviteResultJSON is InviteResult as JSON carries it, in InviteResult's
// order and under its tags.
type inviteResultJSON struct {
	CallID   string    `json:"call_id"`
	Timeout  int64     `json:"timeout_ms,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
	Failed   []Failure `json:"failed,omitempty"`
	Merged   bool      `json:"merged,omitempty"`
}

// MarshalJSON encodes r as {"call_id", "timeout_ms", "deadline", "failed",
// "merged"}, empty fields left out (a result without failures has no
// "failed", one that is not H3's merge no "merged"). Timeout is written in
// whole milliseconds as Info's MarshalJSON writes it; the exact instant
// the invitations time out is Deadline. Each failure is written as
// Failure's MarshalJSON writes it.
func (r InviteResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(inviteResultJSON{r.CallID, millis(r.Timeout), r.Deadline, r.Failed, r.Merged})
}

// UnmarshalJSON decodes what MarshalJSON encodes; see Info's UnmarshalJSON
// for what it refuses.
func (r *InviteResult) UnmarshalJSON(b []byte) error {
	var w inviteResultJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := fromMillis("invite result", w.Timeout)
	if err != nil {
		return err
	}
	*r = InviteResult{w.CallID, d, w.Deadline, w.Failed, w.Merged}
	return nil
}

// failureFields is a Failure as JSON carries it.
type failureFields struct {
	User    string `json:"user"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// MarshalJSON encodes f as {"user", "code", "message"}: the code is
// Code(f.Err), except that an error that carries no code of this package
// nor one of its own (see Code), which is how Options.Admit refuses an
// invitee (H7), gives "refused"; the message is f.Err's. A Failure without
// an error has neither.
//
// A Failure that a Registry rebuilt from a journal or a snapshot (an H4
// retry's result after Recover or Restore) has only the message of the
// host's Admit error (D2), so its code is "refused".
func (f Failure) MarshalJSON() ([]byte, error) {
	w := failureFields{User: f.User}
	if f.Err != nil {
		w.Code, w.Message = codeOf(f.Err), f.Err.Error()
		if w.Code == "" {
			w.Code = codeRefused
		}
		if c, ok := f.Err.(*codedError); ok {
			w.Message = c.msg // as it came, even when empty
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON encodes. The Failure's Err, when
// a code or a message is there, has that message (the code, when the
// message is empty), gives that code to Code
// (a code this package does not know included), and matches the code's
// sentinel with errors.Is where the code is one of this package's.
func (f *Failure) UnmarshalJSON(b []byte) error {
	var w failureFields
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	f.User, f.Err = w.User, nil
	if w.Code != "" || w.Message != "" {
		f.Err = &codedError{code: w.Code, msg: w.Message, sentinel: sentinelOf(w.Code)}
	}
	return nil
}
