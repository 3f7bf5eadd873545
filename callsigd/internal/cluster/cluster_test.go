package cluster

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/replica"
)

// newTestCluster returns a Cluster that is not started, on key, serving
// its routes.
func newTestCluster(t *testing.T, key string) (*Cluster, string) {
	t.Helper()
	c, err := New(Config{ID: "a", Peers: []Peer{{"a", "127.0.0.1:1", "127.0.0.1:2"}}, Dir: t.TempDir(), Key: []byte(key)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for p, h := range c.Routes() {
		mux.Handle(p, h)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return c, ts.URL
}

// The internal endpoints take only requests signed with the cluster's
// key, at a time near the receiver's: anything else gets 401 and is not
// run. A request signed right reaches the handler (here: a node not
// started, 503).
func TestInternalRequestsAreSigned(t *testing.T) {
	key := strings.Repeat("k", 32)
	c, url := newTestCluster(t, key)
	other, _ := newTestCluster(t, strings.Repeat("x", 32))
	body := []byte(`{"op":"login","user":"mallory"}`)
	send := func(path string, signer *Cluster, at time.Time, mangle func(*http.Request)) int {
		t.Helper()
		ts := strconv.FormatInt(at.UnixNano(), 10)
		req, _ := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
		req.Header.Set(headerNode, "b")
		req.Header.Set(headerTime, ts)
		req.Header.Set(headerSig, hex.EncodeToString(signer.sign(path, "b", ts, body)))
		if mangle != nil {
			mangle(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now()
	cases := map[string]struct {
		signer *Cluster
		at     time.Time
		mangle func(*http.Request)
		want   int
	}{
		"signed":          {c, now, nil, http.StatusServiceUnavailable},
		"no signature":    {c, now, func(r *http.Request) { r.Header.Del(headerSig) }, http.StatusUnauthorized},
		"another key":     {other, now, nil, http.StatusUnauthorized},
		"another node":    {c, now, func(r *http.Request) { r.Header.Set(headerNode, "c") }, http.StatusUnauthorized},
		"too old":         {c, now.Add(-time.Minute), nil, http.StatusUnauthorized},
		"from the future": {c, now.Add(time.Minute), nil, http.StatusUnauthorized},
		"not a time":      {c, now, func(r *http.Request) { r.Header.Set(headerTime, "soon") }, http.StatusUnauthorized},
		"another body": {c, now, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"op":"logout"}`))
			r.ContentLength = -1
		}, http.StatusUnauthorized},
		"another path": {c, now, func(r *http.Request) { r.URL.Path = releasePath }, http.StatusUnauthorized},
	}
	for _, path := range []string{commandPath, barrierPath} {
		for name, tc := range cases {
			if got := send(path, tc.signer, tc.at, tc.mangle); got != tc.want {
				t.Errorf("%s, %s: %d, want %d", path, name, got, tc.want)
			}
		}
	}
	if err := c.Health(); err == nil {
		t.Error("a node not started is healthy")
	}
	if err := c.Login("alice", "web"); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("a command on a node not started: %v", err)
	}
}

// The cluster's errors give their codes to call.Code; an error a leader
// answered comes back with its code, matching its sentinel.
func TestCodes(t *testing.T) {
	cases := []struct {
		err      error
		code     string
		sentinel error
	}{
		{&Error{ErrUnavailable, "no leader"}, CodeUnavailable, ErrUnavailable},
		{&Error{ErrUncertain, "lost"}, CodeUncertain, replica.ErrUncertain},
		{local(fmt.Errorf("x: %w", replica.ErrUncertain)), CodeUncertain, replica.ErrUncertain},
		{local(replica.ErrClosed), CodeUncertain, replica.ErrUncertain},
		{codedError("not_pending", "bob is not pending"), "not_pending", call.ErrNotPending},
		{codedError("something_new", "?"), "something_new", nil},
	}
	for _, tc := range cases {
		if got := call.Code(tc.err); got != tc.code {
			t.Errorf("%v: code %q, want %q", tc.err, got, tc.code)
		}
		if tc.sentinel != nil && !errors.Is(tc.err, tc.sentinel) {
			t.Errorf("%v does not match %v", tc.err, tc.sentinel)
		}
	}
	if msg := codedError("not_pending", "bob is not pending").Error(); msg != "bob is not pending" {
		t.Errorf("message %q", msg)
	}
	// Wrapped on the leader, then on the follower: said once.
	leader := local(fmt.Errorf("%w: leadership lost while committing log", replica.ErrUncertain))
	if msg := newError(ErrUncertain, leader.Error()).Error(); msg != ErrUncertain.Error()+": leadership lost while committing log" {
		t.Errorf("message %q", msg)
	}
}

// A leader's answer whose result cannot be read is of a command that took
// effect: ErrUncertain with the leader's applied index (so that the
// follower waits for its events), never a plain failure.
func TestUnreadableResultIsUncertain(t *testing.T) {
	c, _ := newTestCluster(t, strings.Repeat("k", 32))
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"applied": 7, "result": "not an InviteResult"})
	}))
	t.Cleanup(leader.Close)
	p := Peer{ID: "b", HTTP: strings.TrimPrefix(leader.URL, "http://")}
	_, applied, err, again := c.forwardTo(p, call.Entry{Op: call.OpInvite, User: "alice", Users: []string{"bob"}}, time.Now().Add(time.Second))
	if applied != 7 || !errors.Is(err, ErrUncertain) || again {
		t.Fatalf("applied %d, err %v, again %v; want 7, uncertain, false", applied, err, again)
	}
}

// Interrupt cuts a forwarded command short: one sent to a leader that
// does not answer fails at once with ErrUncertain (it may have been
// done), and the commands after it fail with ErrUnavailable without a
// request, so that a shutdown is not held up by a leader that hangs.
func TestInterruptEndsForwardedCommands(t *testing.T) {
	c, _ := newTestCluster(t, strings.Repeat("k", 32))
	hung, heard := make(chan struct{}), make(chan struct{}, 1)
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		heard <- struct{}{}
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hung); leader.Close() })
	p := Peer{ID: "b", HTTP: strings.TrimPrefix(leader.URL, "http://")}
	type answer struct {
		err   error
		again bool
	}
	done := make(chan answer, 1)
	go func() {
		_, _, err, again := c.forwardTo(p, call.Entry{Op: call.OpLogin, User: "alice"}, time.Now().Add(time.Minute))
		done <- answer{err, again}
	}()
	<-heard // the request was sent
	start := time.Now()
	c.Interrupt()
	select {
	case a := <-done:
		if !errors.Is(a.err, ErrUncertain) || a.again {
			t.Fatalf("interrupted: %v (again %v), want uncertain", a.err, a.again)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the forwarded command still waits 5 s after Interrupt")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the forwarded command took %v to give up", d)
	}
	if _, _, err, again := c.forwardTo(p, call.Entry{Op: call.OpLogin, User: "bob"}, time.Now().Add(time.Minute)); err == nil || !again {
		t.Fatalf("after Interrupt: %v (again %v), want a request never sent", err, again)
	}
}

// A leader that ran a command but could not encode its result answers
// uncertain with its applied index, and the follower keeps the index, so
// that it waits for the command's events before it replies.
func TestUncertainKeepsTheLeadersIndex(t *testing.T) {
	c, _ := newTestCluster(t, strings.Repeat("k", 32))
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, response{Applied: 9, Error: &wireError{CodeUncertain, "the command took effect; its result cannot be encoded"}})
	}))
	t.Cleanup(leader.Close)
	p := Peer{ID: "b", HTTP: strings.TrimPrefix(leader.URL, "http://")}
	_, applied, err, again := c.forwardTo(p, call.Entry{Op: call.OpJoin, User: "alice", CallID: "c1"}, time.Now().Add(time.Second))
	if applied != 9 || !errors.Is(err, ErrUncertain) || again {
		t.Fatalf("applied %d, err %v, again %v; want 9, uncertain, false", applied, err, again)
	}
}

// A node of a build whose internal format differs serves other paths, so
// it answers this build's requests 404: a command forwarded to it, and a
// barrier asked of it, are refused unheard (again, nothing done), never
// taken as its answer.
func TestAnotherFormatIsRefusedUnheard(t *testing.T) {
	c, _ := newTestCluster(t, strings.Repeat("k", 32))
	mux := http.NewServeMux()
	var ran atomic.Bool
	for _, path := range []string{"/v2/internal/command", "/v2/internal/barrier"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
			ran.Store(true)
			writeJSON(w, http.StatusOK, map[string]any{"applied": 9})
		})
	}
	other := httptest.NewServer(mux)
	t.Cleanup(other.Close)
	p := Peer{ID: "b", HTTP: strings.TrimPrefix(other.URL, "http://")}
	deadline := time.Now().Add(time.Second)
	_, applied, err, again := c.forwardTo(p, call.Entry{Op: call.OpLogin, User: "alice"}, deadline)
	if err == nil || !again || applied != 0 || !strings.Contains(err.Error(), "404") {
		t.Fatalf("forwarded to another format: applied %d, err %v, again %v; want 404, refused unheard", applied, err, again)
	}
	index, err, again := c.barrierAt(p, deadline)
	if err == nil || !again || index != 0 || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a barrier of another format: index %d, err %v, again %v; want 404, refused unheard", index, err, again)
	}
	if ran.Load() {
		t.Fatal("a request of this build's format ran on a node of another")
	}
}
