package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestChildServer is the server process of TestCrashRecovery: the test
// binary run again with CALLSIGD_CHILD_ARGS set runs the command (with
// clusterChildEnv set too, a node of TestClusterSIGKILL's cluster).
func TestChildServer(t *testing.T) {
	args := os.Getenv("CALLSIGD_CHILD_ARGS")
	if args == "" {
		t.Skip("the server process of TestCrashRecovery and the cluster's kill tests")
	}
	if os.Getenv(clusterChildEnv) != "" {
		os.Exit(runClusterChild(strings.Fields(args)))
	}
	os.Exit(run(strings.Fields(args), os.Stderr))
}

// child is the server running as a process of its own.
type child struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	logs *strings.Builder
	mu   *sync.Mutex
}

// startChild runs the server with args and waits for its first line.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startProcess(t, `journal in .*`, nil, nil, args...)
}

// startProcess runs the server with args, the environment variables env
// and the open files files (descriptors 3, 4, …), and waits for its
// first line, which must say it serves in dev mode and then match mode.
func startProcess(t *testing.T, mode string, env []string, files []*os.File, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildServer$")
	cmd.Env = append(append(os.Environ(), "CALLSIGD_CHILD_ARGS="+strings.Join(args, " ")), env...)
	cmd.ExtraFiles = files
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, logs: &strings.Builder{}, mu: &sync.Mutex{}}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.mu.Lock()
			if c.logs.Len() == 0 {
				first <- sc.Text()
			}
			c.logs.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	select {
	case line := <-first:
		m := regexp.MustCompile(`^callsigd: serving (http://127\.0\.0\.1:\d+) \(dev mode, ` + mode + `\)$`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("first line %q", line)
		}
		c.base = m[1]
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not start")
	}
	return c
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

// wireEvent is what the test reads of an event.
type wireEvent struct {
	Kind     string    `json:"kind"`
	CallID   string    `json:"call_id"`
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
	ToDevice string    `json:"to_device"`
	Deadline time.Time `json:"deadline"`
}

// crashClient is one device's WebSocket client (device "d" unless
// device says otherwise); it keeps the events of all its connections,
// and heartbeats every 300 ms.
type crashClient struct {
	t      *testing.T
	user   string
	device string

	mu      sync.Mutex
	ws      *websocket.Conn
	conn    int           // connections made so far
	events  [][]wireEvent // by connection
	replies map[string]chan reply
	next    int
	dead    chan struct{} // closed when the current connection ends
}

// reply is a request's reply: its result, or its error's code.
type reply struct {
	result json.RawMessage
	code   string
}

func (c *crashClient) dial(base string) error {
	device := c.device
	if device == "" {
		device = "d"
	}
	resp, err := http.Post(base+"/v1/dev/token", "application/json", strings.NewReader(`{"user":"`+c.user+`","device":"`+device+`"}`))
	if err != nil {
		return err
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/v1/ws?token="+tok.Token, nil)
	if err != nil {
		return err
	}
	ws.SetReadLimit(-1)
	dead := make(chan struct{})
	c.mu.Lock()
	c.ws, c.dead = ws, dead
	c.conn++
	c.events = append(c.events, nil)
	n := c.conn - 1
	c.mu.Unlock()
	hello := make(chan struct{})
	go func() {
		defer close(dead)
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			var head struct {
				Type   string          `json:"type"`
				ID     string          `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  *struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			_ = json.Unmarshal(b, &head)
			switch head.Type {
			case "hello":
				close(hello)
			case "event":
				var ev wireEvent
				_ = json.Unmarshal(b, &ev)
				c.mu.Lock()
				c.events[n] = append(c.events[n], ev)
				c.mu.Unlock()
			case "reply":
				c.mu.Lock()
				ch := c.replies[head.ID]
				delete(c.replies, head.ID)
				c.mu.Unlock()
				if ch != nil {
					if head.Error != nil {
						ch <- reply{code: head.Error.Code}
					} else {
						ch <- reply{result: head.Result}
					}
				}
			}
		}
	}()
	select {
	case <-hello:
	case <-dead:
		return fmt.Errorf("%s: no hello", c.user)
	}
	go func() {
		for {
			select {
			case <-dead:
				return
			case <-time.After(300 * time.Millisecond):
				c.do("heartbeat", nil)
			}
		}
	}()
	return nil
}

// do sends a request and returns its result, or nil for an error reply
// or a connection that ended first.
func (c *crashClient) do(op string, args map[string]any) json.RawMessage {
	return c.request(op, args).result
}

// request sends a request and returns its reply; a connection that ended
// first gives neither a result nor a code. A request refused with
// rate_limited was not run: it is sent again a second later, as a client
// that keeps to the limits would (a connection's burst is smaller than
// the checks' queries of one client after a restart, and a connection
// that keeps asking at once is closed).
func (c *crashClient) request(op string, args map[string]any) reply {
	for range 30 {
		r := c.requestOnce(op, args)
		if r.code != "rate_limited" {
			return r
		}
		time.Sleep(time.Second)
	}
	return reply{code: "rate_limited"}
}

func (c *crashClient) requestOnce(op string, args map[string]any) reply {
	c.mu.Lock()
	c.next++
	id := strconv.Itoa(c.next)
	ch := make(chan reply, 1)
	if c.replies == nil {
		c.replies = map[string]chan reply{}
	}
	c.replies[id] = ch
	ws, dead := c.ws, c.dead
	c.mu.Unlock()
	m := map[string]any{"type": "request", "id": id, "op": op}
	for k, v := range args {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	if ws.Write(context.Background(), websocket.MessageText, b) != nil {
		return reply{}
	}
	select {
	case r := <-ch:
		return r
	case <-dead:
		return reply{}
	}
}

// eventsOf returns the events of connection n.
func (c *crashClient) eventsOf(n int) []wireEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]wireEvent(nil), c.events[n]...)
}

// TestCrashRecovery runs the server as a process with -data, kills it
// (SIGKILL) while callers ring under load, and restarts it on the same
// directory. Every call a client was told of is there with its deadline,
// and every one told over is not; Seq goes on; the invitees, reconnecting
// within the grace period, get their replays; a caller that does not
// reconnect is logged out when the grace period ends, and G7 cancels its
// call then.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server as a process")
	}
	dir := t.TempDir()
	args := []string{"-addr", "127.0.0.1:0", "-data", dir, "-heartbeat", "3s", "-checkpoint-entries", "40"}
	srv := startChild(t, args...)

	const pairs = 6
	var callers, callees []*crashClient
	for i := range pairs {
		callers = append(callers, &crashClient{t: t, user: fmt.Sprintf("caller%d", i)})
		callees = append(callees, &crashClient{t: t, user: fmt.Sprintf("callee%d", i)})
	}
	lost := &crashClient{t: t, user: "lost"}
	for _, c := range append(append(append([]*crashClient{}, callers...), callees...), lost) {
		if err := c.dial(srv.base); err != nil {
			t.Fatal(err)
		}
	}
	var lostCall struct {
		CallID   string    `json:"call_id"`
		Deadline time.Time `json:"deadline"`
	}
	if err := json.Unmarshal(lost.do("invite", map[string]any{"invitees": []string{"callee0"}, "timeout_ms": 120000}), &lostCall); err != nil {
		t.Fatal(err)
	}

	// told[call] is the deadline a caller was told; over, the calls a
	// caller was told are over (it cancelled them).
	var mu sync.Mutex
	told := map[string]time.Time{lostCall.CallID: lostCall.Deadline}
	over := map[string]bool{}
	cancelling := map[string]bool{} // a cancel sent, its reply maybe lost in the crash: over or not
	owner := map[string]*crashClient{lostCall.CallID: lost}
	var wg sync.WaitGroup
	for i, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				res := c.do("invite", map[string]any{"invitees": []string{callees[i].user}, "timeout_ms": 120000})
				if res == nil {
					return // the server is gone
				}
				var r struct {
					CallID   string    `json:"call_id"`
					Deadline time.Time `json:"deadline"`
				}
				_ = json.Unmarshal(res, &r)
				mu.Lock()
				told[r.CallID], owner[r.CallID] = r.Deadline, c
				mu.Unlock()
				if n%3 == 2 {
					mu.Lock()
					cancelling[r.CallID] = true
					mu.Unlock()
					if c.do("cancel", map[string]any{"call_id": r.CallID, "invitees": []string{callees[i].user}}) == nil {
						return
					}
					mu.Lock()
					over[r.CallID] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = srv.cmd.Wait()
	wg.Wait()
	if snaps, _ := filepath.Glob(filepath.Join(dir, "*.snap")); len(snaps) == 0 {
		t.Errorf("no snapshot before the crash: %v", snaps)
	}
	// The calls the invitees were told of, with their deadlines.
	for i, c := range callees {
		for _, ev := range c.eventsOf(0) {
			mu.Lock()
			switch ev.Kind {
			case "InvitationReceived":
				if d, ok := told[ev.CallID]; ok && !d.Equal(ev.Deadline) {
					t.Errorf("%s: call %s deadline %v, its caller was told %v", c.user, ev.CallID, ev.Deadline, d)
				}
				told[ev.CallID] = ev.Deadline
				if owner[ev.CallID] == nil {
					owner[ev.CallID] = callers[i]
				}
			case "InvitationCancelled":
				over[ev.CallID] = true
			}
			mu.Unlock()
		}
	}

	srv = startChild(t, args...)
	restarted := time.Now()
	for _, c := range append(append([]*crashClient{}, callers...), callees...) {
		if err := c.dial(srv.base); err != nil {
			t.Fatal(err)
		}
	}
	// Every call a client was told of: there with its deadline, or over.
	for id, deadline := range told {
		asker := owner[id]
		if asker == lost { // not back: its invitee asks
			asker = callees[0]
		}
		res := asker.do("call", map[string]any{"call_id": id})
		if cancelling[id] && !over[id] {
			if res == nil {
				over[id] = true // the cancel was journaled, its reply lost
			}
			continue
		}
		if over[id] {
			if res != nil {
				t.Errorf("call %s, told over, is there: %s", id, res)
			}
			continue
		}
		var info struct {
			Members []struct {
				User     string    `json:"user"`
				Deadline time.Time `json:"deadline"`
			} `json:"members"`
		}
		if res == nil || json.Unmarshal(res, &info) != nil || len(info.Members) != 2 {
			t.Errorf("call %s is not there: %s", id, res)
			continue
		}
		if !info.Members[1].Deadline.Equal(deadline) {
			t.Errorf("call %s deadline %v, told %v", id, info.Members[1].Deadline, deadline)
		}
	}
	t.Logf("%d calls told of, %d told over, %d with a cancel in flight", len(told), len(over), len(cancelling))
	// The invitees get their replays: every call ringing for them, lost's
	// included (the grace period has not ended), on the new connection.
	for _, c := range callees {
		want := map[string]bool{}
		for id, o := range owner {
			if !over[id] && (o.user == "lost" && c.user == "callee0" || o.user == "caller"+strings.TrimPrefix(c.user, "callee")) {
				want[id] = true
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := map[string]bool{}
			for _, ev := range c.eventsOf(1) {
				if ev.Kind == "InvitationReceived" && ev.ToDevice == "d" {
					got[ev.CallID] = true
				}
			}
			missing := 0
			for id := range want {
				if !got[id] {
					missing++
				}
			}
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d replays missing", c.user, missing, len(want))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// Seq goes on: on each device, the events of a call, over both its
	// connections, in increasing Seq.
	for _, c := range append(append([]*crashClient{}, callers...), callees...) {
		last := map[string]uint64{}
		for n := range 2 {
			for _, ev := range c.eventsOf(n) {
				if ev.Seq <= last[ev.CallID] {
					t.Errorf("%s, connection %d: call %s Seq %d after %d", c.user, n, ev.CallID, ev.Seq, last[ev.CallID])
				}
				last[ev.CallID] = ev.Seq
			}
		}
	}
	// lost does not come back: the grace period (the heartbeat timeout,
	// 3 s) ends, it is logged out, and G7 cancels its call.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cancelled *wireEvent
		for _, ev := range callees[0].eventsOf(1) {
			if ev.CallID == lostCall.CallID && ev.Kind == "InvitationCancelled" {
				cancelled = &ev
			}
		}
		if cancelled != nil {
			if cancelled.Reason != "CallerOffline" {
				t.Fatalf("lost's call cancelled for %q", cancelled.Reason)
			}
			if since := time.Since(restarted); since > 8*time.Second {
				t.Fatalf("lost's call cancelled %v after the restart", since)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lost's call not cancelled; server log:\n%s", srv.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
