package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/callsigd/internal/wstest"
	"github.com/callsig/callsig/events"
	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// Bad tokens get 401 and no WebSocket: missing, malformed, expired,
// wrongly signed, of another algorithm, or naming IDs the Registry would
// refuse.
func TestBadTokens(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	sign := func(c auth.Claims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := jwt.NewNumericDate(start.Add(time.Hour))
	other, _ := auth.New([]byte("another key, another key, another"), e.clk)
	wrongKey, _ := other.Mint("alice", "web", time.Hour)
	expired, _ := e.auth.Mint("alice", "web", time.Second)
	hs384, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp}}).SignedString(testKey)
	e.clk.Advance(2 * time.Second)
	cases := map[string]string{
		"missing":         "",
		"malformed":       "eyJhbGciOi.nope",
		"expired":         expired,
		"wrong signature": wrongKey,
		"HS384":           hs384,
		"no exp":          sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}),
		"no sub":          sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: exp}}),
		"bad user ID":     sign(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "al\nice", ExpiresAt: exp}}),
		"bad device ID":   sign(auth.Claims{Device: strings.Repeat("d", 129), RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp}}),
	}
	for name, tok := range cases {
		ws, resp, err := websocket.Dial(context.Background(), e.wsURL(tok), nil)
		if err == nil {
			ws.CloseNow()
			t.Errorf("%s: a WebSocket was opened", name)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v, response %v; want 401", name, err, resp)
		}
	}
	if n := e.metric(`callsigd_upgrades_refused_total{reason="token"}`); n != float64(len(cases)) {
		t.Fatalf("metrics count %v refused upgrades, want %d", n, len(cases))
	}
	if n := e.metric("callsigd_connections"); n != 0 {
		t.Fatalf("metrics count %v connections", n)
	}
}

// A token's claims are read by their exact names (RFC 7519): a "Sub" or
// "Dev" member, which encoding/json would match to "sub" or "dev", names
// nobody, and an "EXP" is no expiry.
func TestTokenClaimNamesAreExact(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	exp := start.Add(time.Hour).Unix()
	// sign signs payload as it is: the order of its members matters, as
	// encoding/json keeps the last of those that match a field.
	sign := func(payload string) string {
		enc := base64.RawURLEncoding.EncodeToString
		unsigned := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload))
		sig, err := jwt.SigningMethodHS256.Sign(unsigned, testKey)
		if err != nil {
			t.Fatal(err)
		}
		return unsigned + "." + enc(sig)
	}
	opened := []struct {
		payload      string
		user, device string
	}{
		{fmt.Sprintf(`{"sub":"alice","exp":%d,"Sub":"mallory"}`, exp), "alice", ""},
		{fmt.Sprintf(`{"sub":"alice","dev":"web","exp":%d,"SUB":"mallory","DEV":"x"}`, exp), "alice", "web"},
		{fmt.Sprintf(`{"sub":"bob","Dev":"phone","exp":%d}`, exp), "bob", ""},
	}
	for _, tc := range opened {
		c, err := wstest.Dial(t, e.wsURL(sign(tc.payload)), tc.user, tc.device)
		if err != nil {
			t.Fatalf("%s: %v", tc.payload, err)
		}
		if h := c.Hello(); h.User != tc.user || h.Device != tc.device {
			t.Fatalf("%s: the connection is %s/%s, want %s/%s", tc.payload, h.User, h.Device, tc.user, tc.device)
		}
	}
	for _, payload := range []string{
		fmt.Sprintf(`{"Sub":"mallory","exp":%d}`, exp),
		`{"sub":"alice","Exp":4102444800}`,
	} {
		ws, resp, err := websocket.Dial(context.Background(), e.wsURL(sign(payload)), nil)
		if err == nil {
			ws.CloseNow()
			t.Errorf("%s: a WebSocket was opened", payload)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %v, response %v; want 401", payload, err, resp)
		}
	}
}

// Malformed messages and unknown ops get bad_request, with the id when it
// could be read, and the connection stays open.
func TestMalformedMessages(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	c := e.dial("alice", "web")
	cases := []struct{ frame, id string }{
		{`{not json`, ""},
		{`[1,2]`, ""},
		{`"request"`, ""},
		{`{"type":"request","id":"u1","op":"dance"}`, "u1"},
		{`{"type":"request","id":"u2"}`, "u2"},
		{`{"type":"greeting","id":"u3","op":"heartbeat"}`, "u3"},
		{`{"type":"request","id":"u4","op":"invite","timeout_ms":"soon"}`, "u4"},
		{`{"type":"request","id":"u5","op":"invite","invitees":["bob"],"mode":"Sideways"}`, "u5"},
		{`{"type":"request","id":"u6","op":"invite","invitees":["bob"],"timeout_ms":-5}`, "u6"},
		{`{"type":"request","id":7,"op":"heartbeat"}`, ""},
	}
	for i, tc := range cases {
		c.Send(tc.frame)
		r := c.NthReply(i + 1)
		if r.Error == nil || r.Error.Code != CodeBadRequest {
			t.Fatalf("%s: reply %+v, want bad_request", tc.frame, r)
		}
		if id := ""; r.ID != nil && *r.ID != tc.id || r.ID == nil && tc.id != id {
			t.Fatalf("%s: reply id %v, want %q", tc.frame, r.ID, tc.id)
		}
	}
	if err := c.WS.Write(context.Background(), websocket.MessageBinary, []byte(`{"type":"request","id":"b","op":"heartbeat"}`)); err != nil {
		t.Fatal(err)
	}
	if r := c.NthReply(len(cases) + 1); r.Error == nil || r.Error.Code != CodeBadRequest {
		t.Fatalf("a binary frame: reply %+v", r)
	}
	c.OK("heartbeat", nil, nil) // still open
	if n := e.metric(`callsigd_commands_total{op="none",result="bad_request"}`); n != float64(len(cases)+1) {
		t.Fatalf("metrics count %v bad requests", n) // the unknown op under "none" too, and the binary frame
	}
}

// A request's members are read by their exact names: one whose name is
// a field's in another case ("Invitees", "OP", "Title" in a push) is an
// unknown field, and ignored, wherever it stands, whatever its value.
func TestRequestFieldNamesAreExact(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	alice.Send(`{"type":"request","id":"f1","op":"invite","invitees":["bob"],"Invitees":["carol"],"Mode":"Advanced","push":{"title":"t","Title":"x"},"Timeout_MS":"soon"}`)
	if r := alice.ReplyTo("f1"); r.Error != nil {
		t.Fatalf("f1: %+v", r.Error)
	}
	info, ok := e.srv.Registry().Call("call-1")
	if !ok || len(info.Members) != 2 || info.Members[1].User != "bob" || info.Mode != events.General {
		t.Fatalf("the call is %+v, want a General call of alice and bob", info)
	}
	if evs := bob.WaitEvents(1); evs[0].Push == nil || evs[0].Push.Title != "t" {
		t.Fatalf("bob's invitation has push %+v, want the title \"t\"", evs[0].Push)
	}
	alice.Send(`{"type":"request","id":"f2","OP":"heartbeat"}`)
	if r := alice.ReplyTo("f2"); r.Error == nil || r.Error.Code != CodeBadRequest {
		t.Fatalf("f2, with \"OP\" and no \"op\": %+v, want bad_request", r)
	}
	alice.Send(`{"type":"request","id":"f3","op":"heartbeat","Type":"greeting","oP":"end"}`)
	if r := alice.ReplyTo("f3"); r.Error != nil || string(r.Result) != "{}" {
		t.Fatalf("f3: %+v, want the heartbeat's {}", r)
	}
	// Escaped, "\u004fp" is "Op"; "\u006fp" is "op" itself.
	alice.Send(`{"type":"request","id":"f4","op":"heartbeat","\u004fp":"end"}`)
	if r := alice.ReplyTo("f4"); r.Error != nil || string(r.Result) != "{}" {
		t.Fatalf("f4: %+v, want the heartbeat's {}", r)
	}
	alice.Send(`{"type":"request","id":"f5","\u006fp":"heartbeat"}`)
	if r := alice.ReplyTo("f5"); r.Error != nil || string(r.Result) != "{}" {
		t.Fatalf("f5: %+v, want the heartbeat's {}", r)
	}
}

// A text frame that is not valid UTF-8 gets bad_request, with its id as
// JSON reads it (a U+FFFD for each bad byte), and nothing is done: its
// strings are not read with the bad bytes replaced, which would name
// another user ("b\uFFFDob") or change the data. The connection stays
// open.
func TestInvalidUTF8(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	c := e.dial("alice", "web")
	cases := []struct{ frame, id string }{
		{"{\"type\":\"request\",\"id\":\"u1\",\"op\":\"invite\",\"invitees\":[\"b\xffob\"]}", "u1"},
		{"{\"type\":\"request\",\"id\":\"u2\",\"op\":\"invite\",\"invitees\":[\"bob\"],\"data\":\"\xfe\xff\"}", "u2"},
		{"{\"type\":\"request\",\"id\":\"u\xff3\",\"op\":\"heartbeat\"}", "u\uFFFD3"},
		{"\xff\xfe", ""},
	}
	for i, tc := range cases {
		c.Send(tc.frame)
		r := c.NthReply(i + 1)
		if r.Error == nil || r.Error.Code != CodeBadRequest {
			t.Fatalf("%q: reply %+v, want bad_request", tc.frame, r)
		}
		if r.ID != nil && *r.ID != tc.id || r.ID == nil && tc.id != "" {
			t.Fatalf("%q: reply id %v, want %q", tc.frame, r.ID, tc.id)
		}
	}
	if evs := c.Events(); len(evs) != 0 {
		t.Fatalf("alice got %d events: %+v", len(evs), evs)
	}
	if n := e.srv.Registry().Len(); n != 0 {
		t.Fatalf("%d calls live", n)
	}
	c.OK("heartbeat", nil, nil) // still open
}

// A message of 64 KiB is read; one byte more closes the connection with
// 1009 (message too big).
func TestOversizedMessage(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	c := e.dial("alice", "web")
	req := `{"type":"request","id":"big","op":"heartbeat"}`
	c.Send(req + strings.Repeat(" ", MaxMessage-len(req)))
	if r := c.ReplyTo("big"); r.Error != nil {
		t.Fatalf("a message of exactly %d bytes: %+v", MaxMessage, r.Error)
	}
	c.Send(req + strings.Repeat(" ", MaxMessage-len(req)+1))
	if code, _ := closeOf(c.WaitEnd()); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %v, want 1009", code)
	}
}

// The requests read before a message that is too big are answered before
// the connection is closed with 1009, as before any other close the
// server makes: a client that pipelines requests learns the outcome of
// every one it sent ahead of the bad message.
func TestOversizedMessageAfterRequests(t *testing.T) {
	const n = 200
	e := newEnv(t, call.Options{}, Limits{Rate: 1e6, Burst: 1e6, SendQueue: 2 * n})
	c := e.dial("alice", "web")
	var frames strings.Builder
	for i := range n {
		frames.Reset()
		fmt.Fprintf(&frames, `{"type":"request","id":"r%d","op":"heartbeat"}`, i)
		c.Send(frames.String())
	}
	req := `{"type":"request","id":"big","op":"heartbeat"}`
	c.Send(req + strings.Repeat(" ", MaxMessage-len(req)+1))
	if code, _ := closeOf(c.WaitEnd()); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %v, want 1009", code)
	}
	replies := c.Replies()
	if len(replies) != n {
		t.Fatalf("%d replies to the %d requests sent before the message that is too big", len(replies), n)
	}
	for i, b := range replies {
		var r wstest.Reply
		if err := json.Unmarshal(b, &r); err != nil || r.Error != nil || r.ID == nil || *r.ID != fmt.Sprintf("r%d", i) {
			t.Fatalf("reply %d: %s", i, b)
		}
	}
}

// A flooding client gets Burst requests through, then rate_limited
// replies, and after Strikes of those it is closed with 1008. The clock
// is frozen, so no token comes back meanwhile and the counts are exact.
// Another client is not affected.
func TestFloodingClient(t *testing.T) {
	const burst, strikes = 5, 3
	e := newEnv(t, call.Options{}, Limits{Rate: 1, Burst: burst, Strikes: strikes})
	flood := e.dial("mallory", "bot")
	other := e.dial("alice", "web")
	for range 40 {
		// Writes may fail once the server has closed: that is the point.
		if flood.WS.Write(context.Background(), websocket.MessageText, []byte(`{"type":"request","id":"f","op":"heartbeat"}`)) != nil {
			break
		}
	}
	if code, reason := closeOf(flood.WaitEnd()); code != websocket.StatusPolicyViolation || reason != "rate limit exceeded" {
		t.Fatalf("the flood ended with %v %q, want 1008", code, reason)
	}
	replies := flood.Replies()
	var ok, limited int
	for _, b := range replies {
		var r wstest.Reply
		_ = json.Unmarshal(b, &r)
		switch {
		case r.Error == nil:
			ok++
		case r.Error.Code == CodeRateLimited && *r.ID == "f":
			limited++
		default:
			t.Fatalf("reply %s", b)
		}
	}
	if ok != burst || limited != strikes {
		t.Fatalf("%d ok and %d rate_limited replies, want %d and %d", ok, limited, burst, strikes)
	}
	other.OK("heartbeat", nil, nil)
	if n := e.metric(`callsigd_connection_closes_total{reason="rate_limited"}`); n != 1 {
		t.Fatalf("metrics count %v closes for the rate limit", n)
	}
}

// A client that stops reading fills its send queue: it is disconnected
// and logged out (its next invitation is an offline push), while the
// other clients' requests are answered as fast as before.
func TestClientThatStopsReading(t *testing.T) {
	e := newEnv(t, call.Options{MaxDataLen: 60000}, Limits{SendQueue: 8, Rate: 1e6, Burst: 1e6})
	deaf, _, err := websocket.Dial(context.Background(), e.wsURL(e.token("deaf", "web")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer deaf.CloseNow() // never read: its socket buffers, then its send queue, fill
	// deaf reads no hello, so nothing says its login is done: wait for the
	// Registry to have it online, or the first invitation is an offline
	// push and the test ends before the queue fills.
	for deadline := time.Now().Add(waitLimit); len(e.srv.Registry().Devices("deaf")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("deaf never came online")
		}
		time.Sleep(time.Millisecond)
	}
	caller := e.dial("bob", "web")
	probe := e.dial("carol", "web")

	data := strings.Repeat("x", 60000) // each invitation to deaf is a frame of over 120 kB
	var worst time.Duration
	invites := 0
	loggedOut := func(p []pushed) bool {
		for _, x := range p {
			if x.to == "deaf" {
				return true
			}
		}
		return false
	}
	for ; invites < 400; invites++ {
		e.pushes.mu.Lock()
		done := loggedOut(e.pushes.got)
		e.pushes.mu.Unlock()
		if done {
			break
		}
		caller.OK("invite", map[string]any{"invitees": []string{"deaf"}, "data": data}, nil)
		t0 := time.Now()
		probe.OK("heartbeat", nil, nil)
		worst = max(worst, time.Since(t0))
	}
	e.pushes.wait(t, "an offline push to deaf", loggedOut)
	t.Logf("deaf was dropped after %d invitations of 120 kB; the probe's slowest round trip meanwhile: %v", invites, worst)
	if worst > 2*time.Second {
		t.Fatalf("another client waited %v for a reply while one stopped reading", worst)
	}
	if n := e.metric(`callsigd_connection_closes_total{reason="slow"}`); n != 1 {
		t.Fatalf("metrics count %v slow closes", n)
	}
	// The dropped connection is closed: reading it ends in an error once
	// the frames buffered before the drop are read.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	deaf.SetReadLimit(-1)
	for {
		if _, _, err := deaf.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the dropped connection is still open")
			}
			break
		}
	}
}

// A user with more invitations ringing than its send queue holds can
// still connect: the hello and every replay of its login (G8) reach it,
// however many they are, and the connection then works as any other.
// Were they held to the send queue, anyone could keep a user off the
// server by inviting it often enough.
func TestLoginReplaysOverTheSendQueue(t *testing.T) {
	const queue, invitations = 8, 40
	e := newEnv(t, call.Options{}, Limits{SendQueue: queue, Rate: 1e6, Burst: 1e6})
	caller := e.dial("mallory", "web")
	for range invitations {
		caller.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	}
	bob := e.dial("bob", "phone")
	evs := bob.WaitEvents(invitations)
	for i, ev := range evs {
		if ev.Kind != events.InvitationReceived || ev.CallID != fmt.Sprintf("call-%d", i+1) {
			t.Fatalf("bob's event %d is %v of %s, want the replay of call-%d", i, ev.Kind, ev.CallID, i+1)
		}
	}
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	if n := e.metric(`callsigd_connection_closes_total{reason="slow"}`); n > 0 {
		t.Fatalf("metrics count %v slow closes", n)
	}
}

// Acting on someone else's call gets the Registry's error: a stranger is
// told the call does not exist (G10), an invitee that it is not the
// inviter.
func TestSomeoneElsesCall(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "phone")
	mallory := e.dial("mallory", "web")
	alice.OK("invite", map[string]any{"invitees": []string{"bob"}}, nil)
	for _, op := range []string{"cancel", "accept", "reject", "join", "quit", "end", "call"} {
		mallory.Fails("call_not_found", op, map[string]any{"call_id": "call-1"})
	}
	mallory.Fails("call_not_found", "calling_invite", map[string]any{"call_id": "call-1", "invitees": []string{"mallory"}})
	bob.Fails("not_inviter", "cancel", map[string]any{"call_id": "call-1"})
	alice.Fails("not_invitee", "accept", map[string]any{"call_id": "call-1"})
	bob.Fails("wrong_mode", "end", map[string]any{"call_id": "call-1"})
	bob.OK("accept", map[string]any{"call_id": "call-1"}, nil)
	if evs := mallory.Events(); len(evs) != 0 {
		t.Fatalf("mallory got %d events", len(evs))
	}
	alice.WaitEvents(2) // Created, Accepted
	if evs := alice.Events(); evs[1].Kind != events.InvitationAccepted {
		t.Fatalf("alice got %v", evs[1].Kind)
	}
}
