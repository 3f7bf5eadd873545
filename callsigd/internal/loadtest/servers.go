package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callsig/callsig/callsigd/internal/auth"
	"github.com/callsig/callsig/callsigd/internal/durable"
	"github.com/callsig/callsig/callsigd/internal/server"
	"github.com/coder/websocket"
	"golang.org/x/time/rate"
)

// target is a server the clients can connect to.
type target struct {
	name  string
	url   func(user string) (string, error) // the WebSocket URL of a client for user
	close func()
}

// startCallsigd starts a callsigd server in this process on a loopback
// port, in dev mode, with the per-connection request rate limit lifted
// when unlimited is set (the limit is a policy against hostile clients,
// not a cost: 20 requests a second would cap a pair at 20 lifecycles a
// second). With data "" it keeps everything in memory; else it is
// callsigd -data with that directory and -checkpoint-entries every: the
// same durable.Store as the daemon's, with its group commit, its
// checkpoints every second and KeepPresence.
func startCallsigd(unlimited bool, data string, every uint64) (*target, error) {
	a := auth.NewDev(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := server.Config{
		Auth:   a,
		Dev:    true,
		Logger: log,
	}
	if unlimited {
		cfg.Limits = server.Limits{Rate: rate.Inf, Burst: 1}
	}
	name := "callsigd"
	var st *durable.Store
	if data != "" {
		name = "callsigd -data"
		st = durable.New(data, every, log)
		cfg.NewRegistry = st.NewRegistry
		cfg.KeepPresence = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv, err := server.New(cfg)
	if err != nil {
		_ = ln.Close()
		if st != nil {
			_ = st.Close()
		}
		return nil, err
	}
	ckCtx, ckStop := context.WithCancel(context.Background())
	ckDone := make(chan struct{})
	go func() {
		defer close(ckDone)
		if st != nil {
			st.Checkpoints(ckCtx)
		}
	}()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	base := "ws://" + ln.Addr().String() + "/v1/ws?token="
	return &target{
		name: name,
		url: func(user string) (string, error) {
			tok, err := a.Mint(user, "load", time.Hour)
			return base + tok, err
		},
		close: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = hs.Shutdown(ctx)
			_ = srv.Shutdown(ctx)
			_ = hs.Close()
			ckStop()
			<-ckDone
			if st != nil {
				_ = st.Close()
			}
		},
	}, nil
}

// remoteCallsigd is a callsigd server at addr (host:port) in dev mode:
// tokens come from its /v1/dev/token.
func remoteCallsigd(addr string) *target {
	return &target{
		name: "callsigd",
		url: func(user string) (string, error) {
			body, _ := json.Marshal(map[string]string{"user": user, "device": "load"})
			resp, err := http.Post("http://"+addr+"/v1/dev/token", "application/json", bytes.NewReader(body))
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			var tok struct {
				Token string `json:"token"`
			}
			if resp.StatusCode != http.StatusOK {
				return "", fmt.Errorf("POST /v1/dev/token: %s (is the server in dev mode?)", resp.Status)
			}
			if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
				return "", err
			}
			return "ws://" + addr + "/v1/ws?token=" + url.QueryEscape(tok.Token), nil
		},
		close: func() {},
	}
}

// canned are the frames the echo server writes: callsigd's own, from a
// calibration lifecycle (see calibrate).
type canned struct {
	hello                []byte
	inviteToA, inviteToB [][]byte // after A's invite: its reply and InvitationCreated; InvitationReceived
	acceptToB, acceptToA [][]byte // after B's accept: its reply and UserStateChanged; InvitationAccepted
	rejectToB, rejectToA [][]byte // the same after a reject
}

// startEcho starts the bare relay on a loopback port. A client for user
// u<i> (see userName) is connection i; its peer is i^1. It writes the
// hello, then answers every frame with the canned frames, from the
// reading goroutine, without decoding anything.
func startEcho(fr *canned) (*target, error) {
	e := &echo{fr: fr, conns: map[int]*websocket.Conn{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	base := "ws://" + ln.Addr().String() + "/?user="
	return &target{
		name: "echo",
		url:  func(user string) (string, error) { return base + user, nil },
		close: func() {
			_ = hs.Close()
			e.mu.Lock()
			for _, c := range e.conns {
				_ = c.CloseNow()
			}
			e.mu.Unlock()
		},
	}, nil
}

type echo struct {
	fr    *canned
	mu    sync.RWMutex
	conns map[int]*websocket.Conn // by client index
}

var reject = []byte(`"reject"`)

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, err := userIndex(r.URL.Query().Get("user"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(server.MaxMessage)
	e.mu.Lock()
	e.conns[i] = ws
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.conns[i] == ws {
			delete(e.conns, i)
		}
		e.mu.Unlock()
		_ = ws.CloseNow()
	}()
	ctx := context.Background()
	if ws.Write(ctx, websocket.MessageText, e.fr.hello) != nil {
		return
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		e.mu.RLock()
		peer := e.conns[i^1]
		e.mu.RUnlock()
		toSelf, toPeer := e.fr.inviteToA, e.fr.inviteToB
		if i%2 == 1 {
			toSelf, toPeer = e.fr.acceptToB, e.fr.acceptToA
			if bytes.Contains(b, reject) {
				toSelf, toPeer = e.fr.rejectToB, e.fr.rejectToA
			}
		}
		for _, f := range toSelf {
			if ws.Write(ctx, websocket.MessageText, f) != nil {
				return
			}
		}
		if peer != nil {
			for _, f := range toPeer {
				_ = peer.Write(ctx, websocket.MessageText, f)
			}
		}
	}
}

// userName is the user of client i: fixed width, so that every
// lifecycle's frames have the calibration's sizes.
func userName(i int) string { return fmt.Sprintf("u%06d", i) }

func userIndex(user string) (int, error) {
	s, ok := strings.CutPrefix(user, "u")
	if !ok {
		return 0, errors.New("user must be u<index>")
	}
	return strconv.Atoi(s)
}
