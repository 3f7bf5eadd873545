package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// The error codes of replies that are not a call.Code.
const (
	CodeBadRequest  = "bad_request"  // the message could not be read, or names no known op
	CodeRateLimited = "rate_limited" // the connection sent more requests than its rate allows; nothing was done
)

// request is every field a request may carry (PROTOCOL.md, Requests and
// replies). Fields an op does not take are ignored, as unknown fields are,
// so that a client may send what a later version of the protocol adds.
type request struct {
	Type      string          `json:"type"`
	ID        json.RawMessage `json:"id"`
	Op        string          `json:"op"`
	CallID    string          `json:"call_id"`
	Invitees  []string        `json:"invitees"`
	TimeoutMS int64           `json:"timeout_ms"`
	Mode      events.Mode     `json:"mode"` // by name; absent: General
	Data      string          `json:"data"`
	Push      *events.Push    `json:"push"`
	Count     int             `json:"count"`
	Cursor    string          `json:"cursor"`
}

// reply is a reply frame: result or error.
type reply struct {
	Type   string          `json:"type"` // "reply"
	ID     json.RawMessage `json:"id,omitempty"`
	Result any             `json:"result,omitempty"`
	Error  *replyError     `json:"error,omitempty"`
}

type replyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// hello is the server's first frame on a connection.
type hello struct {
	Type       string `json:"type"` // "hello"
	User       string `json:"user"`
	Device     string `json:"device"`
	ServerTime string `json:"server_time"`
}

// eventFrame is an event as a connection gets it: the Event's own JSON
// after a "type" member. To and Offline are cleared before encoding, so
// that they are left out: the recipient is the connection's user, and an
// Offline event goes to the push path, never to a connection.
type eventFrame struct {
	Type string `json:"type"` // "event"
	events.Event
}

// encodeEvent returns e's frame, without e.To and e.Offline.
func encodeEvent(e events.Event) ([]byte, error) {
	e.To, e.Offline = "", false
	return json.Marshal(eventFrame{"event", e})
}

// The results of the ops whose result is not a type of package call.
type (
	cancelResult struct {
		Failed []string `json:"failed,omitempty"`
	}
	historyResult struct {
		Calls []call.Info `json:"calls"`
		Next  string      `json:"next,omitempty"`
	}
	empty struct{}
)

// badRequest is a request the server could not read: its reply has code
// bad_request, and the id when one could be read.
type badRequest struct {
	id  json.RawMessage
	msg string
}

func (e *badRequest) Error() string { return e.msg }

// parseRequest reads one text frame as a request.
func parseRequest(b []byte) (*request, error) {
	if !utf8.Valid(b) {
		// A text frame is UTF-8 (RFC 6455): encoding/json would read the
		// bad bytes as U+FFFD and so act on IDs and data the client never
		// sent.
		return nil, &badRequest{id: refusedID(b), msg: "malformed request: not valid UTF-8"}
	}
	var r request
	exact, dup := exactMembers(b)
	if err := json.Unmarshal(exact, &r); err != nil {
		return nil, &badRequest{id: refusedID(b), msg: "malformed request: " + jsonError(err)}
	}
	id := stringID(r.ID)
	switch {
	case dup != "": // with two ids, the last is echoed, as refusedID does
		return nil, &badRequest{id: id, msg: fmt.Sprintf("malformed request: two members named %q", dup)}
	case r.ID != nil && id == nil:
		return nil, &badRequest{msg: "id must be a string"}
	case r.Type != "request":
		return nil, &badRequest{id: id, msg: fmt.Sprintf("type %q is not \"request\"", r.Type)}
	case r.Op == "":
		return nil, &badRequest{id: id, msg: "no op"}
	case r.TimeoutMS < 0 || r.TimeoutMS > math.MaxInt64/int64(time.Millisecond):
		return nil, &badRequest{id: id, msg: fmt.Sprintf("timeout_ms %d is out of range", r.TimeoutMS)}
	}
	r.ID = id
	return &r, nil
}

// The members of a request, and of its push, by their exact names.
var (
	requestMembers = []string{"type", "id", "op", "call_id", "invitees", "timeout_ms", "mode", "data", "push", "count", "cursor"}
	pushMembers    = []string{"title", "content", "payload"}
)

// exactMembers returns b, a request, without its members, or its push's,
// whose names are those of request's fields (or events.Push's) only when
// case is ignored: encoding/json would read "Invitees" or "OP" as
// "invitees" or "op", over the member of that name if it came later, where
// PROTOCOL.md names the members and an unknown one is ignored. Names are
// compared as JSON reads them, escapes undone: "\u0074ype" is "type", and
// "\u004fp" is "Op". b is returned as it is when it has none, or is not
// an object (Unmarshal then says why).
//
// Only a request that has such a name pays for a second decoding:
// scanNames, which reads the names alone, picks those out first.
//
// dup is the name of a member that b has twice by its exact name (escapes
// undone), at its top level or in its push's object: encoding/json would
// keep the last one, or merge two push objects, where another reader of
// the same bytes may keep the first; the request is refused instead.
func exactMembers(b []byte) (exact []byte, dup string) {
	folded, dup := scanNames(b)
	if !folded {
		return b, dup
	}
	return dropFoldedMembers(b), dup
}

// dropFoldedMembers is exactMembers without scanNames' first look: it
// decodes b and encodes it again without the members to drop, if it has
// any.
func dropFoldedMembers(b []byte) []byte {
	var members map[string]json.RawMessage
	if json.Unmarshal(b, &members) != nil {
		return b
	}
	changed := dropFolded(members, requestMembers)
	if raw, ok := members["push"]; ok {
		var push map[string]json.RawMessage
		if json.Unmarshal(raw, &push) == nil && dropFolded(push, pushMembers) {
			members["push"], _ = json.Marshal(push)
			changed = true
		}
	}
	if !changed {
		return b
	}
	out, err := json.Marshal(members)
	if err != nil {
		return b
	}
	return out
}

// dropFolded deletes from m the members whose name is one of names in
// another case, and reports whether it deleted any.
func dropFolded(m map[string]json.RawMessage, names []string) bool {
	dropped := false
	for k := range m {
		if folded(k, names) {
			delete(m, k)
			dropped = true
		}
	}
	return dropped
}

// folded reports whether name is one of names in another case only.
func folded(name string, names []string) bool {
	return !slices.Contains(names, name) &&
		slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) })
}

// scanNames reads the member names of b, a JSON object, at its top level
// and in the object of every member named "push", and reports whether one
// of them is one of requestMembers (or pushMembers) in another case, which
// dropFoldedMembers drops, and the first of requestMembers (or
// pushMembers) that stands twice at one level, "" if none. It reads the
// names alone, not the values (a request's data may hold any text), and
// allocates nothing unless a name has an escape, an upper-case letter or
// a byte of a multi-byte character. folded is only a reason to decode:
// on bytes that are not JSON its answers mean nothing, and Unmarshal
// refuses them.
func scanNames(b []byte) (folded bool, dup string) {
	return scanObjectNames(b, requestMembers, true)
}

// scanObjectNames is scanNames for an object whose members are names,
// and, with push, whose member "push" is a push.
func scanObjectNames(b []byte, names []string, push bool) (folded bool, dup string) {
	sc := nameScanner{b: b}
	sc.space()
	if sc.peek() == '{' {
		sc.object(names, push)
	}
	return sc.folded, sc.dup
}

// nameScanner reads the member names of a JSON text and skips its values.
// It stops at the end of b whatever the bytes: each step moves on or ends
// the scan.
type nameScanner struct {
	b      []byte
	i      int
	folded bool   // a name is one of the members' in another case
	dup    string // the first member found twice at one level
}

// peek returns the byte at the scanner, or 0 at the end.
func (sc *nameScanner) peek() byte {
	if sc.i < len(sc.b) {
		return sc.b[sc.i]
	}
	return 0
}

// space skips JSON whitespace.
func (sc *nameScanner) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// object reads the object at the scanner, from its opening brace to its
// closing one, noting in sc whether one of its names is one of names in
// another case and whether one of names stands twice; with push, it does
// the same in the object of a member named "push", with pushMembers. It
// stops early on bytes that are not JSON.
func (sc *nameScanner) object(names []string, push bool) {
	sc.i++ // '{'
	sc.space()
	if sc.peek() == '}' {
		sc.i++
		return
	}
	var seen uint64 // by index in names
	for {
		if sc.peek() != '"' {
			return // not JSON
		}
		start := sc.i
		if !sc.str() {
			return
		}
		name := sc.b[start:sc.i] // quoted
		sc.space()
		if sc.peek() != ':' {
			return
		}
		sc.i++
		sc.space()
		k, fold := memberName(name, names)
		sc.folded = sc.folded || fold
		if k >= 0 {
			if seen&(1<<k) != 0 && sc.dup == "" {
				sc.dup = names[k]
			}
			seen |= 1 << k
		}
		if push && k >= 0 && names[k] == "push" && sc.peek() == '{' {
			sc.object(pushMembers, false)
		} else {
			sc.value()
		}
		sc.space()
		switch sc.peek() {
		case ',':
			sc.i++
			sc.space()
		default: // '}', or not JSON
			sc.i++
			return
		}
	}
}

// memberName reads quoted, a member's name as it stands in the text, and
// returns its index in names if it is one of them exactly (-1 if not),
// and whether it is one of them in another case. A name with no escape,
// no upper-case letter and no byte of a multi-byte character is
// lower-case ASCII: it is one of names, all lower-case ASCII, only as it
// is.
func memberName(quoted []byte, names []string) (k int, fold bool) {
	raw := quoted[1 : len(quoted)-1]
	plain := true
	for _, c := range raw {
		if 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		for k, n := range names {
			if string(raw) == n {
				return k, false
			}
		}
		return -1, false
	}
	name := string(raw)
	if bytes.IndexByte(raw, '\\') >= 0 {
		if json.Unmarshal(quoted, &name) != nil {
			return -1, true // not JSON: a reason to decode, which says so
		}
	}
	return slices.Index(names, name), folded(name, names)
}

// str skips the string at the scanner, its opening quote, and reports
// whether it ended.
func (sc *nameScanner) str() bool {
	sc.i++ // '"'
	for {
		rest := sc.b[sc.i:]
		q := bytes.IndexByte(rest, '"')
		if q < 0 {
			sc.i = len(sc.b)
			return false
		}
		e := bytes.IndexByte(rest[:q], '\\')
		if e < 0 {
			sc.i += q + 1
			return true
		}
		sc.i += e + 2 // the backslash and the byte it escapes
		if sc.i > len(sc.b) {
			sc.i = len(sc.b)
			return false
		}
	}
}

// value skips the value at the scanner: a string, an object or array
// with all it holds, or a literal or number.
func (sc *nameScanner) value() {
	switch sc.peek() {
	case '"':
		sc.str()
	case '{', '[':
		depth := 0
		for sc.i < len(sc.b) {
			switch sc.b[sc.i] {
			case '"':
				if !sc.str() {
					return
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			sc.i++
			if depth == 0 {
				return
			}
		}
	default:
		for sc.i < len(sc.b) {
			switch sc.b[sc.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			sc.i++
		}
	}
}

// refusedID returns the id of b, a frame that cannot be read as a
// request, so that the client can tell which request was refused: the
// member named exactly "id" (the last, as for a request read), when b is
// an object and that member a string; nil otherwise. It is written back
// as JSON reads it, a U+FFFD for each byte of b that is not UTF-8, so that
// the reply is valid UTF-8.
func refusedID(b []byte) json.RawMessage {
	var members map[string]json.RawMessage
	if json.Unmarshal(b, &members) != nil {
		return nil
	}
	id := stringID(members["id"])
	if id == nil {
		return nil
	}
	var s string
	_ = json.Unmarshal(id, &s) // a string: stringID checked
	id, _ = json.Marshal(s)
	return id
}

// stringID returns raw if it is a JSON string, else nil.
func stringID(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return raw
}

// jsonError describes a decoding error without echoing the client's bytes
// at length.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q: %s is not a %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

// exec runs one request against the Registry as the connection's user
// and device, and returns its result or error. An unknown op is a
// badRequest.
func (s *Server) exec(c *conn, r *request) (any, error) {
	reg := s.reg
	timeout := time.Duration(r.TimeoutMS) * time.Millisecond
	switch r.Op {
	case "invite":
		return reg.Invite(c.user, r.Invitees, call.InviteConfig{
			Timeout: timeout, Mode: r.Mode, ExtendedData: r.Data, Push: r.Push, CallID: r.CallID,
		})
	case "cancel":
		failed, err := reg.Cancel(c.user, r.CallID, r.Invitees, call.CancelConfig{ExtendedData: r.Data, Push: r.Push})
		return cancelResult{failed}, err
	case "accept":
		return empty{}, reg.Accept(c.user, r.CallID, call.AcceptConfig{ExtendedData: r.Data, Device: c.device})
	case "reject":
		return empty{}, reg.Reject(c.user, r.CallID, call.RejectConfig{ExtendedData: r.Data, Device: c.device})
	case "calling_invite":
		return reg.CallingInvite(c.user, r.CallID, r.Invitees, call.CallingInviteConfig{Timeout: timeout, Push: r.Push})
	case "join":
		return reg.Join(c.user, r.CallID, call.JoinConfig{ExtendedData: r.Data, Device: c.device})
	case "quit":
		return empty{}, reg.Quit(c.user, r.CallID, call.QuitConfig{ExtendedData: r.Data, Device: c.device})
	case "end":
		return empty{}, reg.End(c.user, r.CallID, call.EndConfig{ExtendedData: r.Data, Device: c.device})
	case "call":
		if err := s.readBarrier(); err != nil {
			return nil, err
		}
		// G10: a call is known only to its members; to anyone else it is
		// not found, as every command on it is.
		info, ok := reg.Call(r.CallID)
		if !ok || !slices.ContainsFunc(info.Members, func(m events.Member) bool { return m.User == c.user }) {
			return nil, &call.Error{Op: "call", CallID: r.CallID, User: c.user, Err: call.ErrCallNotFound}
		}
		return info, nil
	case "history":
		if err := s.readBarrier(); err != nil {
			return nil, err
		}
		calls, next, err := reg.History(c.user, r.Count, r.Cursor)
		return historyResult{calls, next}, err
	case "heartbeat":
		err := reg.Heartbeat(c.user, c.device) // nil for a device not online
		if err == nil && !slices.Contains(reg.Devices(c.user), c.device) {
			err = s.relogin(c)
		}
		if err != nil {
			return nil, err // it did not count (D1): the client sends another
		}
		c.beat()
		return empty{}, nil
	}
	return nil, &badRequest{id: r.ID, msg: fmt.Sprintf("unknown op %q", r.Op)}
}

// readBarrier is Config.ReadBarrier, if any: the queries read after it
// see at least every command committed before it.
func (s *Server) readBarrier() error {
	if s.cfg.ReadBarrier == nil {
		return nil
	}
	return s.cfg.ReadBarrier()
}

// encodeReply returns the reply frame for a request with id: its result,
// or its error's code and message.
func encodeReply(id json.RawMessage, result any, err error) ([]byte, string) {
	rp := reply{Type: "reply", ID: id}
	code := "ok"
	if err != nil {
		var br *badRequest
		switch {
		case errors.As(err, &br):
			code = CodeBadRequest
		case errors.Is(err, errRateLimited):
			code = CodeRateLimited
		default:
			code = call.Code(err)
		}
		rp.Error = &replyError{Code: code, Message: err.Error()}
	} else {
		rp.Result = result
	}
	b, merr := json.Marshal(rp)
	if merr != nil { // a result that JSON cannot carry (a time past year 9999): say so rather than drop the reply
		b, _ = json.Marshal(reply{Type: "reply", ID: id, Error: &replyError{Code: "internal", Message: "cannot encode the result: " + merr.Error()}})
		code = "internal"
	}
	return b, code
}

// errRateLimited is the error of a request refused by the rate limit.
var errRateLimited = errors.New("rate limit exceeded: nothing was done, slow down")
