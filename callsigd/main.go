package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/callsig/callsig/call"
	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/callsigd/internal/cluster"
	"github.com/callsig/callsig/callsigd/internal/durable"
	"github.com/callsig/callsig/callsigd/internal/push"
	"github.com/callsig/callsig/callsigd/internal/server"
	"github.com/callsig/callsig/callsigd/internal/web"
	"github.com/callsig/callsig/clock"
	"github.com/hashicorp/raft"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

// shutdownGrace bounds a clean stop: closing the connections, delivering
// the events their logouts make, and sending the pushes still queued.
const shutdownGrace = 10 * time.Second

// run is the whole command: it parses args, serves until SIGINT or
// SIGTERM, stops cleanly and returns the exit status (2: bad usage).
func run(args []string, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "callsigd: %v\n", err)
		return 2
	}
	ctx, stop := signalContext()
	defer stop()
	if err := serve(ctx, f, stderr); err != nil {
		fmt.Fprintf(stderr, "callsigd: %v\n", err)
		return 1
	}
	return 0
}

// signalContext returns a context the first SIGINT or SIGTERM cancels,
// which begins a clean stop. The signals' default action is restored at
// once, so that a second one ends the process there and then: an operator
// who presses Ctrl-C again during a stop that waits (on a webhook, on
// clients, up to shutdownGrace) means it.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// flags are the command line, parsed.
type flags struct {
	addr, data, secretFile, pushWebhook string
	heartbeat                           time.Duration
	busy, glare                         bool
	history, maxInvitees                int
	defaultTimeout, maxTimeout          time.Duration
	tlsCert, tlsKey                     string
	allowedOrigins                      []string
	insecureDev                         bool
	node, peers                         string
	checkpointEntries                   uint64

	// Cluster mode (-node, -peers), parsed.
	peerList []cluster.Peer
	self     cluster.Peer

	// Set by tests only: a listener to serve on instead of -addr's, a
	// raft transport instead of a TCP one on the node's raft address,
	// raft's configuration (its timeouts), how long a command waits for
	// a leader, and no handover at the stop (a leader that stops then
	// leaves as one that dies does: the others hold an election).
	listener   net.Listener
	transport  raft.Transport
	raft       *raft.Config
	wait       time.Duration
	noHandover bool
}

// clusterHeartbeat is -heartbeat's default in a cluster (see doc.go,
// Cluster): the time a device of a node that died has to reconnect to
// another before the cluster logs it out.
const clusterHeartbeat = 30 * time.Second

func (f *flags) clustered() bool { return f.node != "" }

func (f *flags) dev() bool { return f.secretFile == "" }

// parseFlags parses and checks args. Flags whose feature this build does
// not have yet are refused, not ignored: a server started with -data that
// silently kept nothing would lose calls its operator thought safe.
func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("callsigd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: callsigd [flags]\n\nThe reference signaling server of callsig (see its package documentation).\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address `HOST:PORT`")
	fs.StringVar(&f.data, "data", "", "keep the state durably in `DIR` (journal and snapshots); without it: in memory")
	fs.Uint64Var(&f.checkpointEntries, "checkpoint-entries", 10000, "with -data: snapshot and compact the journal once `N` entries were journaled since the last snapshot")
	fs.StringVar(&f.secretFile, "secret-file", "", "HS256 key for client tokens, at least 32 bytes, read from `FILE`; without it: dev mode")
	fs.StringVar(&f.pushWebhook, "push-webhook", "", "POST every offline event to `URL`; without it they are logged")
	fs.DurationVar(&f.heartbeat, "heartbeat", 0, "H5 heartbeat timeout; 0: off, the WebSocket's own close logs out")
	fs.BoolVar(&f.busy, "busy", false, "H2: reject invitations to users already in a call (BusyInCall)")
	fs.BoolVar(&f.glare, "glare", false, "H3: merge crossing invitations (GlareMerge)")
	fs.IntVar(&f.history, "history", 20, "H8: `N` ended calls kept per user")
	fs.IntVar(&f.maxInvitees, "max-invitees", 0, "invitees a call may hold; 0: call's default (9)")
	fs.DurationVar(&f.defaultTimeout, "default-timeout", 0, "timeout of an invite that gives none; 0: call's default (90s)")
	fs.DurationVar(&f.maxTimeout, "max-timeout", 0, "longest invite timeout; 0: call's default (600s)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS and WSS with the certificate in `FILE` (needs -tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "the private key of -tls-cert, in `FILE`")
	origins := fs.String("allowed-origins", "", "comma-separated `LIST` of other origins whose pages may open the WebSocket (host patterns, e.g. app.example.com or *.example.com); default: same origin only")
	fs.BoolVar(&f.insecureDev, "insecure-dev", false, "allow dev mode (tokens for anyone) on an address other than loopback")
	fs.StringVar(&f.node, "node", "", "this node's `ID` in a cluster (needs -peers and -data)")
	fs.StringVar(&f.peers, "peers", "", "the cluster's nodes, itself included: `ID=RAFT=HTTP,...`, each node's raft and HTTP addresses")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			f.allowedOrigins = append(f.allowedOrigins, o)
		}
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -help)", fs.Arg(0))
	case (f.node == "") != (f.peers == ""):
		return nil, errors.New("-node and -peers go together: -node names this node among -peers")
	case f.node != "" && f.data == "":
		return nil, errors.New("-node needs -data: a node keeps its raft log and snapshots there")
	case f.node != "" && set["heartbeat"] && f.heartbeat == 0:
		return nil, errors.New("-heartbeat 0 in a cluster: the devices of a node that dies would stay online, " +
			"and their unanswered calls ring, for good; give a timeout (default 30s)")
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return nil, errors.New("-tls-cert and -tls-key go together")
	case f.heartbeat < 0:
		return nil, fmt.Errorf("-heartbeat %v is negative", f.heartbeat)
	case f.checkpointEntries == 0:
		return nil, errors.New("-checkpoint-entries must be at least 1")
	case f.history < 0:
		return nil, fmt.Errorf("-history %d is negative", f.history)
	}
	if f.clustered() {
		if err := f.parseCluster(set["addr"]); err != nil {
			return nil, err
		}
	}
	switch {
	case f.dev() && !loopback(f.addr) && !f.insecureDev:
		return nil, fmt.Errorf("dev mode (no -secret-file) on %s, which is not a loopback address: "+
			"anyone who reaches it can mint tokens for any user; give -secret-file, or -insecure-dev if that is what you want", f.addr)
	}
	if f.pushWebhook != "" {
		u, err := url.Parse(f.pushWebhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("-push-webhook %q is not an http or https URL", f.pushWebhook)
		}
	}
	// The Registry's own limits (-max-invitees, -default-timeout,
	// -max-timeout) are checked here, by the Registry, so that a bad one
	// fails before the first line says the server serves.
	if _, err := call.NewRegistry(call.Options{MaxInvitees: f.maxInvitees, DefaultTimeout: f.defaultTimeout,
		MaxTimeout: f.maxTimeout, History: f.history, HeartbeatTimeout: f.heartbeat}); err != nil {
		return nil, err
	}
	return f, nil
}

// parseCluster checks and completes the flags of a cluster node: -peers
// parsed, -node among them, -addr this node's HTTP address unless given
// (addrSet), -heartbeat clusterHeartbeat unless given. In dev mode every
// node's raft address must be a loopback one too, unless -insecure-dev:
// raft's transport authenticates nobody.
func (f *flags) parseCluster(addrSet bool) error {
	peers, err := cluster.ParsePeers(f.peers)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(peers, func(p cluster.Peer) bool { return p.ID == f.node })
	if i < 0 {
		return fmt.Errorf("-node %q is not among -peers", f.node)
	}
	f.peerList, f.self = peers, peers[i]
	if !addrSet {
		f.addr = f.self.HTTP
	}
	if f.heartbeat == 0 {
		f.heartbeat = clusterHeartbeat
	}
	if f.dev() && !f.insecureDev {
		for _, p := range peers {
			if !loopback(p.Raft) {
				return fmt.Errorf("dev mode (no -secret-file) with the raft address %s of %s, which is not a loopback address: "+
					"raft's transport authenticates nobody, and dev mode's keys are public; give -secret-file, or -insecure-dev", p.Raft, p.ID)
			}
		}
	}
	return nil
}

// loopback reports whether addr's host is a loopback address. An empty
// host (":8080") listens on every interface, so it is not.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs the server until ctx ends, then stops it cleanly: no new
// connections, every open one closed with 1001 and its device logged out,
// the Registry's events all handed on, the pushes still queued sent
// (within shutdownGrace).
func serve(ctx context.Context, f *flags, stderr io.Writer) error {
	clk := clock.Real()
	var authority *auth.Authority
	var secret []byte // -secret-file's key; nil in dev mode
	switch {
	case f.dev() && f.clustered():
		// Every node must take every node's tokens: the key is made
		// from -peers, which they share (and which is no secret: dev mode).
		authority, _ = auth.New(cluster.DevKey("tokens", f.peerList), clk)
	case f.dev():
		authority = auth.NewDev(clk)
	default:
		key, err := os.ReadFile(f.secretFile)
		if err != nil {
			return fmt.Errorf("-secret-file: %w", err)
		}
		secret = []byte(strings.TrimRight(string(key), "\r\n"))
		if authority, err = auth.New(secret, clk); err != nil {
			return fmt.Errorf("-secret-file %s: %w", f.secretFile, err)
		}
	}
	var tlsConfig *tls.Config
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("-tls-cert, -tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	var counted atomic.Pointer[server.Server] // the server, once New has returned it
	var hook *push.Webhook
	cfg := server.Config{
		Options: call.Options{
			MaxInvitees:      f.maxInvitees,
			DefaultTimeout:   f.defaultTimeout,
			MaxTimeout:       f.maxTimeout,
			History:          f.history,
			HeartbeatTimeout: f.heartbeat,
		},
		Clock:          clk,
		Auth:           authority,
		Dev:            f.dev(),
		Logger:         logger,
		AllowedOrigins: f.allowedOrigins,
		Static:         web.FS(),
	}
	if f.busy {
		cfg.Options.Busy = call.BusyInCall
	}
	if f.glare {
		cfg.Options.Glare = call.GlareMerge
	}
	if f.pushWebhook != "" {
		// The Webhook counts its outcomes in the server's /metrics. A
		// recovered Registry may push while server.New runs, before the
		// Server is there to count: those outcomes go uncounted.
		hook = push.New(f.pushWebhook, push.Options{Logger: logger, Count: func(o string) {
			if s := counted.Load(); s != nil {
				s.CountPush(o)
			}
		}})
		cfg.Pusher = hook
	}
	if f.data != "" {
		// One server to a directory: a second one's writes would mix with
		// the first's (a node's would wait on raft's lock, saying nothing).
		release, err := durable.Lock(f.data)
		if err != nil {
			return err
		}
		defer release()
	}
	// The first line comes before the Registry is made: a recovered one
	// may log offline events at once (deadlines that passed meanwhile).
	ln := f.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", f.addr); err != nil {
			return err
		}
	}
	defer ln.Close() // Serve closes it too; this is for an error before
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	mode := "in memory"
	switch {
	case f.clustered():
		mode = fmt.Sprintf("cluster node %s of %d, raft in %s", f.node, len(f.peerList), filepath.Join(f.data, "raft"))
	case f.data != "":
		mode = "journal in " + f.data
	}
	if f.dev() {
		mode = "dev mode, " + mode
	}
	fmt.Fprintf(stderr, "callsigd: serving %s://%s (%s)\n", scheme, ln.Addr(), mode)
	var st *durable.Store
	var cl *cluster.Cluster
	if f.clustered() {
		var err error
		if cl, err = cluster.NewNode(cluster.Setup{
			ID: f.node, Peers: f.peerList, Data: f.data, Secret: secret, TLS: tlsConfig,
			CheckpointEntries: f.checkpointEntries, Raft: f.raft, Log: stderr,
			Transport: f.transport, Wait: f.wait, Logger: logger,
		}, counted.Load); err != nil {
			return err
		}
		// A node that stops leaves its devices online in the cluster,
		// as one that dies does: they have the heartbeat timeout to
		// reconnect to another node (doc.go, Cluster).
		cl.Configure(&cfg)
	} else if f.data != "" {
		st = durable.New(f.data, f.checkpointEntries, logger)
		cfg.NewRegistry = st.NewRegistry
		// The devices stay online in the journal at shutdown: the next
		// start gives them the grace period to reconnect (Config.Grace).
		cfg.KeepPresence = true
	}
	srv, err := server.New(cfg)
	if err != nil {
		if st != nil {
			_ = st.Close()
		}
		if cl != nil {
			_ = cl.Close()
		}
		return err
	}
	counted.Store(srv)
	ckCtx, ckStop := context.WithCancel(context.Background())
	ckDone := make(chan struct{})
	go func() {
		defer close(ckDone)
		if st != nil {
			st.Checkpoints(ckCtx)
		}
	}()
	// The journal is closed last, once the connections are closed and
	// their events handed on.
	defer func() {
		ckStop()
		<-ckDone
		if st != nil {
			if err := st.Close(); err != nil {
				logger.Error("closing the journal", "err", err)
			}
		}
		if cl != nil {
			if err := cl.Close(); err != nil {
				logger.Error("closing the raft node", "err", err)
			}
		}
	}()

	if st != nil {
		st.LogRecovered()
	}
	if hook == nil {
		logger.Info("no -push-webhook: offline events are logged")
	}

	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- hs.ServeTLS(ln, "", "")
		} else {
			served <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down (a second SIGINT or SIGTERM stops at once)")
	if cl != nil && !f.noHandover {
		// A leader hands over first: the others take commands again
		// without waiting for an election, and forward them to the new
		// leader while this one stops.
		if err := cl.Handover(); err != nil {
			logger.Warn("leadership not handed over", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if cl != nil {
		// Once the grace period is over, commands still waiting on the
		// leader give up (unavailable or uncertain), so that their
		// connections do not hold the shutdown up.
		defer context.AfterFunc(sctx, cl.Interrupt)()
	}
	_ = hs.Shutdown(sctx) // stops listening; the WebSockets, hijacked, are the Server's to close
	err = srv.Shutdown(sctx)
	if cl != nil {
		// Raft stops before the push hook: while it runs, the node may
		// lead again and propose the passing of time, whose offline
		// events only the proposer pushes.
		if cerr := cl.Close(); cerr != nil {
			logger.Error("closing the raft node", "err", cerr)
		}
		cl = nil // closed: the deferred close has nothing left to do
	}
	if hook != nil {
		hook.Close(sctx)
	}
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
