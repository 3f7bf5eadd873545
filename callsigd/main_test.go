package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callsig/callsig/callsigd/internal/wstest"
	"github.com/coder/websocket"
)

func TestFlags(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(strings.Repeat("s", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := [][]string{
		nil,
		{"-addr", "localhost:0", "-heartbeat", "30s", "-busy", "-glare", "-history", "5", "-max-invitees", "20",
			"-default-timeout", "30s", "-max-timeout", "2m", "-allowed-origins", "app.example.com, *.example.org",
			"-push-webhook", "https://push.example.com/hook"},
		{"-addr", "[::1]:0"},
		{"-addr", "0.0.0.0:0", "-insecure-dev"},
		{"-addr", ":0", "-secret-file", secret},
		{"-data", t.TempDir(), "-checkpoint-entries", "100"},
	}
	for _, args := range good {
		if _, err := parseFlags(args, io.Discard); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
	f, _ := parseFlags(good[1], io.Discard)
	if len(f.allowedOrigins) != 2 || f.allowedOrigins[1] != "*.example.org" || !f.busy || f.history != 5 {
		t.Errorf("parsed %+v", f)
	}
	bad := map[string][]string{
		"not loopback":           {"-addr", "0.0.0.0:8080"},
		"every interface":        {"-addr", ":8080"},
		"no checkpoints":         {"-data", t.TempDir(), "-checkpoint-entries", "0"},
		"cluster without -data":  {"-node", "n1", "-peers", "n1=a=b"},
		"cert without key":       {"-tls-cert", "c.pem"},
		"negative heartbeat":     {"-heartbeat", "-1s"},
		"negative history":       {"-history", "-1"},
		"webhook not http":       {"-push-webhook", "ftp://x/y"},
		"webhook not a URL":      {"-push-webhook", "::"},
		"stray argument":         {"serve"},
		"unknown flag":           {"-verbose"},
		"not a duration":         {"-max-timeout", "soon"},
		"not loopback, by name":  {"-addr", "example.com:80"},
		"too many invitees":      {"-max-invitees", "1000"},
		"timeouts the wrong way": {"-default-timeout", "5m", "-max-timeout", "1m"},
	}
	for name, args := range bad {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%s: %q parsed", name, args)
		}
	}
	var out bytes.Buffer
	// A Registry limit out of range is a bad flag, like any other: exit
	// status 2, and refused before the first line says the server serves.
	if code := run([]string{"-max-invitees", "1000"}, &out); code != 2 || !strings.Contains(out.String(), "MaxInvitees") ||
		strings.Contains(out.String(), "serving") {
		t.Errorf("run -max-invitees 1000: %d %q", code, out.String())
	}
}

// lines is an io.Writer that keeps what is written and tells when the
// first line is complete.
type lines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan string
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	had := bytes.IndexByte(l.buf.Bytes(), '\n') >= 0
	l.buf.Write(p)
	if i := bytes.IndexByte(l.buf.Bytes(), '\n'); !had && i >= 0 {
		l.first <- l.buf.String()[:i]
	}
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// The command serves in dev mode, in memory, says so on its first line,
// and stops cleanly on SIGTERM: its clients are closed with 1001, their
// devices logged out, and the pushes that makes (the cancel of a call to
// an offline invitee, G7) are sent before it exits with status 0.
func TestServeAndSIGTERM(t *testing.T) {
	hooked := make(chan string, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			To    string `json:"to"`
			Event struct {
				Kind   string `json:"kind"`
				Reason string `json:"reason"`
			} `json:"event"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		hooked <- body.To + " " + body.Event.Kind + " " + body.Event.Reason
	}))
	defer hook.Close()

	stderr := &lines{first: make(chan string, 1)}
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"-addr", "127.0.0.1:0", "-push-webhook", hook.URL}, stderr) }()
	var first string
	select {
	case first = <-stderr.first:
	case <-time.After(10 * time.Second):
		t.Fatalf("no first line; stderr: %s", stderr)
	}
	m := regexp.MustCompile(`^callsigd: serving (http://127\.0\.0\.1:\d+) \(dev mode, in memory\)$`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q", first)
	}
	base := m[1]

	resp, err := http.Post(base+"/v1/dev/token", "application/json", strings.NewReader(`{"user":"alice","device":"web"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/ws?token="+tok.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(-1)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"request","id":"1","op":"invite","invitees":["carol"]}`)); err != nil {
		t.Fatal(err)
	}
	if got := <-hooked; got != "carol InvitationReceived " {
		t.Fatalf("webhook got %q", got)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("the client's connection ended with %v, want 1001", err)
			}
			break
		}
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit status %d; stderr:\n%s", code, stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running after SIGTERM; stderr:\n%s", stderr)
	}
	select {
	case got := <-hooked: // sent before run returned
		if got != "carol InvitationCancelled CallerOffline" {
			t.Fatalf("webhook got %q", got)
		}
	default:
		t.Fatalf("no cancel pushed before exit; stderr:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Fatalf("stderr:\n%s", stderr)
	}
}

// A second server on the -data directory of a running one does not start:
// their journals would mix. It says so and exits with status 1, before
// its first line; the first server runs on.
func TestDataInUse(t *testing.T) {
	dir := t.TempDir()
	stderr := &lines{first: make(chan string, 1)}
	exit := make(chan int, 1)
	go func() { exit <- run([]string{"-addr", "127.0.0.1:0", "-data", dir}, stderr) }()
	var first string
	select {
	case first = <-stderr.first:
	case <-time.After(10 * time.Second):
		t.Fatalf("no first line; stderr: %s", stderr)
	}
	m := regexp.MustCompile(`^callsigd: serving (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q", first)
	}

	second := &lines{first: make(chan string, 1)}
	exit2 := make(chan int, 1)
	go func() { exit2 <- run([]string{"-addr", "127.0.0.1:0", "-data", dir}, second) }()
	select {
	case code := <-exit2:
		if code != 1 {
			t.Errorf("a second server on the same -data: exit status %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("a second server on the same -data still runs after 10 s")
	}
	if got := second.String(); !strings.Contains(got, "in use by another callsigd") || strings.Contains(got, "serving") {
		t.Errorf("a second server on the same -data said:\n%s", got)
	}
	if t.Failed() {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM) // both, if both run
		<-exit
		t.FailNow()
	}
	if code, _ := wstest.Get(t, m[1]+"/healthz"); code != http.StatusOK {
		t.Fatalf("the first server's /healthz: %d", code)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit status %d; stderr:\n%s", code, stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running after SIGTERM; stderr:\n%s", stderr)
	}
	// Once the first has stopped, the directory is free.
	again := &lines{first: make(chan string, 1)}
	go func() { exit <- run([]string{"-addr", "127.0.0.1:0", "-data", dir}, again) }()
	select {
	case <-again.first:
	case <-time.After(10 * time.Second):
		t.Fatalf("no first line after the first server stopped; stderr: %s", again)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-exit; code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, again)
	}
}

// A second SIGINT during a stop that waits ends the process at once, as an
// operator pressing Ctrl-C again means. The stop here waits on a push
// webhook that never answers: the first signal logs the caller out, whose
// call's cancel the hook cannot take, and the stop would wait for it up
// to shutdownGrace.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	release := make(chan struct{})
	hooked := make(chan struct{}, 8)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooked <- struct{}{}
		<-release
	}))
	defer hook.Close()
	defer close(release) // before hook.Close, which waits for the handlers
	c := startProcess(t, `in memory`, nil, nil, "-addr", "127.0.0.1:0", "-push-webhook", hook.URL)

	resp, err := http.Post(c.base+"/v1/dev/token", "application/json", strings.NewReader(`{"user":"alice","device":"web"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	ctx := context.Background()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/v1/ws?token="+tok.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"request","id":"1","op":"invite","invitees":["carol"]}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hooked: // carol's invitation is at the hook, which holds it
	case <-time.After(10 * time.Second):
		t.Fatalf("no push; logs:\n%s", c.log())
	}

	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(c.log(), "shutting down"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no clean stop began; logs:\n%s", c.log())
		}
	}
	time.Sleep(100 * time.Millisecond) // well into the stop, which waits for the hook
	second := time.Now()
	if err := c.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(shutdownGrace / 2):
		t.Fatalf("still running %v after the second SIGINT; logs:\n%s", time.Since(second), c.log())
	}
	st, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !st.Signaled() || st.Signal() != syscall.SIGINT {
		t.Fatalf("exit %v after %v, want death by SIGINT; logs:\n%s", c.cmd.ProcessState, time.Since(second), c.log())
	}
}
