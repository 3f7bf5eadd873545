package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/events"
)

// A command that was done but whose result JSON cannot carry (a time past
// the year 9999) is answered with the code internal and the request's id,
// never with a dropped reply or a partial frame; a result JSON can carry
// is answered ok.
func TestUnencodableResultIsInternal(t *testing.T) {
	id := json.RawMessage(`"r7"`)
	far := call.Info{CallID: "c1", Caller: "alice", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	b, code := encodeReply(id, far, nil)
	var got struct {
		Type   string          `json:"type"`
		ID     string          `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *replyError     `json:"error"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("reply %s: %v", b, err)
	}
	if code != "internal" || got.Type != "reply" || got.ID != "r7" || got.Result != nil || got.Error == nil || got.Error.Code != "internal" {
		t.Fatalf("code %q, reply %s: want an internal error reply to r7", code, b)
	}
	near := far
	near.CreatedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got.Error = nil
	if b, code := encodeReply(id, near, nil); code != "ok" || json.Unmarshal(b, &got) != nil || got.Error != nil {
		t.Fatalf("code %q, reply %s: want ok", code, b)
	}
}

// nameCases are requests, and whether scanNames finds in them a member
// name to drop: only a name counts, at the top level or in the push's
// object, never the text of a value or a name nested deeper.
var nameCases = []struct {
	frame  string
	folded bool
}{
	{`{"type":"request","id":"1","op":"invite","invitees":["bob"],"data":"Hello"}`, false},
	{`{"type":"request","id":"2","op":"invite","data":"ÜBER \u0041 \\ \"Op\":\"end\"","cursor":"X"}`, false},
	{`{"type":"request","id":"3","op":"invite","push":{"title":"Hello","content":"CALL","payload":"{\"Title\":1}"}}`, false},
	{`{"type":"request","id":"4","op":"invite","extra":{"Op":"end","push":{"Title":"x"}},"list":[{"OP":1}]}`, false},
	{`{"type":"request","id":"5","X-Trace":"T","Ünknown":1,"count":2,"timeout_ms":-1.5e3,"mode":null,"push":true}`, false},
	{`{"\u0074ype":"request","id":"6","\u006fp":"heartbeat"}`, false},
	{` { "type" : "request" , "id" : "7" , "push" : { "title" : "t" } } `, false},
	{`{"type":"request","id":"8","push":"Title","Extra":{"Title":"x"}}`, false},
	{`{"type":"request","id":"9","OP":"heartbeat"}`, true},
	{`{"type":"request","id":"10","op":"heartbeat","\u004fp":"end"}`, true},
	{`{"type":"request","id":"11","op":"invite","push":{"title":"t","Content":"x"}}`, true},
	{`{"type":"request","id":"12","op":"invite","\u0070ush":{"title":"t","\u0043ontent":"x"}}`, true},
	{`{"type":"request","id":"13","op":"invite","Push":{"title":"t"}}`, true},
	{`{"type":"request","id":"14","op":"invite","inviteeſ":["carol"]}`, true}, // ſ folds to s
	{` { "type" : "request" , "id" : "15" , "push" : { "PAYLOAD" : "p" } } `, true},
	{`[{"OP":1}]`, false},
	{`"OP"`, false},
	{`{"OP":`, true},
	{`{"op":"x","push":{"Title"`, false},
	{`{"op\`, false},
	{``, false},
}

// A request's member names alone decide whether it is decoded a second
// time (scanNames): its values' text does not, nor do names nested
// deeper than its push's. What exactMembers gives is what the decoding
// it spares would give.
func TestFoldedNameReadsNamesOnly(t *testing.T) {
	for _, tc := range nameCases {
		b := []byte(tc.frame)
		if got, _ := scanNames(b); got != tc.folded {
			t.Errorf("scanNames(%s) folded %v, want %v", b, got, tc.folded)
		}
		if got, want := first(exactMembers(b)), dropFoldedMembers(b); !bytes.Equal(got, want) {
			t.Errorf("exactMembers(%s) = %s, want %s", b, got, want)
		}
	}
	hello := []byte(nameCases[0].frame)
	if n := testing.AllocsPerRun(10, func() { exactMembers(hello) }); n != 0 {
		t.Errorf("exactMembers(%s) allocates %v times, want none: it decoded the request", hello, n)
	}
}

// first returns exactMembers' bytes.
func first(b []byte, _ string) []byte { return b }

// FuzzExactMembers checks that scanNames misses no name that
// dropFoldedMembers drops: exactMembers, which skips the decoding when
// scanNames finds none, gives the same bytes as the decoding.
func FuzzExactMembers(f *testing.F) {
	for _, tc := range nameCases {
		f.Add([]byte(tc.frame))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := first(exactMembers(b)), dropFoldedMembers(b); !bytes.Equal(got, want) {
			t.Fatalf("exactMembers(%q) = %q, want %q", b, got, want)
		}
	})
}

// A request whose values hold upper-case letters, escapes and characters
// beyond ASCII, under names that are exact, is read as it was sent: its
// data and push reach the invitee unchanged.
func TestUpperCaseDataAccepted(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.Send(`{"type":"request","id":"d1","op":"invite","invitees":["bob"],"data":"Hello \u0042ob, ÜBER \"Op\"","push":{"title":"Hi","content":"CALL"}}`)
	if r := alice.ReplyTo("d1"); r.Error != nil {
		t.Fatalf("d1: %+v", r.Error)
	}
	ev := bob.WaitEvents(1)[0]
	if ev.Data != `Hello Bob, ÜBER "Op"` || ev.Push == nil || *ev.Push != (events.Push{Title: "Hi", Content: "CALL"}) {
		t.Fatalf("bob's invitation has data %q and push %+v", ev.Data, ev.Push)
	}
}

// In a push, as at the top level, a member whose name is a field's in
// another case, escaped or not, is ignored; an escaped name that is a
// field's exactly is that field ("\u0074ype" is "type", "\u0070ush" is
// "push").
func TestFoldedPushNamesIgnored(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.Send(`{"\u0074ype":"request","id":"p1","op":"invite","invitees":["bob"],"push":{"title":"t","Content":"x","payload":"q","PAYLOAD":"p"}}`)
	if r := alice.ReplyTo("p1"); r.Error != nil {
		t.Fatalf("p1: %+v", r.Error)
	}
	if ev := bob.WaitEvents(1)[0]; ev.Push == nil || *ev.Push != (events.Push{Title: "t", Payload: "q"}) {
		t.Fatalf("bob's first invitation has push %+v, want title t and payload q alone", ev.Push)
	}
	alice.Send(`{"type":"request","id":"p2","op":"invite","invitees":["bob"],"\u0070ush":{"\u0074itle":"t","\u0043ontent":"x"}}`)
	if r := alice.ReplyTo("p2"); r.Error != nil {
		t.Fatalf("p2: %+v", r.Error)
	}
	if ev := bob.WaitEvents(2)[1]; ev.Push == nil || *ev.Push != (events.Push{Title: "t"}) {
		t.Fatalf("bob's second invitation has push %+v, want title t alone", ev.Push)
	}
}

// A request that has a member twice by its exact name, at its top level
// or in its push, is refused as malformed, whatever the values, and
// nothing is done: encoding/json would keep the last, or merge two push
// objects, where another reader of the same bytes may keep the first. A
// member the server does not read may stand twice; a miscased one is
// dropped, not a duplicate. The reply echoes the last id.
func TestDuplicateMembersRefused(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	refused := map[string]string{
		`{"type":"request","id":"x1","op":"invite","invitees":["bob"],"op":"cancel"}`:                               "op",
		`{"type":"request","id":"x2","op":"invite","invitees":["bob"],"push":{"title":"t"},"push":{"content":"c"}}`: "push",
		`{"type":"request","id":"x3","op":"invite","invitees":["bob"],"push":{"title":"t","title":"u"}}`:            "title",
		`{"type":"request","id":"x4","op":"invite","invitees":["bob"],"\u006fp":"invite"}`:                          "op",
		`{"type":"request","id":"x5","op":"invite","invitees":["bob"],"data":"a","data":"a"}`:                       "data",
		`{"type":"request","id":"x0","id":"x6","op":"invite","invitees":["bob"]}`:                                   "id",
	}
	for frame, name := range refused {
		if _, dup := scanNames([]byte(frame)); dup != name {
			t.Errorf("scanNames(%s) finds %q twice, want %q", frame, dup, name)
		}
		var id struct{ ID string }
		_ = json.Unmarshal([]byte(frame), &id) // the last id
		alice.Send(frame)
		r := alice.ReplyTo(id.ID)
		if r.Error == nil || r.Error.Code != "bad_request" || !strings.Contains(r.Error.Message, `two members named "`+name+`"`) {
			t.Errorf("%s: reply %+v, want bad_request naming %q", frame, r, name)
		}
	}
	taken := []string{
		`{"type":"request","id":"y1","op":"invite","invitees":["bob"],"extra":1,"extra":2}`,
		`{"type":"request","id":"y2","op":"heartbeat","Op":"invite","OP":"end"}`,
		`{"type":"request","id":"y3","op":"heartbeat","push":{"title":"t","Title":"u","x":{"title":1,"title":2}}}`,
	}
	for _, frame := range taken {
		if _, dup := scanNames([]byte(frame)); dup != "" {
			t.Errorf("scanNames(%s) finds %q twice, want none", frame, dup)
		}
		var id struct{ ID string }
		_ = json.Unmarshal([]byte(frame), &id)
		alice.Send(frame)
		if r := alice.ReplyTo(id.ID); r.Error != nil {
			t.Errorf("%s: %+v", frame, r.Error)
		}
	}
	// y1's invitation is the one event bob gets: the refused invites did nothing.
	if evs := bob.WaitEvents(1); len(evs) != 1 || evs[0].Kind != events.InvitationReceived {
		t.Fatalf("bob got %+v", evs)
	}
	time.Sleep(50 * time.Millisecond)
	if evs := bob.Events(); len(evs) != 1 {
		t.Fatalf("bob got %d events, want 1: %+v", len(evs), evs)
	}
}
