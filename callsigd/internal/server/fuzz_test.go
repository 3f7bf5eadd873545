package server

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/clock"
	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// replyCodes are the codes a reply's error may carry: the call package's
// (call.Code) and the server's own. "internal", the code of an error that
// carries none, is not among them: every error a request can meet has one.
var replyCodes = func() map[string]bool {
	m := map[string]bool{CodeBadRequest: true}
	for _, err := range []error{
		call.ErrInvalidOption, call.ErrInvalidUser, call.ErrInvalidCallID, call.ErrInvalidArgument,
		call.ErrNoInvitees, call.ErrTooManyInvitees, call.ErrDuplicateInvitee, call.ErrSelfInvite,
		call.ErrInvalidTimeout, call.ErrDataTooLarge, call.ErrCallExists, call.ErrCallNotFound,
		call.ErrNotInviter, call.ErrNotInvitee, call.ErrNotPending, call.ErrAlreadyAccepted,
		call.ErrWrongMode, call.ErrJournal, call.ErrNotAccepted, call.ErrOverloaded, call.ErrNotOnline,
	} {
		m[call.Code(err)] = true
	}
	return m
}()

// FuzzRequest feeds a connection's handler the frames of one input, one
// a line (at most maxFuzzFrames), as a client could send them, on a server
// of its own whose clock moves a second a frame: so an input reproduces
// alone, and its later frames act on the calls its earlier ones made.
// Every frame gets exactly one reply, and the connection stays open; the
// reply is a result or an error, never both; an error has a known code
// and a message; the reply echoes the request's id when the frame is a
// JSON object whose member named exactly "id" is a string, and carries
// none otherwise. The seeds run every op, with arguments right and wrong,
// alone and in sequences.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		`{"type":"request","id":"1","op":"invite","invitees":["bob"],"timeout_ms":30000,"data":"hi","push":{"title":"t"}}`,
		`{"type":"request","id":"2","op":"invite","invitees":["bob","carol"],"mode":"Advanced","call_id":"c1"}`,
		`{"type":"request","id":"3","op":"cancel","call_id":"c1","invitees":[]}`,
		`{"type":"request","id":"4","op":"accept","call_id":"c1","data":"ok"}`,
		`{"type":"request","id":"5","op":"reject","call_id":"call-1"}`,
		`{"type":"request","id":"6","op":"calling_invite","call_id":"c1","invitees":["dave"],"timeout_ms":1}`,
		`{"type":"request","id":"7","op":"join","call_id":"c1"}`,
		`{"type":"request","id":"8","op":"quit","call_id":"c1"}`,
		`{"type":"request","id":"9","op":"end","call_id":"c1","data":"bye"}`,
		`{"type":"request","id":"10","op":"call","call_id":"c1"}`,
		`{"type":"request","id":"11","op":"history","count":2,"cursor":"x"}`,
		`{"type":"request","id":"12","op":"heartbeat"}`,
		`{"type":"request","id":13,"op":"heartbeat"}`,
		`{"type":"request","id":"14","op":"invite","invitees":["alice"],"timeout_ms":9223372036854775807}`,
		`{"type":"request","id":"15","op":"invite","invitees":["b\u200bob"],"mode":"Sideways"}`,
		`{"type":"request","id":"16","op":"invite","invitees":null,"timeout_ms":-1}`,
		`{"type":"request","id":"17","op":"history","count":-1}`,
		`{"type":"reply","id":"18"}`,
		`{"type":"request","ID":"22","op":"heartbeat"}`,
		`{"type":"request","id":"23","Id":"24","op":"heartbeat"}`,
		"{\"type\":\"request\",\"id\":\"25\",\"op\":\"invite\",\"invitees\":[\"b\xffob\"]}",
		`{"type":"request","ID":"26","op":5}`,
		`{"type":"request","id":"21","op":"invite","timeout_ms":"soon"}`,
		`{"id":"19","id":"20","type":"request","op":"dance"}`,
		`{not json`, `[]`, `null`, `"request"`, ``,
		// Sequences: later frames on the calls earlier ones made.
		`{"type":"request","id":"a","op":"invite","invitees":["bob"],"call_id":"c1"}` + "\n" +
			`{"type":"request","id":"b","op":"call","call_id":"c1"}` + "\n" +
			`{"type":"request","id":"c","op":"cancel","call_id":"c1"}` + "\n" +
			`{"type":"request","id":"d","op":"history","count":5}`,
		`{"type":"request","id":"a","op":"invite","invitees":["bob","carol"],"mode":"Advanced","call_id":"c2"}` + "\n" +
			`{"type":"request","id":"b","op":"calling_invite","call_id":"c2","invitees":["dave"]}` + "\n" +
			`{"type":"request","id":"c","op":"quit","call_id":"c2"}` + "\n" +
			`{"type":"request","id":"d","op":"join","call_id":"c2"}` + "\n" +
			`{"type":"request","id":"e","op":"end","call_id":"c2"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		s, clk := newFuzzServer(t)
		c := s.newConn(nil, "alice", "web") // handle never reaches the WebSocket: replies go to c.out
		frames := bytes.Split(input, []byte("\n"))
		for _, frame := range frames[:min(len(frames), maxFuzzFrames)] {
			checkReply(t, c, frame)
			clk.Advance(time.Second) // let calls ring out
		}
	})
}

// maxFuzzFrames bounds the frames of one fuzz input.
const maxFuzzFrames = 16

// newFuzzServer returns a server on a manual clock, with no rate limit and
// alice, bob and carol online on device web; it is shut down at the end of
// the test.
func newFuzzServer(t *testing.T) (*Server, *clock.Manual) {
	clk := clock.NewManual(start)
	a, err := auth.New(testKey, clk)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		Options: call.Options{NewID: calltest.IDs("call-")}, Clock: clk, Auth: a, Dev: true,
		Pusher: newFakePusher(), Logger: testLogger(), Limits: Limits{Rate: rate.Inf},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	for _, u := range []string{"alice", "bob", "carol"} {
		if err := s.reg.Login(u, "web"); err != nil {
			t.Fatal(err)
		}
	}
	return s, clk
}

// checkReply hands frame to c and checks its one reply (see FuzzRequest).
func checkReply(t *testing.T, c *conn, frame []byte) {
	t.Helper()
	c.handle(websocket.MessageText, frame)
	if c.ctx.Err() != nil || c.closing.Load() {
		t.Fatalf("%q closed the connection", frame)
	}
	var out []byte
	select {
	case out = <-c.out:
	default:
		t.Fatalf("%q: no reply", frame)
	}
	select {
	case more := <-c.out:
		t.Fatalf("%q: a second frame %s", frame, more)
	default:
	}
	var r struct {
		Type   string           `json:"type"`
		ID     *json.RawMessage `json:"id"`
		Result json.RawMessage  `json:"result"`
		Error  *replyError      `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Type != "reply" {
		t.Fatalf("%q: reply %s is not a reply frame (%v)", frame, out, err)
	}
	if (r.Result == nil) == (r.Error == nil) {
		t.Fatalf("%q: reply %s must have a result or an error, not both or neither", frame, out)
	}
	if r.Error != nil && (!replyCodes[r.Error.Code] || r.Error.Message == "") {
		t.Fatalf("%q: error %+v: unknown code or no message", frame, *r.Error)
	}
	var sent map[string]json.RawMessage // the members by their exact names, as the server reads them
	var wantID *string
	if json.Unmarshal(frame, &sent) == nil {
		var id string
		if raw := bytes.TrimSpace(sent["id"]); len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &id) == nil {
			wantID = &id
		}
	}
	var gotID *string
	if r.ID != nil {
		var id string
		if err := json.Unmarshal(*r.ID, &id); err != nil {
			t.Fatalf("%q: reply id %s is not a string", frame, *r.ID)
		}
		gotID = &id
	}
	if (wantID == nil) != (gotID == nil) || wantID != nil && *wantID != *gotID {
		t.Fatalf("%q: reply id %v, want %v", frame, deref(gotID), deref(wantID))
	}
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
