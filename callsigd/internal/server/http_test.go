package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/callsigd/internal/wstest"
	"github.com/callsig/callsig/events"
	"github.com/coder/websocket"
)

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// In dev mode /v1/dev/token mints a token that opens the WebSocket as
// its user and device; /healthz and /metrics answer.
func TestDevTokenAndEndpoints(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	code, body := post(t, e.ts.URL+"/v1/dev/token", `{"user":"alice","device":"web"}`)
	var tok struct{ Token string }
	if code != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.Token == "" {
		t.Fatalf("dev token: %d %s", code, body)
	}
	ws, _, err := websocket.Dial(context.Background(), e.wsURL(tok.Token), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, hi, err := ws.Read(context.Background())
	if err != nil || !strings.HasPrefix(string(hi), `{"type":"hello","user":"alice","device":"web","server_time":"2026-11-27T09:00:00Z"`) {
		t.Fatalf("hello %s, %v", hi, err)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	for _, bad := range []string{`{"user":""}`, `{"user":"a\u0000"}`, `nonsense`,
		`{"user":"alice"} {"user":"mallory"}`, `{"user":"alice"}x`, // data after the object
		`{"User":"alice"}`, `{"user":"alice","Device":"web"}`, `{"user":"alice","devcie":"web"}`, // names not exactly the members'
		`{"user":7}`, `{"user":"alice","device":null}`, `{"device":"web"}`, `null`, `[]`,
		`{"user":"alice","user":"mallory"}`, `{"user":"alice","device":"web","\u0064evice":"x"}`} { // a member twice
		if code, body := post(t, e.ts.URL+"/v1/dev/token", bad); code != http.StatusBadRequest {
			t.Errorf("dev token for %s: %d %s", bad, code, body)
		}
	}
	if code, body := wstest.Get(t, e.ts.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	code, body = wstest.Get(t, e.ts.URL+"/metrics")
	for _, name := range []string{"callsigd_calls_live", "callsigd_connections", "callsigd_registry_backlog", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("metrics: %d, no %s", code, name)
		}
	}
}

// Without dev mode there is no token endpoint; / serves the static files.
func TestProductionMode(t *testing.T) {
	a, _ := auth.New(testKey, nil)
	srv, err := New(Config{Auth: a, Logger: testLogger(), Static: fstest.MapFS{"index.html": {Data: []byte("the app")}}})
	if err != nil {
		t.Fatal(err)
	}
	h := srv.Handler()
	ts := newHTTPServer(t, h)
	if code, _ := post(t, ts+"/v1/dev/token", `{"user":"alice"}`); code != http.StatusNotFound {
		t.Fatalf("dev token without dev mode: %d, want 404", code)
	}
	if code, body := wstest.Get(t, ts+"/"); code != 200 || body != "the app" {
		t.Fatalf("/: %d %q", code, body)
	}
	if code, _ := wstest.Get(t, ts+"/nothing-here"); code != http.StatusNotFound {
		t.Fatalf("/nothing-here: %d", code)
	}
}

// With a heartbeat timeout, a connection that sends no heartbeat is
// closed with 4001 when its device lapses (H5); one that does stays.
func TestHeartbeatTimeout(t *testing.T) {
	e := newEnv(t, call.Options{HeartbeatTimeout: 10 * time.Second}, Limits{})
	quiet := e.dial("alice", "web")
	lively := e.dial("bob", "web")
	e.clk.Advance(6 * time.Second)
	lively.OK("heartbeat", nil, nil)
	e.clk.Advance(4 * time.Second) // alice's deadline; bob's is 6 s on
	if code, reason := closeOf(quiet.WaitEnd()); code != CloseHeartbeat || reason != "heartbeat timeout" {
		t.Fatalf("the quiet connection ended with %v %q", code, reason)
	}
	lively.OK("heartbeat", nil, nil)
	if n := e.metric(`callsigd_connection_closes_total{reason="heartbeat"}`); n != 1 {
		t.Fatalf("metrics count %v heartbeat closes", n)
	}
}

// Shutdown closes every connection with 1001 and logs its device out:
// the invitee of an unanswered call, offline, is pushed the cancel (G7)
// before Shutdown returns. Afterwards nothing is taken.
func TestShutdown(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	alice := e.dial("alice", "web")
	bob := e.dial("bob", "web")
	alice.OK("invite", map[string]any{"invitees": []string{"carol"}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wstest.Client{alice, bob} {
		if code, _ := closeOf(c.WaitEnd()); code != websocket.StatusGoingAway {
			t.Fatalf("%s closed with %v, want 1001", c.User, code)
		}
	}
	got := e.pushes.wait(t, "carol's cancel", func(p []pushed) bool { return len(p) == 2 })
	if ev := got[1].event; got[1].to != "carol" || ev.Kind != events.InvitationCancelled || ev.Reason != events.ReasonCallerOffline {
		t.Fatalf("the second push: %+v", got[1])
	}
	if n := e.srv.Registry().Len(); n != 0 {
		t.Fatalf("%d calls live after shutdown", n)
	}
	if code, _ := wstest.Get(t, e.ts.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("healthz after shutdown: %d", code)
	}
	if _, resp, err := websocket.Dial(context.Background(), e.wsURL(e.token("dave", "web")), nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a connection after shutdown: %v %v", err, resp)
	}
}

// With KeepPresence, Shutdown closes the connections but leaves their
// devices online: a durable Registry restarted on this state cancels no
// call for it.
func TestShutdownKeepPresence(t *testing.T) {
	e := newEnv(t, call.Options{}, Limits{})
	e.srv.cfg.KeepPresence = true
	alice := e.dial("alice", "web")
	alice.OK("invite", map[string]any{"invitees": []string{"carol"}}, nil)
	if err := e.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	alice.WaitEnd()
	if n := e.srv.Registry().Len(); n != 1 {
		t.Fatalf("%d calls live after shutdown, want alice's", n)
	}
}
