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
	"github.com/callsig/callsig/callsigd/internal/wstest"
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
	clients []*wstest.Client // in the order they connected
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
func (e *env) dial(user, device string) *wstest.Client {
	e.t.Helper()
	c, err := wstest.Dial(e.t, e.wsURL(e.token(user, device)), user, device)
	if err != nil {
		e.t.Fatalf("dial %s/%s: %v", user, device, err)
	}
	if h := c.Hello(); h.User != user || h.Device != device || h.Type != "hello" {
		e.t.Fatalf("hello %+v for %s/%s", h, user, device)
	}
	e.mu.Lock()
	e.clients = append(e.clients, c)
	e.mu.Unlock()
	return c
}

// conns returns what each client received, for a ConnChecker.
func (e *env) conns() []calltest.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]calltest.Conn, len(e.clients))
	for i, c := range e.clients {
		out[i] = calltest.Conn{User: c.User, Device: c.Device, Events: c.Events()}
	}
	return out
}

// checkConns waits until every client has as many events as cc says it
// must, then checks them with cc.
func (e *env) checkConns(cc *calltest.ConnChecker) {
	e.t.Helper()
	want := cc.Want()
	e.mu.Lock()
	clients := append([]*wstest.Client(nil), e.clients...)
	e.mu.Unlock()
	if len(want) != len(clients) {
		e.t.Fatalf("the model has %d connections, the test %d", len(want), len(clients))
	}
	for i, c := range clients {
		c.WaitEvents(len(want[i].Events))
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

// expect fails t unless exactly n pushes were made so far.
func (p *fakePusher) expect(t *testing.T, n int) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.got) != n {
		t.Fatalf("%d pushes, want %d: %+v", len(p.got), n, p.got)
	}
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

// newHTTPServer serves h on a loopback port until the test ends and
// returns its URL.
func newHTTPServer(t *testing.T, h http.Handler) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
