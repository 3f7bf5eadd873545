package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/call/calltest"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/coder/websocket"
)

// start is the manual clock's first reading in every test.
var start = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// testKey is the servers' HS256 key in tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// waitLimit bounds every wait for something a server must do; the tests
// wait for events, never for time.
const waitLimit = 10 * time.Second

// env is a server on a manual clock behind a real HTTP listener, with
// the clients a test opened.
type env struct {
	t      *testing.T
	clk    *clock.Manual
	auth   *auth.Authority
	srv    *Server
	ts     *httptest.Server
	pushes *fakePusher

	mu      sync.Mutex
	clients []*client // in the order they connected
}

// newEnv starts a server with opts (NewID: call-1, call-2, …) and limits.
func newEnv(t *testing.T, opts call.Options, limits Limits) *env {
	t.Helper()
	return newEnvWith(t, opts, limits, nil)
}

// newEnvWith is newEnv with a last say on the Config: set, if not nil,
// changes it before New.
func newEnvWith(t *testing.T, opts call.Options, limits Limits, set func(*Config)) *env {
	t.Helper()
	clk := clock.NewManual(start)
	if opts.NewID == nil {
		opts.NewID = calltest.IDs("call-")
	}
	a, err := auth.New(testKey, clk)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clk: clk, auth: a, pushes: newFakePusher()}
	cfg := Config{
		Options: opts, Clock: clk, Auth: e.auth, Dev: true, Pusher: e.pushes,
		Logger: testLogger(), Limits: limits,
	}
	if set != nil {
		set(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.ts.Close()
	})
	return e
}

// testLogger discards the server's log, unless CALLSIGD_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("CALLSIGD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// wsURL returns the WebSocket URL for token.
func (e *env) wsURL(token string) string {
	return "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/v1/ws?token=" + token
}

// token mints a token for user and device, good for an hour.
func (e *env) token(user, device string) string {
	e.t.Helper()
	tok, err := e.auth.Mint(user, device, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// dial connects user/device and waits for the hello.
func (e *env) dial(user, device string) *client {
	e.t.Helper()
	ws, resp, err := websocket.Dial(context.Background(), e.wsURL(e.token(user, device)), nil)
	if err != nil {
		e.t.Fatalf("dial %s/%s: %v (%v)", user, device, err, resp)
	}
	ws.SetReadLimit(-1)
	c := &client{t: e.t, user: user, device: device, ws: ws, changed: make(chan struct{}), replies: map[string]json.RawMessage{}}
	go c.read()
	c.waitFor("hello", func() bool { return c.hello != nil })
	if c.hello.User != user || c.hello.Device != device || c.hello.Type != "hello" {
		e.t.Fatalf("hello %+v for %s/%s", c.hello, user, device)
	}
	e.mu.Lock()
	e.clients = append(e.clients, c)
	e.mu.Unlock()
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	return c
}

// conns returns what each client received, for a ConnChecker.
func (e *env) conns() []calltest.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]calltest.Conn, len(e.clients))
	for i, c := range e.clients {
		out[i] = calltest.Conn{User: c.user, Device: c.device, Events: c.Events()}
	}
	return out
}

// checkConns waits until every client has as many events as cc says it
// must, then checks them with cc.
func (e *env) checkConns(cc *calltest.ConnChecker) {
	e.t.Helper()
	want := cc.Want()
	e.mu.Lock()
	clients := append([]*client(nil), e.clients...)
	e.mu.Unlock()
	if len(want) != len(clients) {
		e.t.Fatalf("the model has %d connections, the test %d", len(want), len(clients))
	}
	for i, c := range clients {
		n := len(want[i].Events)
		c.waitFor(strconv.Itoa(n)+" events", func() bool { return len(c.events) >= n })
	}
	if err := cc.Check(e.conns()); err != nil {
		for i, w := range want {
			e.t.Logf("want %s/%s:", w.User, w.Device)
			for _, ev := range w.Events {
				e.t.Logf("  %s", calltest.FormatEvent(ev))
			}
			e.t.Logf("got:")
			for _, ev := range clients[i].Events() {
				e.t.Logf("  %s", calltest.FormatEvent(ev))
			}
		}
		e.t.Fatal(err)
	}
}

// metric returns the value of the /metrics line that starts with prefix
// (a name and its labels), or -1.
func (e *env) metric(prefix string) float64 {
	e.t.Helper()
	resp, err := http.Get(e.ts.URL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				e.t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// client is a real WebSocket client of the server that keeps everything
// it receives.
type client struct {
	t            *testing.T
	user, device string
	ws           *websocket.Conn

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever something arrives
	hello     *hello
	events    []events.Event
	replies   map[string]json.RawMessage
	replyList []json.RawMessage // every reply, in order
	ended     error             // why the connection ended, once it has
	nextID    int
}

// read keeps every frame until the connection ends.
func (c *client) read() {
	for {
		_, b, err := c.ws.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.ended = err
			c.notify()
			c.mu.Unlock()
			return
		}
		var head struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if err := json.Unmarshal(b, &head); err != nil && head.Type == "" {
			c.t.Errorf("%s/%s got a frame that is not JSON: %s", c.user, c.device, b)
		}
		switch head.Type {
		case "hello":
			var h hello
			_ = json.Unmarshal(b, &h)
			c.hello = &h
		case "reply":
			c.replies[head.ID] = b
			c.replyList = append(c.replyList, b)
		case "event":
			var raw map[string]any
			_ = json.Unmarshal(b, &raw)
			if _, ok := raw["to"]; ok {
				c.t.Errorf("event frame with \"to\": %s", b)
			}
			if _, ok := raw["offline"]; ok {
				c.t.Errorf("event frame with \"offline\": %s", b)
			}
			var ev events.Event
			if err := json.Unmarshal(b, &ev); err != nil {
				c.t.Errorf("event frame %s: %v", b, err)
			}
			ev.To = c.user // implied by the connection
			c.events = append(c.events, ev)
		default:
			c.t.Errorf("frame of unknown type: %s", b)
		}
		c.notify()
		c.mu.Unlock()
	}
}

func (c *client) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// waitFor waits until f, called with c.mu held, is true.
func (c *client) waitFor(what string, f func() bool) {
	c.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, ch, ended := f(), c.changed, c.ended
		c.mu.Unlock()
		if ok {
			return
		}
		if ended != nil {
			c.t.Fatalf("%s/%s: waiting for %s, the connection ended: %v", c.user, c.device, what, ended)
		}
		select {
		case <-ch:
		case <-deadline.C:
			c.t.Fatalf("%s/%s: no %s within %v", c.user, c.device, what, waitLimit)
		}
	}
}

// waitEnd waits until the connection ends and returns why.
func (c *client) waitEnd() error {
	c.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ch, ended := c.changed, c.ended
		c.mu.Unlock()
		if ended != nil {
			return ended
		}
		select {
		case <-ch:
		case <-deadline.C:
			c.t.Fatalf("%s/%s: still open after %v", c.user, c.device, waitLimit)
		}
	}
}

// Events returns the events received so far.
func (c *client) Events() []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.Event(nil), c.events...)
}

// waitEvents waits until n events have arrived and returns them all.
func (c *client) waitEvents(n int) []events.Event {
	c.t.Helper()
	c.waitFor(strconv.Itoa(n)+" events", func() bool { return len(c.events) >= n })
	return c.Events()
}

// send writes one text frame.
func (c *client) send(frame string) {
	c.t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("%s/%s: write: %v", c.user, c.device, err)
	}
}

// sendRequest sends a request of op with args and returns its id.
func (c *client) sendRequest(op string, args map[string]any) string {
	c.t.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.user + "-" + strconv.Itoa(c.nextID)
	c.mu.Unlock()
	m := map[string]any{"type": "request", "id": id, "op": op}
	for k, v := range args {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	c.send(string(b))
	return id
}

// replyTo waits for the reply with id and returns it, decoded.
func (c *client) replyTo(id string) wireReply {
	c.t.Helper()
	c.waitFor("the reply to "+id, func() bool { return c.replies[id] != nil })
	c.mu.Lock()
	b := c.replies[id]
	c.mu.Unlock()
	var r wireReply
	if err := json.Unmarshal(b, &r); err != nil {
		c.t.Fatalf("reply %s: %v", b, err)
	}
	return r
}

// wireReply is a reply as a client reads it.
type wireReply struct {
	Type   string          `json:"type"`
	ID     *string         `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *replyError     `json:"error"`
}

// do sends a request and waits for its reply: its result, or the error's
// code ("" on success).
func (c *client) do(op string, args map[string]any) (json.RawMessage, string) {
	c.t.Helper()
	r := c.replyTo(c.sendRequest(op, args))
	if r.Error != nil {
		return nil, r.Error.Code
	}
	if r.Result == nil {
		c.t.Fatalf("%s: a reply with neither result nor error", op)
	}
	return r.Result, ""
}

// ok is do for a request that must succeed; it decodes the result into
// out, if out is not nil.
func (c *client) ok(op string, args map[string]any, out any) {
	c.t.Helper()
	res, code := c.do(op, args)
	if code != "" {
		c.t.Fatalf("%s/%s %s %v: error %s", c.user, c.device, op, args, code)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			c.t.Fatalf("%s result %s: %v", op, res, err)
		}
	}
}

// fails is do for a request that must fail with code.
func (c *client) fails(code, op string, args map[string]any) {
	c.t.Helper()
	if _, got := c.do(op, args); got != code {
		c.t.Fatalf("%s/%s %s %v: code %q, want %q", c.user, c.device, op, args, got, code)
	}
}

// fakePusher keeps the offline events the server hands it.
type fakePusher struct {
	mu      sync.Mutex
	changed chan struct{}
	got     []pushed
}

type pushed struct {
	to, callID string
	event      events.Event
	raw        string
}

func newFakePusher() *fakePusher { return &fakePusher{changed: make(chan struct{})} }

func (p *fakePusher) Enqueue(to, callID string, frame []byte) {
	var ev events.Event
	_ = json.Unmarshal(frame, &ev)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, pushed{to, callID, ev, string(frame)})
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait waits until f, called with the pushes so far, is true.
func (p *fakePusher) wait(t *testing.T, what string, f func([]pushed) bool) []pushed {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		got, ch := append([]pushed(nil), p.got...), p.changed
		p.mu.Unlock()
		if f(got) {
			return got
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no push: %s within %v (got %d)", what, waitLimit, len(got))
		}
	}
}

// closeOf returns the close code and reason a connection ended with.
func closeOf(err error) (websocket.StatusCode, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return -1, ""
}

// nthReply waits for the n-th reply (from 1) and returns it, decoded.
func (c *client) nthReply(n int) wireReply {
	c.t.Helper()
	c.waitFor(strconv.Itoa(n)+" replies", func() bool { return len(c.replyList) >= n })
	c.mu.Lock()
	b := c.replyList[n-1]
	c.mu.Unlock()
	var r wireReply
	if err := json.Unmarshal(b, &r); err != nil {
		c.t.Fatalf("reply %s: %v", b, err)
	}
	return r
}

// newHTTPServer serves h on a loopback port until the test ends and
// returns its URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
