package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/clock"
	"github.com/callsig/callsig/events"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"
)

// MaxMessage is the largest message a client may send, in bytes
// (PROTOCOL.md): a larger one closes the connection with 1009.
const MaxMessage = 64 << 10

// Pusher takes the offline events (PROTOCOL.md, Offline events): event is
// the event's frame, as a connection would get it, for user to. Enqueue
// must not block: it is called from the Registry's Sink. It is called in
// Seq order for the events of one call. *push.Webhook is one.
type Pusher interface {
	Enqueue(to, callID string, event []byte)
}

// Limits bound what one connection may cost. Zero fields take their
// defaults.
type Limits struct {
	// SendQueue is how many frames may wait for a client to read them;
	// a client that lets more pile up is disconnected and logged out.
	// The frames sent before its login is done (the hello and the
	// login's replays) are not counted: they go out first. 0: 256.
	SendQueue int

	// Rate and Burst bound a connection's requests: Burst at once, then
	// Rate a second. A request over the limit gets a rate_limited reply
	// and is not run. 0: 20 a second, bursts of 40.
	Rate  rate.Limit
	Burst int

	// Strikes is how many rate_limited replies a connection may get at
	// once, regaining StrikeRate a second: one more closes it with 1008
	// (policy violation). 0: 10, one a second.
	Strikes    int
	StrikeRate rate.Limit
}

func (l *Limits) defaults() {
	if l.SendQueue <= 0 {
		l.SendQueue = 256
	}
	if l.Rate <= 0 {
		l.Rate = 20
	}
	if l.Burst <= 0 {
		l.Burst = 40
	}
	if l.Strikes <= 0 {
		l.Strikes = 10
	}
	if l.StrikeRate <= 0 {
		l.StrikeRate = 1
	}
}

// Config configures a Server.
type Config struct {
	// Options are the Registry's. New sets their Sink (the Server) and
	// Clock (Config.Clock); the rest are used as they are.
	Options call.Options

	// NewRegistry makes the Registry from Options; nil: call.NewRegistry.
	// A durable server recovers its Registry here.
	NewRegistry func(call.Options) (*call.Registry, error)

	// NewBackend, when not nil, makes the Backend from Options instead of
	// NewRegistry (which must then be nil): a replicated Registry, say.
	// The devices a Backend made so has online are not this server's
	// (see Shared): none is given the grace period of Grace, and its
	// Options do not set ResumeHeartbeats.
	NewBackend func(call.Options) (Backend, error)

	// Shared says that other servers front the same Backend (a cluster):
	// a device may be online through another server's connection. A new
	// connection of a device then first asks Claim to have the other
	// servers let go of theirs, and gets its replays (G8, A7) by Replay
	// when the device is already online (a Login would do nothing for
	// it), else by Login; and no device online at start is logged out by
	// this server (Grace does not apply).
	Shared bool

	// Claim, with Shared, is called when a device connects here, before
	// its login, with the new connection's stamp: it tells the other
	// servers to close their connections of the device older than stamp,
	// if they have any, without logging it out (see Server.Release), and
	// returns the newest stamp they answered of a connection of the
	// device newer than stamp (zero if none): the new connection is then
	// the one replaced. It may fail to reach some; it must return within
	// a bounded time. It is called with no lock held, and the other
	// servers' Release answers without waiting for a claim of theirs, so
	// that two servers claiming a device from each other at once both
	// get their answers. nil: nothing is done.
	Claim func(user, device string, stamp Stamp) (newer Stamp)

	// Node names this server among those that share the Backend (a
	// cluster node's ID): it orders the stamps of connections made at
	// the same time (Stamp). Empty: a random name.
	Node string

	// Health, when not nil, is asked by GET /healthz: an error makes it
	// answer 503 with the error's message (a cluster node without a
	// leader, say).
	Health func() error

	// ReadBarrier, when not nil, is called before the call and history
	// ops read the Backend, and returns once its queries see at least
	// every command committed before it was called: a shared Backend's
	// queries may lag what the other servers did (a cluster node's
	// replica). Its error fails the op, with its code, and nothing is
	// read.
	ReadBarrier func() error

	// Routes are more HTTP endpoints, by ServeMux pattern ("GET /v1/x").
	Routes map[string]http.Handler

	Clock  clock.Clock     // nil: clock.Real(); the Registry's, the tokens' and the rate limits' time
	Auth   *auth.Authority // checks the tokens of /v1/ws; required
	Dev    bool            // serve POST /v1/dev/token, minting tokens with Auth for anyone
	Pusher Pusher          // where offline events go; nil: they are logged
	Logger *slog.Logger    // nil: slog.Default()

	// AllowedOrigins are the origins, besides the server's own, whose
	// pages may open the WebSocket: host patterns as
	// websocket.AcceptOptions.OriginPatterns takes them.
	AllowedOrigins []string

	// Static is the file tree served at / (the browser app); nil: none.
	Static fs.FS

	Limits Limits

	// KeepPresence makes Shutdown close the connections without logging
	// their devices out, so that a durable Registry restarted on the
	// same state finds them online and gives them time to reconnect
	// rather than cancel their calls (G7). Without it, Shutdown logs every
	// device out, and the invitees of unanswered calls are told the
	// caller went offline, as pushes.
	KeepPresence bool

	// Grace is how long each device the Registry has online when
	// NewRegistry returns it (a Registry recovered after a crash or a
	// stop with KeepPresence: call.Registry.Online) has to reconnect
	// before the server logs it out (PROTOCOL.md, Durability). A device
	// that reconnects within it is online again and gets its replays
	// (G8, A7), after the events made for it meanwhile, which the server
	// holds for it (see hold); one that does not is logged out, and G7
	// cancels its user's unanswered calls then, not at the restart; what
	// was held for it is dropped. New has
	// NewRegistry recover with Options.ResumeHeartbeats, so that the
	// Registry's heartbeat deadlines (H5) restart from the recovery
	// rather than end the grace period at once. 0: the HeartbeatTimeout
	// of Options if set, else DefaultGrace.
	Grace time.Duration
}

// DefaultGrace is Config.Grace without a heartbeat timeout.
const DefaultGrace = 30 * time.Second

// The retries of a Logout the Registry refused (its Journal, D1): the
// first after logoutRetryFirst, each later one twice as long after the
// one before (at most logoutRetryMax), logoutTries attempts in all.
const (
	logoutRetryFirst = 50 * time.Millisecond
	logoutRetryMax   = 5 * time.Second
	logoutTries      = 10
)

// Server is callsigd's HTTP and WebSocket front of one call.Registry, or
// of one node of a replicated Registry (a Backend).
type Server struct {
	cfg   Config
	clock clock.Clock
	reg   Backend
	log   *slog.Logger
	m     *metrics
	mux   *http.ServeMux

	ctx    context.Context // the parent of every connection's context
	cancel context.CancelFunc

	mu      sync.RWMutex
	devices map[string]map[string]*conn // user → device → the connection that is that device (events go there)
	open    map[*conn]struct{}          // every connection not yet torn down, replaced ones included
	closing bool                        // Shutdown has begun: no connection is taken
	wg      sync.WaitGroup              // connection handlers

	presence keyLocks // orders the Registry presence changes of one user and device with the table above

	// The connections' stamps (Stamp): node is this server's name, hlc
	// the last stamp's Time made or heard of; claiming holds, by user and
	// device, the newest connection whose claim is under way (attach),
	// not yet in devices. Guarded by mu.
	node     string
	hlc      int64
	claiming map[[2]string]*conn

	// Devices online in the Registry with no connection, that the server
	// logs out when their timer fires unless they reconnect first: those
	// of a recovered Registry (Config.Grace), and those whose Logout the
	// Registry refused (retried with backoff). Guarded by mu; filed with
	// the device's presence lock held; dropped with it held (attach), or
	// without it by Shutdown and by Release (another server took the
	// device over), which expire checks for after each Logout.
	orphans map[[2]string]*orphan

	// The events held for the devices in their grace period, by user and
	// device (see hold); starting is set while New makes the Registry,
	// whose events for users with a device online wait in early until the
	// holds are made. Guarded by mu.
	held     map[string]map[string]*hold
	starting bool
	early    []events.Event
}

// orphan is a device online in the Registry with no connection, waiting
// for its logout.
type orphan struct {
	timer clock.Timer   // the next Logout attempt
	tries int           // Logout attempts refused so far
	wait  time.Duration // the delay before the next attempt after a refusal
}

// New returns a Server with a new Registry (or Backend).
func New(cfg Config) (*Server, error) {
	if cfg.Auth == nil {
		return nil, errors.New("server: Config.Auth is required")
	}
	if cfg.NewBackend != nil && cfg.NewRegistry != nil {
		return nil, errors.New("server: Config.NewRegistry and NewBackend exclude each other")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NewRegistry == nil {
		cfg.NewRegistry = call.NewRegistry
	}
	if cfg.Grace <= 0 {
		cfg.Grace = cfg.Options.HeartbeatTimeout
		if cfg.Grace <= 0 {
			cfg.Grace = DefaultGrace
		}
	}
	cfg.Limits.defaults()
	s := &Server{
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		devices:  map[string]map[string]*conn{},
		open:     map[*conn]struct{}{},
		orphans:  map[[2]string]*orphan{},
		held:     map[string]map[string]*hold{},
		node:     cfg.Node,
		claiming: map[[2]string]*conn{},
	}
	if s.node == "" {
		s.node = rand.Text()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// The metrics exist before the Registry: a recovered one may emit
	// at once (deadlines that passed while the server was down).
	s.m = newMetrics(func() Backend { return s.reg })
	opts := cfg.Options
	opts.Sink, opts.Clock = s, cfg.Clock
	if opts.RecoverySink == nil {
		// The events a recovery replays went out before the crash, or
		// were never heard of (output commit); nobody is connected yet,
		// and an invitee who was offline is told of what still rings
		// when it logs in (G8). Pushing them again would repeat them.
		opts.RecoverySink = events.Discard
	}
	if cfg.NewBackend != nil {
		b, err := cfg.NewBackend(opts)
		if err != nil {
			return nil, err
		}
		s.reg = b
		s.routes()
		return s, nil
	}
	// Nothing could heartbeat while the server was down: the grace
	// period, not H5, decides when a device a recovery finds online is
	// logged out (Config.Grace).
	opts.ResumeHeartbeats = true
	// What the Registry emits before the devices it has online are held
	// for (deadlines that passed while the server was down) waits until
	// they are: it is for them too.
	s.starting = true
	reg, err := cfg.NewRegistry(opts)
	if err != nil {
		return nil, err
	}
	s.reg = reg
	for _, d := range reg.Online() {
		unlock := s.presence.lock(d.User, d.Device)
		s.mu.Lock()
		s.orphanLocked(d.User, d.Device, cfg.Grace)
		s.holdLocked(d.User, d.Device)
		s.mu.Unlock()
		unlock()
	}
	s.mu.Lock()
	for _, e := range s.early {
		if frame, ok := s.encode(e); ok {
			s.routeLocked(e, frame)
		}
	}
	s.early, s.starting = nil, false
	s.mu.Unlock()
	s.routes()
	return s, nil
}

// Registry returns the Server's Registry; nil if its Backend is not a
// *call.Registry.
func (s *Server) Registry() *call.Registry {
	r, _ := s.reg.(*call.Registry)
	return r
}

// Backend returns the Server's Backend.
func (s *Server) Backend() Backend { return s.reg }

// Handler returns the Server's HTTP handler: every endpoint of
// PROTOCOL.md.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /v1/ws", s.serveWS)
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	if s.cfg.Dev {
		s.mux.HandleFunc("POST /v1/dev/token", s.serveDevToken)
	} else {
		s.mux.HandleFunc("POST /v1/dev/token", http.NotFound) // not 405 for a path the app's GET / covers
	}
	if s.cfg.Static != nil {
		s.mux.Handle("GET /", http.FileServerFS(s.cfg.Static))
	}
	for pattern, h := range s.cfg.Routes {
		s.mux.Handle(pattern, h)
	}
}

// serveHealth answers 200 while the server takes commands.
func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.RLock()
	closing := s.closing
	s.mu.RUnlock()
	if closing {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if s.cfg.Health != nil {
		if err := s.cfg.Health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// DevTokenTTL is how long a dev-mode token is good for.
const DevTokenTTL = 24 * time.Hour

// serveDevToken mints a token for anyone (dev mode only).
func (s *Server) serveDevToken(w http.ResponseWriter, r *http.Request) {
	user, device, err := devTokenRequest(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		http.Error(w, `body must be {"user":"…","device":"…"}: `+err.Error(), http.StatusBadRequest)
		return
	}
	tok, err := s.cfg.Auth.Mint(user, device, DevTokenTTL)
	if err != nil {
		http.Error(w, "user or device is not a valid ID", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

// devTokenRequest reads the body of a dev token request: one JSON object
// whose members are "user" and, optionally, "device", strings both, by
// their exact names, each at most once, and nothing after it. A misspelt
// or miscased member ("devcie", "User") is refused rather than read as
// absent, or by encoding/json's case-insensitive matching as the member
// it resembles; a member twice, or trailing data, rather than one of them
// taken: a token for a device the caller did not mean to name would log
// in a device nobody uses.
func devTokenRequest(body io.Reader) (user, device string, err error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return "", "", err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var members map[string]json.RawMessage
	if err := dec.Decode(&members); err != nil {
		return "", "", err
	}
	if members == nil {
		return "", "", errors.New("not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", "", errors.New("data after the object")
	}
	if _, dup := scanObjectNames(b, devTokenMembers, false); dup != "" {
		return "", "", fmt.Errorf("member %q twice", dup)
	}
	for name, raw := range members {
		switch name {
		case "user":
			err = json.Unmarshal(raw, &user)
		case "device":
			err = json.Unmarshal(raw, &device)
		default:
			return "", "", fmt.Errorf("unknown member %q", name)
		}
		if err != nil || len(raw) == 0 || raw[0] != '"' {
			return "", "", fmt.Errorf("member %q is not a string", name)
		}
	}
	if _, ok := members["user"]; !ok {
		return "", "", errors.New(`no "user"`)
	}
	return user, device, nil
}

// devTokenMembers are the members of a dev token request.
var devTokenMembers = []string{"user", "device"}

// serveWS authenticates a client and runs its connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	user, device, err := s.cfg.Auth.Verify(r.URL.Query().Get("token"))
	if err != nil {
		s.m.rejected.WithLabelValues("token").Inc()
		s.log.Debug("websocket refused", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "missing, malformed or expired token", http.StatusUnauthorized)
		return
	}
	s.mu.RLock()
	closing := s.closing
	s.mu.RUnlock()
	if closing {
		s.m.rejected.WithLabelValues("shutting_down").Inc()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins})
	if err != nil {
		return // Accept has answered (a bad handshake, a foreign origin)
	}
	// conn.read enforces MaxMessage itself, so that the replies queued
	// before a message that is too big go out ahead of the 1009: the
	// WebSocket's own limit, which closes at once, is never reached.
	ws.SetReadLimit(MaxMessage + 1)
	c := s.newConn(ws, user, device)
	if !s.track(c) { // Shutdown began since the check above
		s.m.rejected.WithLabelValues("shutting_down").Inc()
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.untrack(c)
	s.m.connections.Inc()
	defer s.m.connections.Dec()

	go c.writeLoop()
	// The hello goes in the queue first, so that it precedes the replays
	// the login makes; the writer sends nothing until the login is done
	// (see writeLoop). Until then the frames the send queue has no room
	// for wait beside it, so that every replay reaches the client (see
	// earlyFrames).
	hi, _ := json.Marshal(hello{"hello", user, device, s.clock.Now().UTC().Format(time.RFC3339Nano)})
	c.send(hi)
	s.attach(c)
	close(c.ready)
	c.startHeartbeat()
	c.readLoop()
	c.stopHeartbeat()
	s.detach(c)
	c.cancel()
	<-c.wrote
	if t := c.grace.Load(); t != nil {
		t.Stop() // torn down: nothing is left for it to cut short, and it would keep c
	}
	_ = ws.CloseNow()
}

// track adds c to the open connections, unless Shutdown has begun.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.open[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.open, c)
	s.mu.Unlock()
	s.wg.Done()
}

// attach makes c the connection of its device, and the device online: a
// device with no connection logs in (its replays, G8 and A7, come to c);
// one that had a connection keeps its presence, and the old connection is
// closed with 4000 (replaced). The switch and the Registry's presence
// change are made under the device's presence lock, so that a detach of
// the old connection can never log out the device after the new one took
// it over.
//
// Of the connections of a device, the newest by their stamps survives
// (Stamp), on every server alike. c is stamped as it arrives, which
// replaces an older connection of the device still claiming here; with a
// shared Backend, c then claims the device from the other servers
// (Config.Claim), holding no lock, so that a claim of theirs that
// crosses it is answered meanwhile (Release). c is replaced itself if one
// of them answers
// that it has a newer connection of the device, or if a newer connection
// was stamped here or claimed the device from here meanwhile (Release):
// such a c is closed with 4000 alone, no hello, and never logs in, and
// the device's presence is left to its newer connection.
func (s *Server) attach(c *conn) {
	key := [2]string{c.user, c.device}
	now := s.clock.Now()
	s.mu.Lock()
	c.stamp = s.stampLocked(now)
	if p := s.claiming[key]; p != nil {
		p.lost = true // its own attach closes it
	}
	s.claiming[key] = c
	s.mu.Unlock()
	var newer Stamp
	if s.cfg.Shared && s.cfg.Claim != nil {
		newer = s.cfg.Claim(c.user, c.device, c.stamp)
	}
	unlock := s.presence.lock(c.user, c.device)
	defer unlock()
	s.mu.Lock()
	s.heardLocked(newer)
	if s.claiming[key] == c {
		delete(s.claiming, key)
	}
	if c.lost || c.stamp.Less(newer) {
		s.mu.Unlock()
		c.dropEarly()
		c.close(CloseReplaced, "replaced", "replaced")
		return
	}
	byDevice := s.devices[c.user]
	if byDevice == nil {
		byDevice = map[string]*conn{}
		s.devices[c.user] = byDevice
	}
	old := byDevice[c.device]
	byDevice[c.device] = c
	o := s.orphans[key]
	if o != nil {
		o.timer.Stop()
		delete(s.orphans, key)
	}
	// The events held for the device in its grace period go first,
	// after the hello: Emit, which needs s.mu, sends c nothing before.
	dropped := s.handOverLocked(c)
	s.mu.Unlock()
	s.logDropped(c.user, c.device, dropped)
	if o != nil {
		// Online in the Registry all along (a restart's grace, or a
		// Logout not yet done): a Login would do nothing, so the
		// connection gets its replays from Replay, and its opening
		// counts as a heartbeat, as a login's does (H5).
		s.replay(c)
		s.openingBeat(c)
		return
	}
	if old == nil {
		if s.cfg.Shared {
			s.rejoin(c)
			return
		}
		s.login(c)
		return
	}
	old.close(CloseReplaced, "replaced", "replaced")
	// The device stays online, and a Login of an online device does
	// nothing: the new connection gets its replays from Replay instead,
	// which counts as no heartbeat.
	s.replay(c)
	s.openingBeat(c)
}

// openingBeat counts the opening of c, whose device was online already
// (Replay, not Login, gave it its replays), as a heartbeat of the device
// (H5), as a login's opening is: else the Registry would log the device
// out a timeout after its last heartbeat on the connection it replaced,
// and G7 cancel its user's unanswered calls, while c, whose own timer
// starts now, is open.
func (s *Server) openingBeat(c *conn) {
	if s.cfg.Options.HeartbeatTimeout <= 0 {
		return
	}
	if err := s.reg.Heartbeat(c.user, c.device); err != nil {
		c.log.Warn("heartbeat refused", "err", err)
	}
}

// login logs c's device in. The token's IDs passed the Registry's rules,
// so a refusal is the Journal's (D1), or a replicated Backend's (no
// leader reachable): the device is not online, and the
// connection, which could only hear half of what it should, is closed
// with 1013 (try again later).
func (s *Server) login(c *conn) {
	if err := s.reg.Login(c.user, c.device); err != nil {
		refused(c, "login", err)
	}
}

// refused closes c, whose login or replays the Registry refused, with 1013
// (try again later): the device cannot hear all it should. It is called
// before the writer starts, and the client gets the close alone: the
// hello would say the login is done.
func refused(c *conn, what string, err error) {
	c.log.Error(what+" refused", "err", err)
	c.dropEarly()
	c.close(websocket.StatusTryAgainLater, what+" refused", "login_refused")
}

// replay gives a connection that replaced another the replays (G8, A7)
// that a fresh login of its device would get, so that a client
// reconnecting over a half-open socket learns what is ringing. It runs
// under the device's presence lock, which attach holds, so the device
// cannot go offline in between; should it have all the same (H5: its
// heartbeat lapsed in the Registry), it is logged in, which replays the
// same.
func (s *Server) replay(c *conn) {
	err := s.reg.Replay(c.user, c.device)
	if errors.Is(err, call.ErrNotOnline) {
		s.login(c)
		return
	}
	if err != nil {
		refused(c, "replay", err)
	}
}

// relogin logs in again the device of c, a connection that is still the
// device's here, when a heartbeat finds it not online in the Registry: the
// device was logged out while the connection stayed, by a Logout that a
// former connection's node forwarded and that committed only after this
// connection's login (a cluster's election can hold one up), or by its
// heartbeat lapsing (H5) a moment before the connection's own timer. The
// login gives it the replays (G8, A7) of what rings, as a reconnection
// would; whatever G7 cancelled meanwhile stays cancelled. A connection
// that no longer holds the device, or is closing (as is the server), is
// left alone, and its heartbeat answered as any heartbeat of a device not
// online is: it does nothing.
func (s *Server) relogin(c *conn) error {
	unlock := s.presence.lock(c.user, c.device)
	defer unlock()
	s.mu.RLock()
	owner := s.devices[c.user][c.device] == c && !s.closing && !c.closing.Load()
	s.mu.RUnlock()
	if !owner {
		return nil
	}
	c.log.Warn("online again: the device was logged out while connected")
	return s.reg.Login(c.user, c.device)
}

// rejoin logs in the device of c, a connection with no predecessor here,
// in a shared Backend, where the device may be online already: through a
// connection to another server, or one to a server that died and whose
// devices stay online until their heartbeat lapses (H5). Replay gives it
// the replays (G8, A7) of a device online; then Login logs in a device
// that is not (with the same replays), or counts as the heartbeat of one
// that is (H5). A device whose heartbeat lapses between the two is logged
// in afresh and gets its replays twice, as new events.
func (s *Server) rejoin(c *conn) {
	if err := s.reg.Replay(c.user, c.device); err != nil && !errors.Is(err, call.ErrNotOnline) {
		refused(c, "replay", err)
		return
	}
	s.login(c)
}

// Release answers another server's claim (Config.Claim) of user and
// device for its connection stamped claim. This server's connection of
// the device, if it is older than claim, is closed with 4000 (replaced)
// and the device not logged out: in a shared Backend the claimer's
// connection takes it over; one still claiming here is replaced when its
// own claim returns (see attach). If this server has a connection of the
// device newer than claim, Release returns its stamp: the claimer's is
// the one replaced. It reports whether it closed a connection.
//
// It decides at once, under s.mu, without the presence lock, which an
// attach here may hold while its login waits: so a claim is answered
// even while this server's own connection of the device claims it back,
// and the stamps make both servers keep the same one. Unless it answers
// with a newer stamp, it then waits for the device's presence lock, until
// ctx ends (the claimer has given up waiting), so that a presence change
// under way here (the Logout of a connection that left) is made before
// the claimer's connection logs in, and cannot log the device out under
// it. For the same reason, a claim not answered with a newer stamp drops
// the retries of a refused Logout of the device that are pending here
// (see detach): the device is the claimer's.
func (s *Server) Release(ctx context.Context, user, device string, claim Stamp) (released bool, newer Stamp) {
	key := [2]string{user, device}
	s.mu.Lock()
	s.heardLocked(claim)
	if p := s.claiming[key]; p != nil {
		if p.stamp.Less(claim) {
			p.lost = true // its own attach closes it
		} else {
			newer = p.stamp
		}
	}
	c := s.devices[user][device]
	if c != nil && c.stamp.Less(claim) {
		delete(s.devices[user], device)
		if len(s.devices[user]) == 0 {
			delete(s.devices, user)
		}
	} else if c != nil {
		if newer.Less(c.stamp) {
			newer = c.stamp
		}
		c = nil
	}
	var voided bool
	var dropped int
	if o := s.orphans[key]; o != nil && newer.IsZero() {
		// The claimer's connection has the device now: a Logout retry
		// of a connection that left here would log it out under that
		// connection. One under way (expire holds the presence lock)
		// finds its orphan gone and tries no more.
		o.timer.Stop()
		delete(s.orphans, key)
		dropped = s.dropHeldLocked(user, device, "released") // the claimer's connection gets the device's events
		voided = true
	}
	s.mu.Unlock()
	s.logDropped(user, device, dropped)
	if voided {
		s.log.Info("logout retry dropped: another server took the device over", "user", user, "device", device)
	}
	if c != nil {
		c.close(CloseReplaced, "replaced", "replaced")
	}
	if !newer.IsZero() {
		return c != nil, newer // the claimer's connection is replaced: it changes no presence
	}
	if unlock, ok := s.presence.lockCtx(ctx, user, device); ok {
		unlock()
	}
	return c != nil, newer
}

// ReleaseAll closes every connection of a device this server has with
// 1012 (service restart), without logging the devices out, as Release
// does for one: their clients reconnect, to this server or another, and
// get the replays (G8, A7) of a device online. A cluster node calls it
// when its replica was replaced by a snapshot, which made no event for
// the entries it skipped (replica.Config.Restored). It does not wait:
// each connection sends what it has queued, then its close frame, on its
// own writer; and it takes no presence lock, which a login holds while
// its command waits for the replica. A device left with no connection
// stays online until its heartbeat lapses (H5) or it connects again.
// It returns how many connections it closed.
func (s *Server) ReleaseAll() int {
	s.mu.Lock()
	var released []*conn
	for user, byDevice := range s.devices {
		for _, c := range byDevice {
			released = append(released, c)
		}
		delete(s.devices, user)
	}
	s.mu.Unlock()
	for _, c := range released {
		c.close(websocket.StatusServiceRestart, "state replaced: reconnect", "restored")
	}
	return len(released)
}

// detach ends c's part: if c is still its device's connection, the
// device is logged out (G7 may cancel its user's unanswered calls);
// a replaced connection changes nothing. At shutdown with KeepPresence,
// the device stays online in the Registry. A Logout the Registry refuses
// is retried later (see expire), without holding the presence lock
// meanwhile, so that a reconnection of the device is not held up; but
// not once another server has claimed the device (Release), whose
// connection has it then, and whose claim drops the retries pending.
func (s *Server) detach(c *conn) {
	unlock := s.presence.lock(c.user, c.device)
	defer unlock()
	s.mu.RLock()
	owner := s.devices[c.user][c.device] == c
	keep := s.closing && s.cfg.KeepPresence
	s.mu.RUnlock()
	if !owner {
		return
	}
	// Logged out before the connection leaves the table: the events the
	// logout makes for the device (none today) could still reach it, and
	// none produced while it is online finds no connection.
	retry := !keep && !s.logout(c.user, c.device, c.log)
	s.mu.Lock()
	// Still the device's unless another server claimed it meanwhile
	// (Release): a refused Logout is not retried then, under the
	// claimer's connection.
	still := s.devices[c.user][c.device] == c
	if still {
		byDevice := s.devices[c.user]
		delete(byDevice, c.device)
		if len(byDevice) == 0 {
			delete(s.devices, c.user)
		}
	}
	if retry && still && !s.closing {
		o := s.orphanLocked(c.user, c.device, logoutRetryFirst)
		o.tries, o.wait = 1, 2*logoutRetryFirst
	}
	s.mu.Unlock()
}

// logout logs a device out and reports whether that is done: false if
// the Registry refused for its Journal (D1), when the device is still
// online and the Logout must be tried again, else G7 never cancels its
// user's unanswered calls. Another error is one no retry can mend.
func (s *Server) logout(user, device string, log *slog.Logger) bool {
	err := s.reg.Logout(user, device)
	if err == nil {
		return true
	}
	log.Error("logout refused", "err", err)
	return !errors.Is(err, call.ErrJournal)
}

// orphanLocked files a device that is online in the Registry and has no
// connection, to be logged out after d unless it reconnects first. It is
// called with s.mu and the device's presence lock held.
func (s *Server) orphanLocked(user, device string, d time.Duration) *orphan {
	key := [2]string{user, device}
	o := &orphan{wait: logoutRetryFirst}
	s.orphans[key] = o
	o.timer = s.clock.AfterFunc(d, func() { s.expire(key, o) })
	return o
}

// expire logs out an orphaned device whose time is up, unless it has
// reconnected, another server has claimed it (Release), or the server is
// shutting down. A Logout the Registry refuses (its Journal, D1) is
// tried again on the server's clock, after a delay that doubles each
// time, logoutTries times in all; then the server gives up and logs it:
// the device stays online in the Registry until it connects and
// disconnects again, or its heartbeat lapses (H5).
// At shutdown the retries stop: the device stays online, as with
// KeepPresence, and a durable Registry restarted on the same state gives
// it the grace period again.
func (s *Server) expire(key [2]string, o *orphan) {
	unlock := s.presence.lock(key[0], key[1])
	defer unlock()
	s.mu.Lock()
	current := s.orphans[key] == o && !s.closing
	var dropped int
	if current {
		dropped = s.dropHeldLocked(key[0], key[1], "expired") // no connection of the device will get it (see hold)
	}
	s.mu.Unlock()
	s.logDropped(key[0], key[1], dropped)
	if !current {
		return
	}
	log := s.log.With("user", key[0], "device", key[1])
	done := s.logout(key[0], key[1], log)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orphans[key] != o { // Shutdown or a claim (Release) forgot it meanwhile
		return
	}
	if o.tries++; done || o.tries >= logoutTries || s.closing {
		delete(s.orphans, key)
		if !done {
			log.Error("logout given up: the device stays online in the Registry", "tries", o.tries)
		}
		return
	}
	wait := o.wait
	o.wait = min(2*o.wait, logoutRetryMax)
	o.timer = s.clock.AfterFunc(wait, func() { s.expire(key, o) })
}

// Emit is the Registry's Sink: it hands each event to the connections of
// its recipient, or to the Pusher when the recipient was offline, and
// holds it for the recipient's devices in their grace period (see hold).
// It never waits: a connection whose queue is full is dropped instead
// (see conn.send). The Registry calls it in Seq order for each call, and
// so each connection's queue, each hold, and the Pusher, get each call's
// events in that order.
func (s *Server) Emit(e events.Event) {
	s.m.countEvent(e.Kind)
	if e.Offline {
		// Its user has no device online, so none in its grace period
		// (nor one about to be, while New starts): nothing is held.
		s.offline(e)
		return
	}
	s.mu.RLock()
	n := len(s.devices[e.To])
	// While New starts, every device online is about to be held.
	held := len(s.held[e.To]) > 0 || s.starting
	s.mu.RUnlock()
	if !held && n == 0 {
		return // the device's connection is being torn down: it logs out next
	}
	// Encoded once, outside the lock, for every connection of e.To.
	frame, ok := s.encode(e)
	if !ok {
		return
	}
	if !held {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for device, c := range s.devices[e.To] {
			if e.ToDevice == "" || e.ToDevice == device {
				c.send(frame)
			}
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.starting {
		s.early = append(s.early, e)
		return
	}
	s.routeLocked(e, frame)
}

// encode returns e's frame, or logs why it cannot and reports false.
func (s *Server) encode(e events.Event) ([]byte, bool) {
	frame, err := encodeEvent(e)
	if err != nil {
		s.log.Error("cannot encode event", "kind", e.Kind, "call_id", e.CallID, "seq", e.Seq, "err", err)
		return nil, false
	}
	return frame, true
}

// offline hands an event whose recipient had no device online to the
// Pusher, or logs it.
func (s *Server) offline(e events.Event) {
	if s.cfg.Pusher == nil { // nothing to encode the event for
		s.m.pushes.WithLabelValues("logged").Inc()
		s.log.Info("offline event (no -push-webhook)", "to", e.To, "kind", e.Kind, "call_id", e.CallID, "seq", e.Seq)
		return
	}
	if frame, ok := s.encode(e); ok {
		s.cfg.Pusher.Enqueue(e.To, e.CallID, frame)
	}
}

// CountPush counts an outcome of the Pusher in /metrics
// (callsigd_offline_pushes_total): give it to push.Options.Count.
func (s *Server) CountPush(outcome string) { s.m.pushes.WithLabelValues(outcome).Inc() }

// Shutdown stops taking connections, closes every open one with 1001
// (going away), logs their devices out (unless KeepPresence), gives up
// the logouts still waiting (a grace period, or a retry: those devices
// stay online in the Registry, as with KeepPresence), and waits
// until every event the Registry produced has been handed on (to
// connections, which are closing, and to the Pusher, which the caller
// closes next). If ctx ends first, the connections still open are
// dropped and Shutdown returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	open := make([]*conn, 0, len(s.open))
	for c := range s.open {
		open = append(open, c)
	}
	for key, o := range s.orphans { // they stay online in the Registry (see expire)
		o.timer.Stop()
		delete(s.orphans, key)
	}
	type holdDropped struct {
		user, device string
		n            int
	}
	var dropped []holdDropped
	for user, byDevice := range s.held {
		for device := range byDevice {
			if n := s.dropHeldLocked(user, device, "expired"); n > 0 { // no connection of theirs is taken any more
				dropped = append(dropped, holdDropped{user, device, n})
			}
		}
	}
	s.mu.Unlock()
	for _, d := range dropped {
		s.logDropped(d.user, d.device, d.n)
	}
	for _, c := range open {
		c.close(websocket.StatusGoingAway, "server shutting down", "shutdown")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.cancel() // drop what is left; the handlers still log out
		<-done
	}
	// Every logout has returned; what their events still need is the
	// Registry's deliverer, which hands them on without waiting.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.reg.Backlog() > 0 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			s.cancel()
			return fmt.Errorf("server: shutdown: %d events not delivered: %w", s.reg.Backlog(), ctx.Err())
		}
	}
	s.cancel()
	return ctx.Err()
}

// keyLocks are mutexes by user and device, made as needed and forgotten
// when nobody holds or waits for them.
type keyLocks struct {
	mu    sync.Mutex
	locks map[[2]string]*keyLock
}

type keyLock struct {
	held chan struct{} // holds a token while the lock is held
	refs int
}

// lock locks the mutex of user and device and returns its unlock.
func (k *keyLocks) lock(user, device string) (unlock func()) {
	unlock, _ = k.lockCtx(context.Background(), user, device)
	return unlock
}

// lockCtx is lock, giving up when ctx ends first: then ok is false, and
// nothing is held.
func (k *keyLocks) lockCtx(ctx context.Context, user, device string) (unlock func(), ok bool) {
	key := [2]string{user, device}
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[[2]string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{held: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	forget := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.held <- struct{}{}:
		return func() { <-l.held; forget() }, true
	case <-ctx.Done():
		forget()
		return nil, false
	}
}
