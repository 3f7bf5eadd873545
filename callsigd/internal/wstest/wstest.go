// Package wstest is a WebSocket client of callsigd's protocol for tests,
// shared by the tests of internal/server and of the daemon itself. A
// Client keeps every frame it receives and fails its test, through a
// testing.TB, on a frame the protocol does not allow; its waits wait for
// frames, never for time, up to WaitLimit.
//
// It is test support only: no program imports it.
package wstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callsig/callsig/events"
	"github.com/coder/websocket"
)

// WaitLimit bounds every wait of a Client for something a server must do.
const WaitLimit = 10 * time.Second

// Hello is the server's first frame on a connection, as a client reads it.
type Hello struct {
	Type       string `json:"type"` // "hello"
	User       string `json:"user"`
	Device     string `json:"device"`
	ServerTime string `json:"server_time"`
}

// Reply is a reply frame as a client reads it: Result on success, Error
// on failure.
type Reply struct {
	Type   string          `json:"type"`
	ID     *string         `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *ReplyError     `json:"error"`
}

// ReplyError is the error of a failed request's Reply.
type ReplyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Client is a real WebSocket client of a server that keeps everything it
// receives. Its methods may be called from the test's goroutine while it
// reads; a failure it finds fails T.
type Client struct {
	T            testing.TB
	User, Device string
	// WS is the connection, for a test that writes or closes it itself.
	WS *websocket.Conn

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced whenever something arrives
	hello       *Hello
	events      []events.Event
	eventFrames []json.RawMessage
	replies     map[string]json.RawMessage
	replyList   []json.RawMessage // every reply, in order
	ended       error             // why the connection ended, once it has
	nextID      int
}

// Dial connects to url (a /v1/ws URL with its token) as user/device and
// keeps reading until the connection ends; the connection is closed when
// the test ends. It does not wait for the hello: Hello does.
func Dial(t testing.TB, url, user, device string) (*Client, error) {
	t.Helper()
	ws, resp, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %s)", err, resp.Status)
		}
		return nil, err
	}
	ws.SetReadLimit(-1)
	c := &Client{T: t, User: user, Device: device, WS: ws, changed: make(chan struct{}), replies: map[string]json.RawMessage{}}
	t.Cleanup(func() { _ = ws.CloseNow() })
	go c.read()
	return c, nil
}

// read keeps every frame until the connection ends.
func (c *Client) read() {
	for {
		_, b, err := c.WS.Read(context.Background())
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
			c.T.Errorf("%s/%s got a frame that is not JSON: %s", c.User, c.Device, b)
		}
		switch head.Type {
		case "hello":
			var h Hello
			_ = json.Unmarshal(b, &h)
			c.hello = &h
		case "reply":
			c.replies[head.ID] = b
			c.replyList = append(c.replyList, b)
		case "event":
			var raw map[string]any
			_ = json.Unmarshal(b, &raw)
			if _, ok := raw["to"]; ok {
				c.T.Errorf("event frame with \"to\": %s", b)
			}
			if _, ok := raw["offline"]; ok {
				c.T.Errorf("event frame with \"offline\": %s", b)
			}
			var ev events.Event
			if err := json.Unmarshal(b, &ev); err != nil {
				c.T.Errorf("event frame %s: %v", b, err)
			}
			ev.To = c.User // implied by the connection
			c.events = append(c.events, ev)
			c.eventFrames = append(c.eventFrames, b)
		default:
			c.T.Errorf("frame of unknown type: %s", b)
		}
		c.notify()
		c.mu.Unlock()
	}
}

// notify wakes every wait; c.mu is held.
func (c *Client) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// WaitFor waits until f is true, failing the test if the connection ends
// first or WaitLimit passes. f is called without c's lock, so it may use
// c's other methods (Events, EventFrames, Replies); it is called again
// after every frame.
func (c *Client) WaitFor(what string, f func() bool) {
	c.T.Helper()
	c.wait("no "+what+" within", func(ended error) bool {
		if f() {
			return true
		}
		if ended != nil {
			c.T.Fatalf("%s/%s: waiting for %s, the connection ended: %v", c.User, c.Device, what, ended)
		}
		return false
	})
}

// wait calls f with why the connection ended (nil while it is open)
// until f is true, failing the test with "user/device: late WaitLimit"
// once WaitLimit has passed.
func (c *Client) wait(late string, f func(ended error) bool) {
	c.T.Helper()
	deadline := time.NewTimer(WaitLimit)
	defer deadline.Stop()
	for {
		// ch is taken before f is called, so a frame that arrives while f
		// runs closes ch and f is called again.
		c.mu.Lock()
		ch, ended := c.changed, c.ended
		c.mu.Unlock()
		if f(ended) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			c.T.Fatalf("%s/%s: %s %v", c.User, c.Device, late, WaitLimit)
		}
	}
}

// Hello waits for the server's hello and returns it.
func (c *Client) Hello() *Hello {
	c.T.Helper()
	var h *Hello
	c.WaitFor("hello", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		h = c.hello
		return h != nil
	})
	return h
}

// WaitEnd waits until the connection ends and returns why.
func (c *Client) WaitEnd() error {
	c.T.Helper()
	var why error
	c.wait("still open after", func(ended error) bool {
		why = ended
		return ended != nil
	})
	return why
}

// Ended returns why the connection ended, or nil while it is open.
func (c *Client) Ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// Events returns the events received so far, each with To set to the
// connection's user.
func (c *Client) Events() []events.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]events.Event(nil), c.events...)
}

// EventFrames returns the event frames received so far, as they came.
func (c *Client) EventFrames() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]json.RawMessage(nil), c.eventFrames...)
}

// Replies returns every reply frame received so far, in order.
func (c *Client) Replies() []json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]json.RawMessage(nil), c.replyList...)
}

// WaitEvents waits until n events have arrived and returns them all.
func (c *Client) WaitEvents(n int) []events.Event {
	c.T.Helper()
	c.WaitFor(strconv.Itoa(n)+" events", func() bool { return len(c.Events()) >= n })
	return c.Events()
}

// Send writes one text frame.
func (c *Client) Send(frame string) {
	c.T.Helper()
	if err := c.WS.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
		c.T.Fatalf("%s/%s: write: %v", c.User, c.Device, err)
	}
}

// SendRequest sends a request of op with args and returns its id, the
// user's name and a sequence number ("alice-1").
func (c *Client) SendRequest(op string, args map[string]any) string {
	c.T.Helper()
	c.mu.Lock()
	c.nextID++
	id := c.User + "-" + strconv.Itoa(c.nextID)
	c.mu.Unlock()
	m := map[string]any{"type": "request", "id": id, "op": op}
	for k, v := range args {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	c.Send(string(b))
	return id
}

// ReplyTo waits for the reply with id and returns it, decoded.
func (c *Client) ReplyTo(id string) Reply {
	c.T.Helper()
	var b json.RawMessage
	c.WaitFor("the reply to "+id, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		b = c.replies[id]
		return b != nil
	})
	return c.decode(b)
}

// NthReply waits for the n-th reply (from 1) and returns it, decoded.
func (c *Client) NthReply(n int) Reply {
	c.T.Helper()
	c.WaitFor(strconv.Itoa(n)+" replies", func() bool { return len(c.Replies()) >= n })
	return c.decode(c.Replies()[n-1])
}

// decode decodes the reply frame b.
func (c *Client) decode(b json.RawMessage) Reply {
	c.T.Helper()
	var r Reply
	if err := json.Unmarshal(b, &r); err != nil {
		c.T.Fatalf("reply %s: %v", b, err)
	}
	return r
}

// Do sends a request and waits for its reply: its result, or the error's
// code ("" on success).
func (c *Client) Do(op string, args map[string]any) (json.RawMessage, string) {
	c.T.Helper()
	r := c.ReplyTo(c.SendRequest(op, args))
	if r.Error != nil {
		return nil, r.Error.Code
	}
	if r.Result == nil {
		c.T.Fatalf("%s: a reply with neither result nor error", op)
	}
	return r.Result, ""
}

// OK is Do for a request that must succeed; it decodes the result into
// out, if out is not nil.
func (c *Client) OK(op string, args map[string]any, out any) {
	c.T.Helper()
	res, code := c.Do(op, args)
	if code != "" {
		c.T.Fatalf("%s/%s %s %v: error %s", c.User, c.Device, op, args, code)
	}
	if out != nil {
		if err := json.Unmarshal(res, out); err != nil {
			c.T.Fatalf("%s result %s: %v", op, res, err)
		}
	}
}

// Fails is Do for a request that must fail with code.
func (c *Client) Fails(code, op string, args map[string]any) {
	c.T.Helper()
	if _, got := c.Do(op, args); got != code {
		c.T.Fatalf("%s/%s %s %v: code %q, want %q", c.User, c.Device, op, args, got, code)
	}
}
