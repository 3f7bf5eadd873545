package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callsig/callsig/clock"
	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// The close codes the server sends, besides WebSocket's own (1001 going
// away at shutdown, 1008 policy violation, 1009 message too big, 1012
// service restart at ReleaseAll).
const (
	CloseReplaced  websocket.StatusCode = 4000 // another connection of the same user and device took over
	CloseHeartbeat websocket.StatusCode = 4001 // no heartbeat within the -heartbeat timeout (H5)
)

// conn is one WebSocket connection: one logged-in device of one user.
//
// Frames to the client (the hello, events, replies) go through out, a
// bounded queue that one writer goroutine empties in order: the
// Registry's Sink only ever tries to put a frame in it and never waits,
// so a client that stops reading holds up nobody but itself. When its
// queue is full, the connection is torn down at once (see overflow) and
// the device logged out.
type conn struct {
	s            *Server
	ws           *websocket.Conn
	user, device string
	log          *slog.Logger

	out    chan []byte
	ready  chan struct{}              // closed once the device is logged in: the writer starts then
	early  earlyFrames                // the frames sent before ready that out has no room for
	grace  atomic.Pointer[time.Timer] // close's closeGrace timer, stopped once the connection is torn down
	ctx    context.Context            // cancelled to tear the connection down at once
	cancel context.CancelFunc
	wrote  chan struct{} // closed when the writer has returned

	closing atomic.Bool // the server has decided to close: no more commands are run

	// Guarded by the Server's mu (see attach): the connection's stamp
	// (Stamp), and whether a newer connection of its device replaced it
	// while it claimed the device.
	stamp Stamp
	lost  bool
	once  sync.Once // the first reason to close wins

	// Set by close before it queues the writer's signal to close.
	closeCode   websocket.StatusCode
	closeReason string

	limiter *rate.Limiter // requests
	strikes *rate.Limiter // rate_limited replies tolerated before the connection is closed

	hbMu sync.Mutex
	hb   clock.Timer // H5: closes the connection when no heartbeat came in time; nil without -heartbeat
}

func (s *Server) newConn(ws *websocket.Conn, user, device string) *conn {
	l := s.cfg.Limits
	c := &conn{
		s: s, ws: ws, user: user, device: device,
		log:     s.log.With("user", user, "device", device),
		out:     make(chan []byte, l.SendQueue),
		ready:   make(chan struct{}),
		wrote:   make(chan struct{}),
		limiter: rate.NewLimiter(l.Rate, l.Burst),
		strikes: rate.NewLimiter(l.StrikeRate, l.Strikes),
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	return c
}

// earlyFrames holds the frames a connection is sent before its device is
// logged in (the hello, the login's replays, G8 and A7, and any event
// that comes meanwhile) that its send queue has no room for: those are
// not held to the queue's bound, since a user may have more invitations
// ringing than it holds, and its client must hear every one, or anyone
// could keep it off the server by inviting it often enough. Their number
// is bounded by the Registry's state. The writer sends the frames the
// queue held at its start first, then these, then the queue's (see
// writeLoop).
type earlyFrames struct {
	started atomic.Bool // set by startEarly, under mu: send queues on out alone from then on
	mu      sync.Mutex
	frames  [][]byte
	dropped bool // by dropEarly: frames sent before the start are forgotten
}

// sendEarly queues frame on a connection whose writer has not started:
// on the send queue while it has room and nothing waits beyond it, else
// in c.early. It reports false, queuing nothing, if the writer has
// started meanwhile.
func (c *conn) sendEarly(frame []byte) bool {
	e := &c.early
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started.Load() {
		return false
	}
	if e.dropped {
		return true
	}
	if len(e.frames) == 0 {
		select {
		case c.out <- frame:
			return true
		default:
		}
	}
	e.frames = append(e.frames, frame)
	return true
}

// startEarly ends sendEarly's queuing and returns how many frames the
// send queue holds, all sent before, and the frames kept beyond them,
// which follow them in order. The writer calls it once, when it starts.
func (c *conn) startEarly() (queued int, beyond [][]byte) {
	e := &c.early
	e.mu.Lock()
	defer e.mu.Unlock()
	queued = len(c.out) // before started is set: no frame sent after it is counted
	e.started.Store(true)
	beyond, e.frames = e.frames, nil
	return queued, beyond
}

// dropEarly forgets the frames sent so far, the hello first, and those
// sent until the writer starts: the login was refused, and the client
// must not read a hello, which says it is done. It is called before the
// writer starts, which alone takes frames from the send queue after.
func (c *conn) dropEarly() {
	e := &c.early
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started.Load() {
		return
	}
	e.dropped, e.frames = true, nil
	for {
		select {
		case <-c.out:
		default:
			return
		}
	}
}

// send queues frame for the client without waiting. If the queue is
// full, the client is not reading fast enough: the connection is torn
// down and false returned. Before the device is logged in, the frames
// the queue has no room for wait in c.early instead, with no bound.
func (c *conn) send(frame []byte) bool {
	if c.ctx.Err() != nil {
		return false
	}
	if !c.early.started.Load() && c.sendEarly(frame) {
		return true
	}
	select {
	case c.out <- frame:
		return true
	default:
		c.overflow()
		return false
	}
}

// overflow tears down a connection whose send queue is full. It cannot
// send a close frame, which would wait behind the frames the client does
// not read: it drops the TCP connection, and its handler then logs the
// device out.
func (c *conn) overflow() {
	c.once.Do(func() {
		c.closing.Store(true)
		c.s.m.closes.WithLabelValues("slow").Inc()
		c.log.Warn("send queue full: client not reading, connection dropped", "queue", cap(c.out))
		c.cancel()
	})
}

// closeGrace is how long a connection being closed may take to send
// what it has queued and to finish the close handshake before it is
// dropped: a client that does not read cannot hold it open.
const closeGrace = 5 * time.Second

// close closes the connection with code and reason, for the reason why
// (a metrics label), without waiting: the frames already queued (the
// replies to requests read before, say) go out first, then the close
// frame, which the writer sends. If the queue is full, or the close has
// not finished within closeGrace, the connection is dropped instead.
func (c *conn) close(code websocket.StatusCode, reason, why string) {
	c.once.Do(func() {
		c.closing.Store(true)
		c.s.m.closes.WithLabelValues(why).Inc()
		c.log.Info("closing connection", "code", int(code), "reason", reason)
		c.closeCode, c.closeReason = code, reason
		select {
		case c.out <- nil: // the writer's signal to close (see writeLoop)
			c.grace.Store(time.AfterFunc(closeGrace, c.cancel))
		default:
			c.cancel()
		}
	})
}

// writeLoop writes queued frames in order until the connection is torn
// down or a write fails. It starts writing once the device is logged in,
// so that a client that has read the hello knows its login is done: what
// it sends next is acted on with its device online.
func (c *conn) writeLoop() {
	defer close(c.wrote)
	select {
	case <-c.ready:
	case <-c.ctx.Done():
		return
	}
	// What was sent before ready, in order: the queue's frames of then,
	// then those kept beyond them (a close queued meanwhile is among the
	// queue's: a refused login's is alone there, see dropEarly). Then the
	// queue.
	queued, beyond := c.startEarly()
	for range queued {
		if !c.write(<-c.out) {
			return
		}
	}
	for _, f := range beyond {
		if !c.write(f) {
			return
		}
	}
	for {
		select {
		case <-c.ctx.Done():
			return
		case f := <-c.out:
			if !c.write(f) {
				return
			}
		}
	}
}

// write writes one frame of the writer, or, for nil, the close frame
// that close queued, and reports whether the writer goes on.
func (c *conn) write(f []byte) bool {
	if f == nil { // close queued this: everything before it is out
		_ = c.ws.Close(c.closeCode, c.closeReason)
		return false
	}
	if err := c.ws.Write(c.ctx, websocket.MessageText, f); err != nil {
		c.cancel()
		return false
	}
	return true
}

// readLoop reads and runs requests until the connection ends.
func (c *conn) readLoop() {
	for {
		typ, data, err := c.read()
		if errors.Is(err, errTooBig) {
			// Closed through the writer, as every close the server makes,
			// so that the replies to the requests read before go out
			// first. The rest of the message is left unread: the close
			// handshake skips it, and no other message may be read before.
			c.close(websocket.StatusMessageTooBig, "message too big", "too_big")
			select {
			case <-c.wrote:
			case <-c.ctx.Done():
			}
			return
		}
		if err != nil {
			if st := websocket.CloseStatus(err); st != -1 {
				c.log.Debug("connection closed", "code", int(st))
			} else if !errors.Is(err, context.Canceled) {
				c.log.Debug("connection ended", "err", err)
			}
			return
		}
		if c.closing.Load() {
			continue // closing: the close handshake drains what is left
		}
		c.handle(typ, data)
	}
}

// errTooBig is read's error for a message of more than MaxMessage bytes.
var errTooBig = errors.New("message too big")

// read reads the next message. One of more than MaxMessage bytes is read
// no further than that, and errTooBig returned. The WebSocket's own read
// limit, which would send its close frame at once, ahead of the frames
// queued, is above MaxMessage (see serveWS) and never reached.
func (c *conn) read() (websocket.MessageType, []byte, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, MaxMessage+1))
	if err != nil {
		return 0, nil, err
	}
	if len(b) > MaxMessage {
		return 0, nil, errTooBig
	}
	return typ, b, nil
}

// handle answers one frame.
func (c *conn) handle(typ websocket.MessageType, data []byte) {
	now := c.s.clock.Now()
	if !c.limiter.AllowN(now, 1) {
		if !c.strikes.AllowN(now, 1) {
			c.close(websocket.StatusPolicyViolation, "rate limit exceeded", "rate_limited")
			return
		}
		var id json.RawMessage
		if r, err := parseRequest(data); err == nil {
			id = r.ID
		}
		c.reply(id, "", nil, errRateLimited, time.Time{})
		return
	}
	start := time.Now() // wall time: the latency histogram measures the server, not the Registry's clock
	if typ != websocket.MessageText {
		c.reply(nil, "", nil, &badRequest{msg: "binary frames are not accepted: send JSON text"}, start)
		return
	}
	r, err := parseRequest(data)
	if err != nil {
		var br *badRequest
		errors.As(err, &br)
		c.reply(br.id, "", nil, err, start)
		return
	}
	res, err := c.s.exec(c, r)
	op := r.Op
	if _, unknown := err.(*badRequest); unknown {
		op = "" // unknown ops are not labels: a client could make the metrics grow without bound
	}
	c.reply(r.ID, op, res, err, start)
}

// reply queues the reply to a request and counts it.
func (c *conn) reply(id json.RawMessage, op string, res any, err error, start time.Time) {
	frame, code := encodeReply(id, res, err)
	if op == "" {
		op = "none"
	}
	c.s.m.commands.WithLabelValues(op, code).Inc()
	if !start.IsZero() {
		c.s.m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	}
	c.send(frame)
}

// startHeartbeat arms the H5 timer, when the server has a heartbeat
// timeout: a connection whose device the Registry logs out for a missed
// heartbeat is closed too, so that it does not linger, open and deaf.
func (c *conn) startHeartbeat() {
	d := c.s.cfg.Options.HeartbeatTimeout
	if d <= 0 {
		return
	}
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	c.hb = c.s.clock.AfterFunc(d, c.heartbeatLapsed)
}

// heartbeatLapsed closes a connection that sent no heartbeat in time.
func (c *conn) heartbeatLapsed() { c.close(CloseHeartbeat, "heartbeat timeout", "heartbeat") }

// beat pushes the H5 timer back after a heartbeat.
func (c *conn) beat() {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	if c.hb == nil {
		return
	}
	if r, ok := c.hb.(clock.Resetter); ok {
		r.Reset(c.s.cfg.Options.HeartbeatTimeout)
		return
	}
	c.hb.Stop()
	c.hb = c.s.clock.AfterFunc(c.s.cfg.Options.HeartbeatTimeout, c.heartbeatLapsed)
}

// stopHeartbeat stops the H5 timer of a connection that ended.
func (c *conn) stopHeartbeat() {
	c.hbMu.Lock()
	defer c.hbMu.Unlock()
	if c.hb != nil {
		c.hb.Stop()
	}
}
